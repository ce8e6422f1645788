"""The model registry: every trained model version, its window, metrics and JSON content."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, select, update

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.trained import TrainedModel, model_from_dict
from pm_pipeline.db.schema import model_activations, model_registry
from pm_pipeline.db.timestamps import from_db_times, to_db_time


@dataclass(frozen=True)
class RegistryEntry:
    """One registry row, without the model content."""

    model_version: str
    created_at: pd.Timestamp
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    row_count: int
    metrics: dict
    run_id: str | None
    is_active: bool
    checks: dict | None


def register_model(
    engine: Engine, model: TrainedModel, robot_id: str, run_id: str | None, metrics: dict
) -> bool:
    """Store a model version, inactive until :func:`activate_model`; a known version is kept.

    Parameters
    ----------
    engine
        Database holding the registry.
    model
        The trained model; its ``version`` and ``robot_id`` are the key.
    robot_id
        Robot the model belongs to.
    run_id
        The Dagster run that trained it.
    metrics
        JSON-safe figures shown with the version (per-axis R², σ, …).

    Returns
    -------
    bool
        True when the version was new.
    """
    with engine.begin() as connection:
        known = connection.execute(
            select(model_registry.c.model_version).where(
                (model_registry.c.model_version == model.version)
                & (model_registry.c.robot_id == robot_id)
            )
        ).first()
        if known is None:
            connection.execute(
                model_registry.insert().values(
                    model_version=model.version,
                    robot_id=robot_id,
                    created_at=to_db_time(engine, pd.Timestamp(datetime.now(UTC))),
                    window_start=to_db_time(engine, model.window_start),
                    window_end=to_db_time(engine, model.window_end),
                    row_count=model.row_count,
                    metrics_json=json.dumps(metrics, sort_keys=True),
                    model_json=json.dumps(model.to_dict(), sort_keys=True),
                    run_id=run_id,
                    is_active=False,
                )
            )
    return known is None


def record_checks(engine: Engine, version: str, checks: dict) -> None:
    """Store a version's promotion check results next to it."""
    with engine.begin() as connection:
        connection.execute(
            update(model_registry)
            .where(model_registry.c.model_version == version)
            .values(checks_json=json.dumps(checks, sort_keys=True))
        )


def activate_model(
    engine: Engine, version: str, robot_id: str, reason: str, run_id: str | None = None
) -> None:
    """Make ``version`` the robot's one active model and log when and why, in one transaction.

    Raises
    ------
    PipelineError
        When the version is unknown or belongs to another robot.
    """
    with engine.begin() as connection:
        owned = connection.execute(
            select(model_registry.c.robot_id).where(
                (model_registry.c.model_version == version)
                & (model_registry.c.robot_id == robot_id)
            )
        ).first()
        if owned is None:
            raise PipelineError(
                f"model version {version!r} is not a version of robot {robot_id!r}; "
                "list them with `pm-pipeline models`."
            )
        connection.execute(
            update(model_registry)
            .where(model_registry.c.robot_id == robot_id)
            .values(is_active=model_registry.c.model_version == version)
        )
        connection.execute(
            model_activations.insert().values(
                robot_id=robot_id,
                model_version=version,
                activated_at=to_db_time(engine, pd.Timestamp(datetime.now(UTC))),
                reason=reason[:512],
                run_id=run_id,
            )
        )


def active_model_version_at(engine: Engine, robot_id: str, moment: pd.Timestamp) -> str | None:
    """The version that was active at ``moment`` according to the activation log, or None."""
    query = (
        select(model_activations.c.model_version)
        .where(
            (model_activations.c.robot_id == robot_id)
            & (model_activations.c.activated_at <= to_db_time(engine, moment))
        )
        .order_by(model_activations.c.activated_at.desc(), model_activations.c.activation_id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def activation_log(engine: Engine, robot_id: str) -> pd.DataFrame:
    """Every activation of the robot's models, oldest first."""
    query = (
        select(model_activations)
        .where(model_activations.c.robot_id == robot_id)
        .order_by(model_activations.c.activated_at, model_activations.c.activation_id)
    )
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    frame["activated_at"] = from_db_times(frame["activated_at"])
    return frame


def active_model_version(engine: Engine, robot_id: str) -> str:
    """The robot's active version: the newest one whose synthetic check passed."""
    # One row, not every version the robot ever had: each run of landed files asks this for
    # every robot it scores, and a robot retrained nightly has hundreds.
    query = (
        select(model_registry.c.model_version)
        .where((model_registry.c.robot_id == robot_id) & model_registry.c.is_active)
        .order_by(model_registry.c.created_at.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        active = connection.execute(query).scalar()
    if active is not None:
        return active
    newest = newest_model_version(engine, robot_id)
    raise PipelineError(
        f"no active model for robot {robot_id!r}: the newest version {newest} did not pass its "
        "synthetic recall check; retrain, or score with an explicit model version."
    )


def registry_entry(engine: Engine, version: str) -> RegistryEntry:
    """One version's registry row; PipelineError when no such version exists."""
    with engine.connect() as connection:
        robot = connection.execute(
            select(model_registry.c.robot_id).where(model_registry.c.model_version == version)
        ).scalar()
    entries = [e for e in list_models(engine, robot) if e.model_version == version] if robot else []
    if not entries:
        raise PipelineError(
            f"unknown model version {version!r}; list them with `pm-pipeline models`."
        )
    return entries[0]


def load_model(engine: Engine, version: str) -> TrainedModel:
    """The model stored under ``version``; PipelineError when no such version exists."""
    with engine.connect() as connection:
        content = connection.execute(
            select(model_registry.c.model_json).where(model_registry.c.model_version == version)
        ).scalar()
    if content is None:
        raise PipelineError(
            f"unknown model version {version!r}; train one with `pm-pipeline train` or pick one "
            "from the pm_model_registry table."
        )
    return model_from_dict(json.loads(content))


def newest_model_version(engine: Engine, robot_id: str) -> str:
    """The most recently registered version for the robot; PipelineError if there is none."""
    entries = list_models(engine, robot_id)
    if not entries:
        raise PipelineError(
            f"no trained model for robot {robot_id!r}; run `pm-pipeline train` first."
        )
    return entries[0].model_version


def list_models(engine: Engine, robot_id: str) -> list[RegistryEntry]:
    """Registry rows for the robot, newest first."""
    columns = [c for c in model_registry.columns if c.name != "model_json"]
    query = (
        select(*columns)
        .where(model_registry.c.robot_id == robot_id)
        .order_by(model_registry.c.created_at.desc())
    )
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        RegistryEntry(
            model_version=row["model_version"],
            created_at=_utc(row["created_at"]),
            window_start=_utc(row["window_start"]),
            window_end=_utc(row["window_end"]),
            row_count=int(row["row_count"]),
            metrics=json.loads(row["metrics_json"]),
            run_id=row["run_id"],
            is_active=bool(row["is_active"]),
            checks=json.loads(row["checks_json"]) if row["checks_json"] else None,
        )
        for row in rows
    ]


def _utc(value: object) -> pd.Timestamp:
    return pd.Timestamp(from_db_times(pd.Series([value])).iloc[0])
