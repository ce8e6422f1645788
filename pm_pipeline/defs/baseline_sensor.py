"""baseline_retraining_sensor: a robot with a new baseline is retrained once it has enough
readings of it, not at the next night's retraining."""

import dagster as dg

from pm_pipeline.config.settings import load_settings
from pm_pipeline.defs.jobs import TRAINING_JOB
from pm_pipeline.defs.partitions import ROBOTS
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline.defs.schedules import training_run_config
from pm_pipeline.services.feedback import baseline_state


@dg.sensor(
    job_name=TRAINING_JOB,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retrains a robot whose behaviour changed for good (an event labelled "
    "new-normal, a maintenance record) on readings from the change on, as soon as enough of "
    "them are stored; one run per new baseline.",
)
def baseline_retraining_sensor(
    context: dg.SensorEvaluationContext, readings_db: ReadingsDatabaseResource
) -> dg.SensorResult:
    settings = load_settings()
    engine, table = readings_db.engine(), readings_db.table()
    requests, waiting = [], []
    for robot in context.instance.get_dynamic_partitions(ROBOTS):
        state = baseline_state(engine, table, robot)
        if state.retraining_due and state.baseline is not None:
            baseline = state.baseline
            requests.append(
                dg.RunRequest(
                    # One run per baseline: a refused candidate waits for the nightly run.
                    run_key=f"baseline:{robot}:{baseline.start.isoformat()}:"
                    f"{baseline.set_at.isoformat()}",
                    partition_key=robot,
                    run_config=training_run_config(settings),
                    tags={"pm/trigger": "baseline_retraining_sensor", "pm/robot": robot},
                )
            )
            context.log.info(f"{robot}: {state.describe()}")
        elif state.awaiting:
            waiting.append(f"{robot}: {state.describe()}")
    skip = "; ".join(waiting) or "no robot awaits retraining on a new baseline"
    return dg.SensorResult(run_requests=requests, skip_reason=None if requests else skip)
