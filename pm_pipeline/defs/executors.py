"""Where a run's steps execute: on the host that runs it, or on dagster-celery workers."""

import dagster as dg
from dagster_celery import celery_executor

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.detection import DEFERRED_NUMERICS

BROKER_VARIABLE = "PM_CELERY_BROKER_URL"
BACKEND_VARIABLE = "PM_CELERY_BACKEND_URL"


FORKSERVER_PRELOAD = ["pm_pipeline.definitions", *DEFERRED_NUMERICS]

STEP_PROCESS_EXECUTOR = dg.multiprocess_executor.configured(
    lambda config: {
        "start_method": {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}},
        **config,
    },
    name="multiprocess",
    config_schema=dg.multiprocess_executor.config_schema.as_field(),
)
"""Each step in its own process, forked from a server that has imported the code location
and the detectors' numerics once per run: a spawned step imports the code location anew
(about 1.5 s of CPU per step, six steps in a retraining), and the steps that fit and verify
would each import SciPy and scikit-learn (about 1 s). A run's config may still set any of
the executor's fields, ``start_method`` and ``max_concurrent`` included."""


def pipeline_executor(settings: Settings) -> dg.ExecutorDefinition:
    """``multiprocess`` by default; ``celery`` with ``PM_EXECUTOR=celery``.

    A broker URL that was set is passed by the variable's name, never by value, so a password
    in it stays out of the job's definition, the UI and the run's config; each process (run
    worker, Celery worker) reads it from its own environment.
    """
    if settings.executor != "celery":
        return STEP_PROCESS_EXECUTOR
    return celery_executor.configured(
        {
            "broker": _by_name(settings, "celery_broker_url", BROKER_VARIABLE),
            "backend": _by_name(settings, "celery_backend_url", BACKEND_VARIABLE),
            "config_source": {"task_default_queue": settings.celery_queue},
        },
        name="celery",
    )


def run_process_executor(settings: Settings) -> dg.ExecutorDefinition:
    """Where the steps of every run but a retraining execute (scoring, the views' automatic
    refresh, a materialization started in the UI): in the run's own process by default, on
    the Celery workers with ``PM_EXECUTOR=celery``.

    A step process would double the start-up (a process importing the code location, about
    1.5 s of CPU) that a dropped file's events wait for, and the views refresh as a fleet's
    files are scored: on a host of few cores those start-ups, not the scoring, set the pace
    (see "Throughput" in docs/fleet.md).
    """
    if settings.executor != "celery":
        return dg.in_process_executor
    return pipeline_executor(settings)


def _by_name(settings: Settings, field: str, variable: str) -> str | dict[str, str]:
    if field in settings.model_fields_set:
        return {"env": variable}
    return getattr(settings, field)
