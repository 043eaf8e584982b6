"""Features stage: regionprops per object and CellProfiler's per-image Mean_ table, per well."""

import dagster as dg
import polars as pl
from pydantic import Field

from morph_assets.defs.automation import PER_PLATE
from morph_assets.defs.jobs import WELL_LEVEL
from morph_assets.defs.partitions import plate_well_partitions
from morph_assets.defs.well_runs import plate_tables, run_per_well, summary_metadata
from morph_assets.lib import schema, tasks
from morph_assets.lib.features.cellprofiler import FAMILIES, has_export
from morph_assets.lib.plates import PlateIndex
from morph_assets.lib.report import frame_to_markdown
from morph_assets.lib.segment import illumination_files
from morph_assets.resources import LakeResource

#: A plate folder holding CellProfiler's own ExportToSpreadsheet CSVs here is ingested, not recomputed.
CELLPROFILER_EXPORT_FOLDER = "cellprofiler"
#: The study's CellProfiler Mean_ features: AreaShape, Intensity and Texture of the three objects.
STUDY_FAMILIES = ("sizeshape", "intensity", "texture")

PER_WELL = dict(
    partitions_def=plate_well_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=PER_PLATE,
    tags=WELL_LEVEL,
    group_name="features",
    kinds={"parquet"},
)


@dg.asset(description="Per cell: size, shape and intensity of nucleus, cell and cytoplasm (scikit-image "
                      "regionprops).",
          deps=["masks"], **PER_WELL)
def regionprops_features(context: dg.AssetExecutionContext, lake: LakeResource,
                         worker_pool: dg.ResourceParam[tasks.WorkerPool]) -> dg.MaterializeResult:
    """The study's per-object features: scikit-image regionprops for nuclei, cells and cytoplasm.

    One row per cell (``ObjectNumber`` shared by its nucleus and cytoplasm) with area,
    eccentricity, perimeter, solidity, axes, extent, orientation, equivalent diameter and per
    channel mean/min/max/std/integrated intensity, in CellProfiler-style names
    (``Cells_AreaShape_Area``, ``Nuclei_Intensity_MeanIntensity_DNA``). Also writes
    ``regionprops_image``: one row per site with counts and means, for image-level classifiers.
    """
    store = lake.lake()

    def task(index: PlateIndex, well: str) -> tasks.RegionpropsTask:
        return tasks.RegionpropsTask(well=well, lake_root=str(store.root), plate=index.barcode,
                                     image_rows=index.well_images(well).to_dicts(),
                                     illumination_files=illumination_files(store, index.barcode))

    summaries = run_per_well(context, lake, worker_pool, schema.REGIONPROPS_FEATURES, tasks.measure_well_regionprops,
                             task, wells_needing="masks", compact_tables=(schema.REGIONPROPS_IMAGE,))
    plates = [summary.plate for summary in summaries]
    table = plate_tables(lake, schema.REGIONPROPS_FEATURES, plates)
    per_image = plate_tables(lake, schema.REGIONPROPS_IMAGE, plates)
    return dg.MaterializeResult(metadata={**summary_metadata(summaries, table), "n_feature_columns": len(table.columns),
                                          "n_image_rows": per_image.height})


class CellProfilerConfig(dg.Config):
    """Which CellProfiler measurement families go into the Mean_ table."""

    families: list[str] = Field(
        default=list(STUDY_FAMILIES),
        description=f"Subset of {list(FAMILIES)}; the default is the study's AreaShape, Intensity and Texture. "
        "Granularity and radial distribution cost several times more.",
    )


@dg.asset(description="Per site: CellProfiler's Mean_ features (shape, intensity, texture of each object) and "
                      "counts.",
          deps=["masks"], **PER_WELL)
def cellprofiler_mean(context: dg.AssetExecutionContext, config: CellProfilerConfig, lake: LakeResource,
                      worker_pool: dg.ResourceParam[tasks.WorkerPool]) -> dg.MaterializeResult:
    """CellProfiler's per-image table: ``Mean_<Object>_<Measurement>`` and ``Count_<Object>``.

    Objects Nuclei, Cells, Cytoplasm; measurements with CellProfiler's names and numbers
    (cp-measure's, computed faster for texture, granularity and radial distribution). A plate
    folder with CellProfiler's own ExportToSpreadsheet CSVs in ``cellprofiler/`` (Image.csv,
    Nuclei.csv, Cells.csv, Cytoplasm.csv) is ingested from them instead of being recomputed.
    """
    store = lake.lake()
    families = tuple(config.families)
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise dg.Failure(description=f"unknown measurement families {unknown}; choose from {list(FAMILIES)}")

    def export_folder(index: PlateIndex) -> str | None:
        folder = index.folder / CELLPROFILER_EXPORT_FOLDER
        return str(folder) if has_export(folder) else None

    def task(index: PlateIndex, well: str) -> tasks.CellProfilerTask:
        return tasks.CellProfilerTask(
            well=well, lake_root=str(store.root), plate=index.barcode, image_rows=index.well_images(well).to_dicts(),
            illumination_files=illumination_files(store, index.barcode), families=families,
            export_folder=export_folder(index),
        )

    def needs(index: PlateIndex) -> str | None:
        if export_folder(index):
            context.log.info(f"plate {index.barcode}: ingesting CellProfiler's own export from {export_folder(index)}")
            return None
        return "masks"

    summaries = run_per_well(context, lake, worker_pool, schema.CELLPROFILER_MEAN, tasks.cellprofiler_well,
                             task, wells_needing=needs)
    plates = [summary.plate for summary in summaries]
    table = plate_tables(lake, schema.CELLPROFILER_MEAN, plates)
    feature_columns = [c for c in table.columns if c.startswith("Mean_")]
    by_object = pl.DataFrame([{"object": obj, "features": sum(c.startswith(f"Mean_{obj}_") for c in feature_columns)}
                              for obj in ("Nuclei", "Cells", "Cytoplasm")])
    return dg.MaterializeResult(metadata={**summary_metadata(summaries, table), "families": ", ".join(families),
                                          "n_mean_features": len(feature_columns),
                                          "features_by_object": dg.MetadataValue.md(frame_to_markdown(by_object))})
