"""The schema's table declarations against the Definitions: every writer of the lake is declared.

``lib.schema`` declares each lake table's writer and level; the SQL assets' dependencies and the
per-well order are derived from it. These tests fail when an asset that writes the lake is added
or renamed without its table being declared, or when the jobs and the declared levels disagree.
"""

import dagster as dg

from morph_assets.definitions import defs
from morph_assets.defs.automation import PLATE_DONE
from morph_assets.defs.sql.assets import PER_WELL_ASSETS, PLATE_ASSETS
from morph_assets.lib import schema

#: Assets of kind ``parquet`` that read the lake but write no table of their own.
READ_ONLY_PARQUET_ASSETS = {"image_tensor_index", "single_cell_crop_index"}


def _asset_names() -> dict[str, dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): key for key in graph.get_all_asset_keys()}


def test_every_declared_owner_is_an_asset():
    names = _asset_names()
    owners = {*schema.TABLE_OWNERS.values(), *(o for o in schema.TABLE_PREFIX_OWNERS.values() if o)}
    assert owners - names.keys() == set()


def test_every_asset_writing_parquet_owns_a_declared_table():
    graph = defs.resolve_asset_graph()
    owners = {*schema.TABLE_OWNERS.values(), *(o for o in schema.TABLE_PREFIX_OWNERS.values() if o)}
    writers = {name for name, key in _asset_names().items()
               if "parquet" in graph.get(key).kinds and name not in READ_ONLY_PARQUET_ASSETS}
    assert writers - owners == set(), "declare these assets' tables in morph_assets.lib.schema.TABLES"


def test_the_plate_jobs_hold_the_assets_of_the_declared_levels():
    repository = defs.get_repository_def()

    def assets_of(job_name: str) -> set[str]:
        return {key.to_user_string() for key in repository.get_job(job_name).asset_layer.executable_asset_keys}

    assert assets_of("plate_wells_job") == set(PER_WELL_ASSETS)
    # A plate's tables are written by the plate job, the wells job, and the plate's profiles.
    assert assets_of("plate_job") == set(schema.assets_at("plate")) - {PLATE_DONE}
    assert set(PLATE_ASSETS) == assets_of("plate_job") | assets_of("plate_wells_job") | {PLATE_DONE}
