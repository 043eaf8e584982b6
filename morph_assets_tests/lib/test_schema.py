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


def test_every_table_and_family_has_a_level_and_the_owners_follow_the_declarations():
    assert schema.TABLE_OWNERS == {name: table.owner for name, table in schema.TABLES.items()}
    assert all(isinstance(table.level, schema.TableLevel)
               for table in [*schema.TABLES.values(), *schema.TABLE_FAMILIES.values()])
    assert schema.TABLE_PREFIX_OWNERS[schema.ERRORS_PREFIX] is None


def test_assets_at_each_level_in_pipeline_order_once_each():
    assert schema.assets_at(schema.TableLevel.WELL) == (
        "raw_images", "masks", "regionprops_features", "cellprofiler_mean", "image_tensors", "single_cell_crops")
    assert schema.assets_at("plate") == ("plate_layout", "illumination_correction", "well_profiles")
    study = schema.assets_at("study")
    assert len(study) == len(set(study)) and "treatment_profiles" in study and "map_report" in study
    with pytest.raises(ValueError):
        schema.assets_at("site")


def test_column_names_are_cellprofiler_metadata_columns():
    metadata = [schema.PLATE, schema.WELL, schema.SITE, schema.BROAD_SAMPLE, schema.PERT_INAME, schema.TARGET_LIST,
                schema.PERT_TYPE, schema.CONTROL_TYPE, schema.TREATMENT, schema.NORMALIZATION, schema.CELL_COUNT]
    assert all(name.startswith(schema.METADATA_PREFIX) for name in metadata)
    assert all(label.startswith(schema.POSITIVE_CONTROL_PREFIX) for label in schema.POSITIVE_CONTROLS)
