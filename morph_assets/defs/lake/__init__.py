"""Lake stage: the DuckDB views over the Parquet tables."""

import dagster as dg

from morph_assets.defs.lake.assets import lake_views
from morph_assets.defs.lake.sensors import lake_views_job, refresh_views_after_ingest

defs = dg.Definitions(assets=[lake_views], jobs=[lake_views_job], sensors=[refresh_views_after_ingest])
