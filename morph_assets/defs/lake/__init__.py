"""Lake stage: the DuckDB views over the Parquet tables (one asset per SQL model), the jobs users launch, and
the automation sensor that keeps everything up to date."""

import dagster as dg

from morph_assets.defs.automation import automation_sensor
from morph_assets.defs.jobs import plate_job, plate_wells_job, segmentation_model_job
from morph_assets.defs.lake.assets import sql_models

defs = dg.Definitions(
    assets=[sql_models],
    jobs=[plate_job, plate_wells_job, segmentation_model_job],
    sensors=[automation_sensor],
)
