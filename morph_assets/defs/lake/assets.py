"""The SQL face of the lake: DuckDB views built from the ``dbt_style_sql/`` models."""


import dagster as dg
import duckdb
import polars as pl

from morph_assets.lib.markdown import frame_to_markdown
from morph_assets.lib.sql_models import build_views
from morph_assets.paths import sql_models_dir
from morph_assets.resources import LakeResource


@dg.asset(
    deps=["plate_layout", "raw_images", "illumination_correction", "masks", "regionprops_features", "cellprofiler_mean"],
    group_name="lake",
    kinds={"duckdb", "sql"},
)
def lake_views(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """DuckDB views over the compacted Parquet tables, one per ``dbt_style_sql/`` model.

    The views read the per-plate files through globs, so plates added later appear in queries
    without rebuilding; rebuild after adding a model or when a new table gets its first plate.
    Query with ``morph-assets sql "select ..."`` or ``duckdb -readonly data_lake/lake.duckdb``.
    """
    store = lake.lake()
    report = build_views(store, sql_models_dir())
    with duckdb.connect(str(store.duckdb_path), read_only=True) as connection:
        counts = pl.DataFrame(
            [{"view": name, "rows": connection.sql(f'select count(*) from "{name}"').fetchall()[0][0]} for name in report.built],
            schema={"view": pl.String, "rows": pl.Int64},
        )
    for name, reason in report.skipped.items():
        context.log.info(f"model {name} skipped: {reason}")
    skipped = pl.DataFrame([{"model": name, "reason": reason} for name, reason in report.skipped.items()],
                           schema={"model": pl.String, "reason": pl.String})
    return dg.MaterializeResult(
        metadata={
            "n_views": len(report.built),
            "views": dg.MetadataValue.md(frame_to_markdown(counts, max_rows=100)),
            "skipped": dg.MetadataValue.md(frame_to_markdown(skipped) if not skipped.is_empty() else "none"),
            "database": dg.MetadataValue.path(str(store.duckdb_path)),
        }
    )
