"""Lake stage: the DuckDB views over the Parquet tables, one asset per SQL model."""

import dagster as dg

from morph_assets.defs.jobs import lake_views_job, plate_job, plate_wells_job, segmentation_model_job
from morph_assets.defs.lake.assets import sql_models
from morph_assets.defs.lake.sensors import refresh_views_after_ingest

defs = dg.Definitions(
    assets=[sql_models],
    jobs=[plate_job, plate_wells_job, segmentation_model_job, lake_views_job],
    sensors=[refresh_views_after_ingest],
)
