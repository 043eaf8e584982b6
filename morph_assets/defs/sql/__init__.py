"""SQL stage: the DuckDB views over the Parquet tables, one asset per ``dbt_style_sql/`` model."""

import dagster as dg

from morph_assets.defs.sql.assets import sql_models

defs = dg.Definitions(assets=[sql_models])
