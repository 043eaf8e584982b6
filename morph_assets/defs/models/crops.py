"""single_cell_crops: a fixed-size crop of every segmented cell (five stains + its mask), per well."""

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from morph_assets.defs.automation import PER_PLATE, PLATE_DONE, STUDY
from morph_assets.defs.jobs import STUDY_LEVEL, WELL_LEVEL
from morph_assets.defs.partitions import plate_well_partitions
from morph_assets.defs.well_runs import plate_tables, run_per_well, summary_metadata
from morph_assets.lib import schema, tasks
from morph_assets.lib.features import crop_size_from_diameters
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import PlateIndex
from morph_assets.lib.plot import crop_grid, to_png
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.segment import illumination_files
from morph_assets.resources import LakeResource

#: The regionprops column the plate's crop side is taken from.
DIAMETER = "Cells_AreaShape_EquivalentDiameter"
#: Crops shown in the asset's montage.
MONTAGE_CROPS = 16


class CropsConfig(dg.Config):
    """Size of the window cut around each cell and of the stored crops."""

    box_size: int = Field(default=0, description="Side in pixels of the window cut around each cell; 0 takes it "
                          "from the plate's cell diameters (regionprops_features), the same for every well.")
    view_size: int = Field(default=tasks.DEFAULT_VIEW_SIZE, description="Side of the stored crops (a multiple of 8): "
                           "each window is area-averaged to it, as DeepProfiler resizes box_size to view_size.")


def plate_box_size(store: Lake, plate: str) -> int:
    """The crop side of a plate: :func:`crop_size_from_diameters` over every cell's equivalent diameter.

    Reads ``Cells_AreaShape_EquivalentDiameter`` from the plate's wells present in the
    ``regionprops_features`` table, so every well of the plate gets the same box whichever wells
    a run holds.

    Raises
    ------
    dagster.Failure
        One line naming the plate and the fix when the plate has no regionprops rows yet.
    """
    files = [store.well_file(schema.REGIONPROPS_FEATURES, plate, well)
             for well in store.wells_present(schema.REGIONPROPS_FEATURES, plate)]
    diameters = [pl.read_parquet(file, columns=[DIAMETER])[DIAMETER] for file in files
                 if DIAMETER in pl.read_parquet_schema(file)]
    values = pl.concat(diameters).to_numpy() if diameters else np.empty(0)
    if values.size == 0:
        raise dg.Failure(description=f"single_cell_crops: plate {plate} has no regionprops_features rows yet, so no "
                         f"cell diameters to size its crops from; materialize regionprops_features for plate {plate} "
                         "first (or set box_size in the run config)")
    return crop_size_from_diameters(values)


def crops_montage(table: pl.DataFrame) -> str:
    """Markdown of a grid of about :data:`MONTAGE_CROPS` crops spread over ``table``'s rows."""
    if not table.height:
        return "no cells"
    rows = table.gather(np.unique(np.linspace(0, table.height - 1, min(MONTAGE_CROPS, table.height)).astype(int)))
    captions = [f"{well} s{site} #{number}" for well, site, number
                in rows.select(schema.WELL, schema.SITE, schema.OBJECT_NUMBER).iter_rows()]
    grid = crop_grid(tasks.load_crops(rows), captions, title=f"{rows.height} of {table.height} cells")
    return figure_markdown(png_markdown(to_png(grid[0, 0].figure), "single-cell crops"),
                           "Single-cell crops spread over the run's wells: DNA (grey), the cell's mask outlined "
                           "(magenta), resized to view_size; caption: well, site, ObjectNumber.")


