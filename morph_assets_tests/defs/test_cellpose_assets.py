"""Cellpose through Dagster: the segmentation_model asset trains, masks runs with method=cellpose."""

from pathlib import Path

import dagster as dg
import polars as pl
from morph_assets_tests.defs.helpers import definitions_for, ingest_plate

from morph_assets.defs.partitions import plate_range_tags
from morph_assets.lib.io import Lake

PLATE = "SYNJT0001"


def test_missing_cellpose_model_fails_the_wells_with_a_clear_message(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        ingest_plate(defs, instance, PLATE, only=("plate_layout", "illumination_correction", "raw_images"))
        run = defs.resolve_job_def("plate_wells_job").execute_in_process(
            instance=instance, tags=plate_range_tags(PLATE), raise_on_error=False,
            run_config={"ops": {"masks": {"config": {"method": "cellpose"}}}},
        )
    assert not run.success
    errors = pl.read_parquet(Lake(lake_root).errors_file("masks", PLATE))
    assert errors.height == 4 and errors["error"].str.contains("CellposeWeightsMissing").all()
    assert errors["error"].str.contains(str(lake_root / "models" / "cellpose")).all()  # names where it looked


def test_trained_model_segments_a_plate(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        trained = defs.resolve_job_def("segmentation_model_job").execute_in_process(
            instance=instance, run_config={"ops": {"segmentation_model": {"config": {"n_training_sites": 6, "n_epochs": 3}}}},
        )
        assert trained.success
        metadata = trained.asset_materializations_for_node("segmentation_model")[0].metadata
        assert "held_out_cells_ap50" in metadata
        ingest_plate(defs, instance, PLATE, only=("plate_layout", "illumination_correction", "raw_images"))
        run = defs.resolve_job_def("plate_wells_job").execute_in_process(
            instance=instance, tags=plate_range_tags(PLATE), raise_on_error=False,
            run_config={"ops": {"masks": {"config": {"method": "cellpose"}}}},
        )
    masks = pl.read_parquet(Lake(lake_root).plate_file("masks", PLATE))
    assert set(masks["method"]) == {"cellpose"} and masks.height == 8
    # A 3-epoch model is weak; the run may stop at the blocking objects-per-site check, but the
    # masks it wrote are consistent label images from the trained network.
    assert (lake_root / "models" / "cellpose" / "cells").exists()
    assert run.success or "objects_per_site" in str(run.all_events)
