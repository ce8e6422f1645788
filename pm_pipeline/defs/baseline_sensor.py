"""baseline_retraining_sensor: a robot with a new baseline is retrained once it has enough
readings of it, not at the next night's retraining."""

import dagster as dg

from pm_pipeline.defs.jobs import TRAINING_JOB
from pm_pipeline.defs.partitions import ROBOTS
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.defs.schedules import training_run_config
from pm_pipeline.services.retraining import baselines_due


@dg.sensor(
    job_name=TRAINING_JOB,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retrains a robot whose behaviour changed for good (an event labelled "
    "new-normal, a maintenance record) on readings from the change on, as soon as enough of "
    "them are stored; one run per new baseline.",
)
def baseline_retraining_sensor(
    context: dg.SensorEvaluationContext,
    readings_db: ReadingsDatabaseResource,
    settings: SettingsResource,
) -> dg.SensorResult:
    robots = context.instance.get_dynamic_partitions(ROBOTS)
    found = baselines_due(readings_db.engine(), readings_db.table(), robots)
    requests = []
    for due in found.due:
        requests.append(
            dg.RunRequest(
                # One run per baseline: a refused candidate waits for the nightly run.
                run_key=f"baseline:{due.robot_id}:{due.baseline.start.isoformat()}:"
                f"{due.baseline.set_at.isoformat()}",
                partition_key=due.robot_id,
                run_config=training_run_config(settings.loaded),
                tags={"pm/trigger": "baseline_retraining_sensor", "pm/robot": due.robot_id},
            )
        )
        context.log.info(due.about)
    skip = "; ".join(found.waiting) or "no robot awaits retraining on a new baseline"
    return dg.SensorResult(run_requests=requests, skip_reason=None if requests else skip)
