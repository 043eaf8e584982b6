"""Chain the profiles after the wells: a plate's profiles once its wells run succeeds, then the
study-level assets (which read every plate) once a plate's profiles are in."""

import dagster as dg

from morph_assets.defs.jobs import plate_profiles_job, plate_wells_job, study_job
from morph_assets.defs.partitions import RANGE_START_TAG


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[plate_wells_job],
    request_job=plate_profiles_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a plate's wells run succeeds, build that plate's profiles.",
)
def profiles_after_wells(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    """One profiles run per successful wells run, for the plate the wells run covered."""
    start = context.dagster_run.tags.get(RANGE_START_TAG)
    if start is None or "|" not in start:
        return dg.SkipReason(f"run {context.dagster_run.run_id} covers no single plate's wells")
    plate = start.split("|")[0]
    end = context.dagster_run.tags.get("dagster/asset_partition_range_end", "")
    if not end.startswith(f"{plate}|"):
        return dg.SkipReason(f"run {context.dagster_run.run_id} spans several plates")
    return dg.RunRequest(run_key=f"{plate}:profiles-after:{context.dagster_run.run_id}", partition_key=plate)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[plate_profiles_job],
    request_job=study_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a plate's profiles are built, refresh everything computed over all plates.",
)
def study_after_profiles(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    """One study run per successful profiles run (each new plate updates the study)."""
    return dg.RunRequest(run_key=f"study-after:{context.dagster_run.run_id}")
