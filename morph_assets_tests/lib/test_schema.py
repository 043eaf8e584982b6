"""Tests for ``morph_assets.lib.schema``: every lake table has one writer, derived, not hand-kept."""

import pytest

from morph_assets.lib import schema


@pytest.mark.parametrize("table", sorted(schema.TABLE_OWNERS))
def test_every_declared_table_has_its_asset(table):
    assert schema.asset_of_table(table) == schema.TABLE_OWNERS[table]
    assert schema.asset_of_table(f"errors/{table}") == schema.TABLE_OWNERS[table]


def test_profile_tables_belong_to_the_profile_assets():
    assert schema.asset_of_table(schema.profile_table("well", "cellprofiler")) == "well_profiles"
    assert schema.asset_of_table(schema.selected_table("regionprops")) == "treatment_profiles"
    assert schema.asset_of_table(schema.treatment_table("vae")) == "treatment_profiles"
    assert schema.profile_table("image", "regionprops") == "profiles_image_regionprops"


def test_a_table_nobody_writes_is_an_error():
    with pytest.raises(ValueError, match="no asset writes lake table 'nope'"):
        schema.asset_of_table("nope")


def test_every_sql_model_reads_only_declared_tables():
    from morph_assets.lib.io import ALL_ERRORS, load_models
    from morph_assets.paths import sql_models_dir

    for model in load_models(sql_models_dir()).values():
        for table in model.lake_tables:
            if table != ALL_ERRORS:
                schema.asset_of_table(table)  # raises for an undeclared table
