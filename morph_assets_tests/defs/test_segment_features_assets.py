"""In-process runs of the segment and features stages on small generated plates."""

import gzip
import shutil
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest
import tifffile
from morph_assets_tests.conftest import SMALL_WELLS
from morph_assets_tests.defs.helpers import check_results, definitions_for, ingest_plate

from morph_assets.defs.partitions import plate_range_tags
from morph_assets.lib.features.cellprofiler import mean_table_from_export
from morph_assets.lib.io import Lake, build_views
from morph_assets.lib.plates import ImageName, format_image_name
from morph_assets.lib.synthetic import _plate as synthetic  # patched where render_site looks render_cells up
from morph_assets.lib.synthetic import SyntheticConfig, generate_plate
from morph_assets.paths import sql_models_dir

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
        montage = wells_run.asset_materializations_for_node("masks")[0].metadata["plot_segmentation_montage"].value
        assert montage.startswith("**A few sites per plate") and f"![{PLATE} montage](data:image/png;base64," in montage

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
    # the export's Metadata_Plate names this plate: an export of another plate is refused, not mixed in
    image = image.with_columns(pl.lit(PLATE).alias("Metadata_Plate"))
    image.with_columns(pl.lit("A01").alias("Metadata_Well"), pl.lit("1").alias("Metadata_Site")).write_csv(export / "Image.csv")
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        _, wells_run = ingest_plate(defs, instance, PLATE)
    assert wells_run.success
    means = pl.read_parquet(Lake(lake_root).plate_file("cellprofiler_mean", PLATE))
    expected = mean_table_from_export(export)
    assert means["Metadata_Well"].to_list() == ["A01"]  # only the well CellProfiler measured
    # the site is an integer as in the measured tables, not the Float64 a number-guessing reader gives
    assert means.schema["Metadata_Site"] == pl.read_parquet(Lake(lake_root).plate_file("masks", PLATE)).schema["Metadata_Site"] == pl.Int32
    assert means["Mean_Nuclei_AreaShape_Area"][0] == pytest.approx(expected["Mean_Nuclei_AreaShape_Area"][0])
    assert means["Count_Nuclei"][0] == 109  # CellProfiler's own count for BR00116991 A01 site 1


CELL_LESS_WELLS = ("A01", "A02", "A03", "B01", "B03")  # A02 and B03 are DMSO wells in JUMP-Target-1
CELL_LESS_SITES = (("A02", 1), ("A02", 2), ("A01", 2))  # all of A02, one site of A01
IMPORTED = {"ops": {"masks": {"config": {"method": "imported", "discard_border_objects": False}}}}


