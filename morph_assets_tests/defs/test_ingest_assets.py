"""In-process materialization of the ingest assets on a small generated plate set."""

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest
import tifffile
from morph_assets_tests.conftest import SMALL_WELLS
from morph_assets_tests.defs.helpers import VIEWS, check_results, definitions_for, ingest_plate, materialize_selection

from morph_assets.lib.io import Lake
from morph_assets.lib.plates import format_image_name

PLATE = "SYNJT0001"
#: The ingest stage alone: these tests need no segmentation or features.
INGEST = ("plate_layout", "raw_images")


def test_plate_run_writes_layout_images_and_compacted_table(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        layout_run, wells_run = ingest_plate(defs, instance, PLATE, only=INGEST)
        assert layout_run.success and wells_run.success
        # One run covers the plate: Dagster records all 384 well partitions of it at once.
        assert len(instance.get_materialized_partitions(dg.AssetKey("raw_images"))) == 384
        checks = check_results(wells_run)
        assert checks["all_wells_ingested"].passed and checks["image_qc"].passed
        assert check_results(layout_run)["dmso_wells_present"].passed

    lake = Lake(lake_root)
    assert lake.wells_present("raw_images", PLATE) == sorted(SMALL_WELLS)
    table = pl.read_parquet(lake.plate_file("raw_images", PLATE))
    assert table.height == len(SMALL_WELLS) * 2 * 5
    # Statistics are the pixels' own: recompute one image independently (uint16 counts / 65535).
    row = table.filter((pl.col("Metadata_Well") == "A03") & (pl.col("Metadata_Site") == 2) & (pl.col("channel") == 5)).row(0, named=True)
    pixels = tifffile.imread(source_root / PLATE / "Images" / format_image_name("A03", 2, 5))
    assert pixels.dtype == "uint16"
    assert row["mean_intensity"] == pytest.approx(pixels.mean() / 65535)
    assert row["max_intensity"] == pytest.approx(pixels.max() / 65535) and row["channel_name"] == "DNA"
    layout = pl.read_parquet(lake.plate_file("plate_layout", PLATE))
    assert layout.height == 384 and layout.filter(pl.col("Metadata_control_type") == "negcon").height == 64


def test_views_answer_sql_after_two_plates(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        for plate in ("SYNJT0001", "SYNJT0002"):
            assert all(run.success for run in ingest_plate(defs, instance, plate, only=INGEST))
        assert materialize_selection(defs, instance, VIEWS).success
    with duckdb.connect(str(Lake(lake_root).duckdb_path), read_only=True) as connection:
        assert connection.sql("select count(*) from raw_images").fetchall()[0][0] == 2 * len(SMALL_WELLS) * 2 * 5
        status = connection.sql("select Metadata_Plate, wells_ingested, dmso_wells, wells_failed from plate_ingest_status").fetchall()
        assert status == [("SYNJT0001", 4, 64, 0), ("SYNJT0002", 4, 64, 0)]
        dmso = connection.sql("select distinct Metadata_Well from images_annotated where Metadata_pert_iname = 'DMSO'").fetchall()
        assert dmso == [("A02",)]


def test_bad_wells_are_reported_while_the_others_complete_and_the_lake_keeps_old_files(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root, workers=2)  # also exercises the process pool
    lake = Lake(lake_root)
    with dg.instance_for_test() as instance:
        assert all(run.success for run in ingest_plate(defs, instance, PLATE, only=INGEST))
        before = lake.well_file("raw_images", PLATE, "A01").read_bytes()

        images = source_root / PLATE / "Images"
        (images / format_image_name("A01", 1, 3)).write_bytes(b"II*\x00 truncated")  # corrupt TIFF
        (images / format_image_name("A03", 2, 4)).unlink()  # missing channel (ER)
        _, wells_run = ingest_plate(defs, instance, PLATE, only=INGEST)

    assert wells_run.success  # one bad well does not sink the plate
    assert lake.well_file("raw_images", PLATE, "A01").read_bytes() == before  # nothing already in the lake changed
    errors = pl.read_parquet(lake.errors_file("raw_images", PLATE)).sort("Metadata_Well")
    assert errors["Metadata_Well"].to_list() == ["A01", "A03"]
    corrupt, missing = errors.to_dicts()
    assert corrupt["file"].endswith(format_image_name("A01", 1, 3)) and "corrupt TIFF" in corrupt["error"]
    assert "missing channel(s) ch4 (ER)" in missing["error"]
    check = check_results(wells_run)["all_wells_ingested"]
    assert not check.passed and check.metadata["n_wells_failed"].value == 2
    # Failed wells keep their previous files, so the compacted table still has every well.
    compacted = pl.read_parquet(lake.plate_file("raw_images", PLATE))
    assert set(compacted["Metadata_Well"]) == {"A01", "A02", "A03", "B01"}  # A03 keeps its last good file
    assert compacted.filter(pl.col("Metadata_Well") == "A02").height == 10


def test_a_plate_whose_every_well_fails_fails_the_run(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    for path in (source_root / PLATE / "Images").glob("*ch1sk1*"):
        path.write_bytes(b"not a tiff")
    with dg.instance_for_test() as instance:
        _, wells_run = ingest_plate(defs, instance, PLATE, only=INGEST)
    assert not wells_run.success
    assert not Lake(lake_root).plate_file("raw_images", PLATE).exists()


def test_saturated_image_is_flagged_by_image_qc(source_root: Path, lake_root: Path):
    path = source_root / PLATE / "Images" / format_image_name("B01", 1, 2)
    pixels = tifffile.imread(path)
    pixels[: pixels.shape[0] // 4] = np.iinfo(np.uint16).max
    tifffile.imwrite(path, pixels)
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        _, wells_run = ingest_plate(defs, instance, PLATE, only=INGEST)
    check = check_results(wells_run)["image_qc"]
    assert not check.passed and check.metadata["n_flagged"].value == 1
    assert "B01" in check.metadata["flagged"].value


def test_layout_run_fails_clearly_without_a_platemap(source_root: Path, lake_root: Path):
    (source_root / PLATE / "platemap.tsv").unlink()
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        layout_run, _ = ingest_plate(defs, instance, PLATE, only=INGEST)
    assert not layout_run.success
    failure = layout_run.failure_data_for_node("plate_layout")
    assert "no platemap file" in str(failure.error.message) + str(failure.user_failure_data)
