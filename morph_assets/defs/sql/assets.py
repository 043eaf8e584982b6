"""The SQL face of the lake: one Dagster asset per ``dbt_style_sql/`` model, built as a DuckDB view.

Each model's asset sits downstream of the Parquet assets whose tables it reads (``lake()``) and
of the models it refers to (``ref()``), so the asset graph shows where every view's rows come
from, and a subset of models can be rebuilt from the UI.
"""

import dagster as dg
import duckdb

from morph_assets.defs.automation import PLATE_DONE, STUDY
from morph_assets.defs.jobs import SQL_GROUP
from morph_assets.lib.io import ALL_ERRORS, build_order, build_views, load_models
from morph_assets.lib.report import frame_to_markdown
from morph_assets.lib.schema import TableLevel, asset_of_table, assets_at
from morph_assets.paths import sql_models_dir
from morph_assets.resources import LakeResource

#: The per-well assets, in the order a well goes through them (derived from the schema's
#: per-well tables); each writes the lake table of its name and records its failed wells in
#: ``errors/<its name>``, which the lake table ``errors`` (every ``errors/<table>`` together) reads.
PER_WELL_ASSETS = assets_at(TableLevel.WELL)
#: Every asset that writes a plate's tables, per well or per plate (the plate's profiles
#: included): a view over any of them follows the plate's whole run.
PLATE_ASSETS = (*assets_at(TableLevel.PLATE), *PER_WELL_ASSETS)


def assets_of_table(table: str) -> list[str]:
    """The assets that write lake ``table``: one, or every per-well asset for ``errors``."""
    return list(PER_WELL_ASSETS) if table == ALL_ERRORS else [asset_of_table(table)]


def sql_asset_key(model: str) -> dg.AssetKey:
    """Views live under the ``sql`` prefix: several share a name with the Parquet asset they read."""
    return dg.AssetKey(["sql", model])


def _specs() -> list[dg.AssetSpec]:
    models = load_models(sql_models_dir())
    specs = []
    for name in build_order(models):
        model = models[name]
        tables = {asset for table in model.lake_tables for asset in assets_of_table(table)}
        # A view over per-well or plate-level tables also follows a plate's profiles, so it is
        # rebuilt once a plate's whole run has landed, with the rest of the study (the study's
        # automation ignores updates upstream of the profiles).
        # (PLATE_DONE, the plate's profiles, is one of PLATE_ASSETS: adding it again changes nothing.)
        if tables & set(PLATE_ASSETS):
            tables.add(PLATE_DONE)
        deps = sorted(tables) + [sql_asset_key(ref) for ref in model.refs]
        description = model.sql.splitlines()[0].removeprefix("--").strip() if model.sql.startswith("--") else None
        specs.append(dg.AssetSpec(sql_asset_key(name), deps=deps, description=description, group_name=SQL_GROUP,
                                  kinds={"duckdb", "sql"}, skippable=True, automation_condition=STUDY,
                                  metadata={"model_file": str(model.path.relative_to(sql_models_dir().parent))}))
    return specs


@dg.multi_asset(specs=_specs(), can_subset=True, name="sql_models")
def sql_models(context: dg.AssetExecutionContext, lake: LakeResource):  # noqa: ANN201 (yields results)
    """Create or replace the selected models' views in ``data_lake/lake.duckdb``, in dependency order.

    Views read the per-plate Parquet files through globs, so plates added later appear in queries
    without rebuilding. A model whose tables have no data yet is skipped with the reason.
    """
    store = lake.lake()
    selected = [key.path[-1] for key in context.selected_asset_keys]
    report = build_views(store, sql_models_dir(), only=selected)
    for name, reason in report.skipped.items():
        context.log.info(f"model {name} skipped: {reason}")
    for name, error in report.failed.items():
        context.log.error(f"model {name} failed: {error}")
    with duckdb.connect(str(store.duckdb_path), read_only=True) as connection:
        for name in report.built:
            rows = connection.sql(f'select count(*) from "{name}"').fetchall()[0][0]
            columns = connection.sql(f'select * from "{name}" limit 5').pl()
            yield dg.MaterializeResult(asset_key=sql_asset_key(name), metadata={
                "dagster/row_count": rows,
                "n_columns": columns.width,
                "preview": dg.MetadataValue.md(frame_to_markdown(columns.select(columns.columns[:10])) if rows else "empty"),
                "database": dg.MetadataValue.path(str(store.duckdb_path)),
            })
    if report.failed:
        raise dg.Failure(description="SQL model(s) failed: " + "; ".join(report.failed.values()))

