"""Values handed from one pipeline step to the next, kept in our own database.

A step may run on any host that reaches the database (a Celery worker, a k8s pod), so a
value never sits on one host's disk. A data frame is stored as Parquet, readable by any tool;
anything else (a scaler, a trained model, the synthetic set) is pickled, as Dagster's own
file-system IO manager would. One row per asset key and partition: the newest value wins.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.schema import asset_values

PARQUET = "parquet"
PICKLE = "pickle"
UNPARTITIONED = ""
"""The partition key stored for an asset without partitions (part of the primary key)."""


@dataclass(frozen=True)
class EncodedValue:
    """A value as stored: its format and bytes."""

    value_format: str
    payload: bytes


def encode_value(value: Any) -> EncodedValue:
    """Parquet for a data frame, a pickle for anything else."""
    if isinstance(value, pd.DataFrame):
        buffer = io.BytesIO()
        value.to_parquet(buffer, engine="pyarrow", index=True)
        return EncodedValue(PARQUET, buffer.getvalue())
    return EncodedValue(PICKLE, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def decode_value(encoded: EncodedValue) -> Any:
    """The value :func:`encode_value` stored."""
    if encoded.value_format == PARQUET:
        return pd.read_parquet(io.BytesIO(encoded.payload), engine="pyarrow")
    if encoded.value_format == PICKLE:
        return pickle.loads(encoded.payload)
    raise PipelineError(
        f"stored value in format {encoded.value_format!r} is not one this version reads; "
        "materialize the asset again."
    )


def store_asset_value(
    engine: Engine, asset_key: str, partition_key: str, value: Any, run_id: str | None
) -> int:
    """Store ``value`` as the newest value of the asset (partition); returns its size in bytes.

    Parameters
    ----------
    engine
        Our own database.
    asset_key
        The asset key, as a ``/``-joined path.
    partition_key
        The partition, or :data:`UNPARTITIONED`.
    value
        Anything :func:`encode_value` takes.
    run_id
        The run that produced it, kept for tracing.
    """
    encoded = encode_value(value)
    row = {
        "asset_key": asset_key,
        "partition_key": partition_key,
        "value_format": encoded.value_format,
        "payload": encoded.payload,
        "size_bytes": len(encoded.payload),
        "run_id": run_id,
        "stored_at": datetime.now(UTC),
    }
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(asset_values).values(row)
    replaced = {name: insert.excluded[name] for name in row if name not in _KEY}
    with engine.begin() as connection:
        connection.execute(insert.on_conflict_do_update(index_elements=_KEY, set_=replaced))
    return len(encoded.payload)


_KEY = ["asset_key", "partition_key"]


def load_asset_value(engine: Engine, asset_key: str, partition_key: str) -> Any:
    """The newest stored value of the asset (partition).

    Raises
    ------
    PipelineError
        When none is stored; the message names the asset and says to materialize it.
    """
    query = select(asset_values.c.value_format, asset_values.c.payload).where(
        (asset_values.c.asset_key == asset_key) & (asset_values.c.partition_key == partition_key)
    )
    with engine.connect() as connection:
        row = connection.execute(query).one_or_none()
    if row is None:
        where = f" (partition {partition_key})" if partition_key else ""
        raise PipelineError(
            f"no stored value of asset {asset_key}{where} in the readings database; "
            "materialize it first (pm-pipeline train, or Materialize in the UI)."
        )
    return decode_value(EncodedValue(row.value_format, bytes(row.payload)))
