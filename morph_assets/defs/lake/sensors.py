"""Rebuild the SQL views after every successful ingest run, so new tables become queryable."""


import dagster as dg

from morph_assets.defs.jobs import lake_views_job, plate_job, plate_profiles_job, plate_wells_job, study_job


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[plate_job, plate_wells_job, plate_profiles_job, study_job],
    request_job=lake_views_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After any pipeline run succeeds, rebuild the lake's DuckDB views (new tables become queryable).",
)
def refresh_views_after_ingest(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    """One view rebuild per successful ingest run."""
    return dg.RunRequest(run_key=f"views-after-{context.dagster_run.run_id}")