def _plate_with_cell_less_sites(source_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A plate where A02 (DMSO) has no cell and A01 none in site 2, with its true masks to import.

    The cell-less sites are rendered by the generator with a population of zero cells: camera
    offset, autofluorescence, illumination and noise as every other site, and empty true masks.
    """
    config = SyntheticConfig(n_plates=1, wells=CELL_LESS_WELLS, sites_per_well=2, image_size=160, seed=7)
    plate_dir = generate_plate(config, 0, source_root)
    with monkeypatch.context() as patch:
        render = synthetic.render_cells
        patch.setattr(synthetic, "render_cells", lambda population, *rest: render(replace(population, n_cells_mean=0.0), *rest))
        for well, site in CELL_LESS_SITES:
            rendered = synthetic.render_site(config, 0, well, site)
            for plane, channel in zip(rendered.images, rendered.channels):
                tifffile.imwrite(plate_dir / "Images" / format_image_name(well, site, channel), plane)
            prefix = ImageName(well, site, 1).site_prefix()
            tifffile.imwrite(plate_dir / "GroundTruth" / f"{prefix}-nuclei.tiff", rendered.nuclei_labels)
            tifffile.imwrite(plate_dir / "GroundTruth" / f"{prefix}-cells.tiff", rendered.cell_labels)
    (plate_dir / "Masks").mkdir()
    for truth in (plate_dir / "GroundTruth").glob("*-cells.tiff"):
        prefix = truth.name.removesuffix("-cells.tiff")
        shutil.copy(truth, plate_dir / "Masks" / f"{prefix}_cp_masks.tiff")
        shutil.copy(truth.with_name(f"{prefix}-nuclei.tiff"), plate_dir / "Masks" / f"{prefix}_nuclei_cp_masks.tiff")
    return plate_dir


def test_cell_less_sites_and_wells_are_zero_counts_flagged_by_qc_and_never_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plate_dir = _plate_with_cell_less_sites(tmp_path / "source", monkeypatch)
    plate = plate_dir.name
    # Expected per site, by hand from the generator's true label images (imported as they are).
    expected = {}
    for well in CELL_LESS_WELLS:
        for site in (1, 2):
            cells = tifffile.imread(plate_dir / "GroundTruth" / f"{ImageName(well, site, 1).site_prefix()}-cells.tiff")
            n = np.unique(cells[cells > 0]).size
            expected[(well, site)] = (n, (cells > 0).sum() / n if n else None)  # count, mean cell area in pixels
    assert [key for key, (n, _) in expected.items() if n == 0] == sorted(CELL_LESS_SITES)

    defs = definitions_for(tmp_path / "lake", tmp_path / "source")
    lake = Lake(tmp_path / "lake")
    wells_job = defs.resolve_job_def("plate_wells_job")
    with dg.instance_for_test() as instance:
        ingest_plate(defs, instance, plate, only=("plate_layout", "illumination_correction", "raw_images"))
        whole = wells_job.execute_in_process(instance=instance, tags=plate_range_tags(plate), run_config=IMPORTED, raise_on_error=False)
        assert whole.success and check_results(whole)["objects_per_site"].passed

        for table in ("regionprops_image", "cellprofiler_mean"):
            rows = pl.read_parquet(lake.plate_file(table, plate)).sort("Metadata_Well", "Metadata_Site")
            assert rows.height == len(expected), table  # one row per site, cell-less ones included
            for row in rows.iter_rows(named=True):
                n, area = expected[(row["Metadata_Well"], row["Metadata_Site"])]
                assert (row["Count_Nuclei"], row["Count_Cells"]) == (n, n), table
                if n == 0:
                    assert row["Count_Cytoplasm"] == 0, table
                    assert all(value is None for name, value in row.items() if name.startswith("Mean_")), table
                else:
                    assert row["Mean_Cells_AreaShape_Area"] == pytest.approx(area), table

        build_views(lake, sql_models_dir())
        with duckdb.connect(str(lake.duckdb_path), read_only=True) as connection:
            flagged = connection.sql("select well, reasons from wells_failing_qc where reasons like '%no cells%' order by well").fetchall()
            dmso = connection.sql("select dmso_wells, dmso_wells_without_cells, dmso_sites_without_cells, dmso_wells_under_5_cells "
                                  "from dmso_qc_by_plate").fetchall()
        assert [(well, [r for r in reasons.split("; ") if "cells" in r]) for well, reasons in flagged] == [
            ("A01", ["no cells in 1 of 2 sites"]), ("A02", ["no cells in 2 of 2 sites"])]
        assert dmso == [(2, 1, 2, 1)]  # A02 and B03; A02 has no cell in either site

        # A small re-run that includes the cell-less well is judged on the whole plate's masks: it goes through.
        rerun = wells_job.execute_in_process(instance=instance, tags=plate_range_tags(plate, "A02", "A03"),
                                             run_config=IMPORTED, raise_on_error=False)
        assert rerun.success and check_results(rerun)["objects_per_site"].passed
        measured = {(event.asset_key.to_user_string(), event.partition) for event in rerun.get_asset_materialization_events()}
        for asset in ("regionprops_features", "cellprofiler_mean"):
            assert {(asset, f"{plate}|{well}") for well in ("A02", "A03")} <= measured
    rerun_rows = pl.read_parquet(lake.plate_file("cellprofiler_mean", plate)).filter(pl.col("Metadata_Well") == "A02")
    assert rerun_rows["Count_Cells"].to_list() == [0, 0]
