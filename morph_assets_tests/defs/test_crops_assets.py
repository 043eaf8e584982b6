"""The single-cell crops assets, run in-process on a small generated plate as the wells runs run them."""

from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
from morph_assets_tests.defs.helpers import definitions_for, materialize_selection

from morph_assets.defs.partitions import plate_range_tags
from morph_assets.lib.features import CHANNEL_ORDER, crop_size_from_diameters
from morph_assets.lib.io import Lake
from morph_assets.lib.tasks import CROPS_INDEX_SCHEMA, load_crops

PLATE = "SYNJT0001"
WELLS = ("A01", "A02", "A03")
KEYS = ["Metadata_Plate", "Metadata_Well", "Metadata_Site", "ObjectNumber"]


def test_the_wells_run_crops_every_cell_with_one_box_per_plate(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("plates", [PLATE])
        assert defs.resolve_job_def("plate_job").execute_in_process(instance=instance, partition_key=PLATE).success
        # The wells job as the automation runs it, on a range of three wells (A01-A03) of the plate.
        wells_run = defs.resolve_job_def("plate_wells_job").execute_in_process(
            instance=instance, tags=plate_range_tags(PLATE, WELLS[0], WELLS[-1]))
        assert wells_run.success
        events = wells_run.asset_materializations_for_node("single_cell_crops")
        assert {event.partition for event in events} == {f"{PLATE}|{well}" for well in WELLS}
        metadata = events[0].metadata
        index = materialize_selection(defs, instance, dg.AssetSelection.assets("single_cell_crop_index"))
        assert index.success

    lake = Lake(lake_root)
    crops_index = pl.read_parquet(lake.plate_file("single_cell_crops", PLATE))
    assert dict(crops_index.schema) == CROPS_INDEX_SCHEMA
    cells = pl.read_parquet(lake.plate_file("regionprops_features", PLATE))
    joined = crops_index.join(cells.cast({"Metadata_Site": pl.Int32, "ObjectNumber": pl.Int64}), on=KEYS)
    assert joined.height == crops_index.height == cells.height  # one crop per regionprops row
    box = crop_size_from_diameters(cells["Cells_AreaShape_EquivalentDiameter"].to_numpy())
    assert set(crops_index["box_size"]) == {box} and set(crops_index["view_size"]) == {32}
    crops = load_crops(crops_index)
    assert crops.shape == (cells.height, len(CHANNEL_ORDER) + 1, 32, 32)
    assert (crops[:, -1].reshape(len(crops), -1).max(axis=1) > 0).all()

    assert metadata["box_size"].value == box and metadata["view_size"].value == 32
    assert metadata["cells"].value == cells.height
    assert 0 <= metadata["clipped_fraction"].value <= 1
    assert "data:image/png;base64," in metadata["plot_crops"].value
    counted = index.asset_materializations_for_node("single_cell_crop_index")[0].metadata
    assert counted["dagster/row_count"].value == cells.height
    assert f"| {PLATE} | {len(WELLS)} |" in counted["per_plate"].value


def test_sizes_and_a_plate_without_regionprops_fail_in_one_line(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("plates", [PLATE])
        assert defs.resolve_job_def("plate_job").execute_in_process(instance=instance, partition_key=PLATE).success
        tags = plate_range_tags(PLATE, "A01", "A02")
        upstream = materialize_selection(defs, instance, dg.AssetSelection.assets("raw_images", "masks"), tags=tags)
        assert upstream.success
        crops_only = dg.AssetSelection.assets("single_cell_crops")
        missing = materialize_selection(defs, instance, crops_only, tags=tags)
        assert not missing.success
        failure = missing.get_step_failure_events()[0].step_failure_data.error.message
        assert f"plate {PLATE} has no regionprops_features rows yet" in failure
        assert "materialize regionprops_features" in failure

        odd = materialize_selection(defs, instance, crops_only, tags=tags,
                                    run_config={"ops": {"single_cell_crops": {"config": {"view_size": 30}}}})
        assert not odd.success
        assert "multiple of 8" in odd.get_step_failure_events()[0].step_failure_data.error.message

        fixed = materialize_selection(defs, instance, crops_only, tags=tags, run_config={
            "ops": {"single_cell_crops": {"config": {"box_size": 24, "view_size": 16}}}})
        assert fixed.success  # a given box needs no regionprops
    rows = pl.read_parquet(Lake(lake_root).plate_file("single_cell_crops", PLATE))
    assert set(rows["Metadata_Well"]) == {"A01", "A02"} and set(rows["box_size"]) == {24}
    assert np.asarray(load_crops(rows.head(2))).shape == (2, len(CHANNEL_ORDER) + 1, 16, 16)
