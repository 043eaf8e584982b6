"""In-process runs of the segment and features stages on small generated plates."""

import gzip
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
import tifffile

from morph_assets.lib.cellprofiler_csv import mean_table_from_export
from morph_assets.lib.lake import Lake
from morph_assets_tests.conftest import SMALL_WELLS
from morph_assets_tests.defs.helpers import check_results, definitions_for, ingest_plate

PLATE = "SYNJT0001"
CELLPROFILER_EXPORT = Path(__file__).parents[1] / "data" / "cellprofiler" / "cpg0043_BR00116991_A01_1"


def test_plate_and_well_runs_segment_and_measure_every_well(source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        plate_run, wells_run = ingest_plate(defs, instance, PLATE)
        assert plate_run.success and wells_run.success
        checks = check_results(wells_run)
        assert checks["objects_per_site"].passed
        # The classical recipe finds the generator's cells (border objects excluded on both sides).
        assert checks["segmentation_quality"].passed
        assert checks["segmentation_quality"].metadata["worst_plate_median_cells_ap50"].value >= 0.8
        montage = wells_run.asset_materializations_for_node("masks")[0].metadata["montage"].value
        assert montage.startswith("![")

    lake = Lake(lake_root)
    illumination = pl.read_parquet(lake.plate_file("illumination", PLATE))
    assert illumination["channel_name"].to_list() == ["Mito", "AGP", "RNA", "ER", "DNA"]
    assert illumination["truth_pearson_r"].min() > 0.3  # only 8 sites here; the lib tests check > 0.9 on 40

    masks = pl.read_parquet(lake.plate_file("masks", PLATE))
    assert masks.height == len(SMALL_WELLS) * 2 and (masks["Count_Cells"] > 0).all()
    site = masks.row(0, named=True)
    cells = tifffile.imread(site["cells_path"])
    nuclei = tifffile.imread(site["nuclei_path"])
    assert np.unique(cells[cells > 0]).size == site["Count_Cells"]
    assert set(np.unique(nuclei[nuclei > 0])) <= set(np.unique(cells[cells > 0]))  # every nucleus sits in its cell

    objects = pl.read_parquet(lake.plate_file("regionprops_features", PLATE))
    assert objects.height == masks["Count_Cells"].sum()
    assert {"Cells_AreaShape_Area", "Nuclei_Intensity_MeanIntensity_DNA", "Cytoplasm_AreaShape_Solidity"} <= set(objects.columns)
    per_image = pl.read_parquet(lake.plate_file("regionprops_image", PLATE))
    assert per_image.height == masks.height

    means = pl.read_parquet(lake.plate_file("cellprofiler_mean", PLATE))
    assert means.height == masks.height
    assert "Mean_Cytoplasm_Texture_Contrast_RNA_3_00_256" in means.columns
    assert "Mean_Cells_AreaShape_Area" in means.columns
    # The per-image mean of the cell area is the mean of the objects' areas in that image.
    first = means.sort("Metadata_Well", "Metadata_Site").row(0, named=True)
    areas = objects.filter((pl.col("Metadata_Well") == first["Metadata_Well"]) & (pl.col("Metadata_Site") == first["Metadata_Site"]))
    assert first["Mean_Cells_AreaShape_Area"] == pytest.approx(areas["Cells_AreaShape_Area"].mean())


def test_imported_masks_chosen_by_run_config_reproduce_the_ground_truth(source_root: Path, lake_root: Path):
    plate_folder = source_root / PLATE
    (plate_folder / "Masks").mkdir()
    for truth in (plate_folder / "GroundTruth").glob("*-cells.tiff"):
        prefix = truth.name.removesuffix("-cells.tiff")
        shutil.copy(truth, plate_folder / "Masks" / f"{prefix}_cp_masks.tiff")
        shutil.copy(truth.with_name(f"{prefix}-nuclei.tiff"), plate_folder / "Masks" / f"{prefix}_nuclei_cp_masks.tiff")
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        ingest_plate(defs, instance, PLATE, only=("plate_layout", "illumination_correction", "raw_images"))
        run = defs.resolve_job_def("plate_wells_job").execute_in_process(
            instance=instance, tags={"dagster/asset_partition_range_start": f"{PLATE}|A01", "dagster/asset_partition_range_end": f"{PLATE}|P24"},
            run_config={"ops": {"masks": {"config": {"method": "imported", "discard_border_objects": False}}}},
        )
    assert run.success
    masks = pl.read_parquet(Lake(lake_root).plate_file("masks", PLATE))
    assert set(masks["method"]) == {"imported"}
    assert masks["cells_ap50"].min() == pytest.approx(1.0)


def test_a_plate_with_cellprofiler_csvs_is_ingested_not_recomputed(source_root: Path, lake_root: Path):
    export = source_root / PLATE / "cellprofiler"
    export.mkdir()
    for name in ("Nuclei", "Cells", "Cytoplasm"):
        shutil.copy(CELLPROFILER_EXPORT / f"{name}.csv.gz", export / f"{name}.csv.gz")
    image = pl.read_csv(gzip.open(CELLPROFILER_EXPORT / "Image.csv.gz"), infer_schema_length=0)
    image.with_columns(pl.lit("A01").alias("Metadata_Well"), pl.lit("1").alias("Metadata_Site")).write_csv(export / "Image.csv")
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        _, wells_run = ingest_plate(defs, instance, PLATE)
    assert wells_run.success
    means = pl.read_parquet(Lake(lake_root).plate_file("cellprofiler_mean", PLATE))
    expected = mean_table_from_export(export)
    assert means["Metadata_Well"].to_list() == ["A01"]  # only the well CellProfiler measured
    assert means["Mean_Nuclei_AreaShape_Area"][0] == pytest.approx(expected["Mean_Nuclei_AreaShape_Area"][0])
    assert means["Count_Nuclei"][0] == 109  # CellProfiler's own count for BR00116991 A01 site 1