@dg.asset(
    description="Per cell: a fixed-size crop (five stains + the cell's mask) centred on it, sized from the plate's "
                "cell diameters, keyed by ObjectNumber to join the regionprops and CellProfiler rows.",
    deps=["masks", "illumination_correction", "regionprops_features"],
    partitions_def=plate_well_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=PER_PLATE,
    tags=WELL_LEVEL,
    group_name="models",
    kinds={"numpy", "parquet"},
)
def single_cell_crops(context: dg.AssetExecutionContext, config: CropsConfig, lake: LakeResource,
                      worker_pool: dg.ResourceParam[tasks.WorkerPool]) -> dg.MaterializeResult:
    """Per cell: the five illumination-corrected channels (each scaled over its site by its
    99.9th percentile) and the cell's own mask in a ``box_size`` window centred on the cell,
    area-averaged to ``view_size`` (DeepProfiler's box_size -> view_size), float16, one ``.npz``
    per well beside an index table with one row per cell (plate, well, site, ObjectNumber).
    ``box_size`` is one per plate: 1.5 x the 95th percentile of the plate's cell diameters,
    rounded up to a multiple of 8, at least 32 px (DESIGN entries 54-55)."""
    if config.view_size < 8 or config.view_size % 8:
        raise dg.Failure(description=f"view_size must be a positive multiple of 8, got {config.view_size}")
    if config.box_size < 0:
        raise dg.Failure(description=f"box_size must be positive (0: from the cells' diameters), got {config.box_size}")
    store = lake.lake()
    boxes: dict[str, int] = {}

    def prepare(index: PlateIndex) -> None:
        boxes[index.barcode] = config.box_size or plate_box_size(store, index.barcode)
        context.log.info(f"plate {index.barcode}: crops of {boxes[index.barcode]} px resized to {config.view_size} px")

    def task(index: PlateIndex, well: str) -> tasks.CropTask:
        return tasks.CropTask(well=well, lake_root=str(store.root), plate=index.barcode,
                              image_rows=index.well_images(well).to_dicts(),
                              illumination_files=illumination_files(store, index.barcode),
                              box_size=boxes[index.barcode], view_size=config.view_size)

    summaries = run_per_well(context, lake, worker_pool, schema.SINGLE_CELL_CROPS, tasks.crop_well, task,
                             wells_needing="masks", before_plate=prepare)
    table = plate_tables(lake, schema.SINGLE_CELL_CROPS, [summary.plate for summary in summaries])
    clipped = float(table["crop_clipped"].mean()) if table.height else 0.0
    return dg.MaterializeResult(metadata={
        **summary_metadata(summaries, table),
        "box_size_per_plate": dg.MetadataValue.json(boxes),
        **({"box_size": next(iter(boxes.values()))} if len(boxes) == 1 else {}),
        "view_size": config.view_size,
        "cells": table.height,
        "clipped_fraction": round(clipped, 4),
        "plot_crops": dg.MetadataValue.md(crops_montage(table)),
    })


@dg.asset(description="Every plate's single-cell crops in one list: what cell-level networks train on.",
          deps=["single_cell_crops", PLATE_DONE], automation_condition=STUDY, tags=STUDY_LEVEL, group_name="models",
          kinds={"parquet"})
def single_cell_crop_index(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Every plate's single-cell crops, counted per plate: wells and sites with cells, cells, box size.

    Cheap and unpartitioned, like ``image_tensor_index``: it stands between the per-well crops
    and the networks that read them, so the UI marks those Unsynced when any plate's crops
    change (Dagster does not trace staleness through deps with 100 or more partitions). It
    follows a plate's profiles (``well_profiles``), so it is rebuilt once per plate run.
    """
    store = lake.lake()
    plates = store.plates_present(schema.SINGLE_CELL_CROPS)
    if not plates:
        context.log.warning("lake table single_cell_crops has no plate yet")
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "n_plates": 0})
    index = pl.read_parquet(store.table_glob(schema.SINGLE_CELL_CROPS),
                            columns=[schema.PLATE, schema.WELL, schema.SITE, "box_size", "view_size"])
    per_plate = (index.group_by(schema.PLATE).agg(
        pl.col(schema.WELL).n_unique().alias("wells"),
        pl.struct(schema.WELL, schema.SITE).n_unique().alias("sites"),
        pl.len().alias("cells"),
        pl.col("box_size").first(), pl.col("view_size").first(),
    ).sort(schema.PLATE))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": index.height,
        "n_plates": len(plates),
        "per_plate": dg.MetadataValue.md(frame_to_markdown(per_plate, max_rows=len(plates))),
    })
