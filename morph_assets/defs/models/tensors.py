"""image_tensors: every site downsampled to 64 x 64 with its cell mask, for the networks."""

import dagster as dg
import polars as pl
from pydantic import Field

from morph_assets.defs.automation import PER_PLATE, PLATE_DONE, STUDY
from morph_assets.defs.jobs import STUDY_LEVEL, WELL_LEVEL
from morph_assets.defs.partitions import plate_well_partitions
from morph_assets.defs.well_runs import plate_tables, run_per_well, summary_metadata
from morph_assets.lib import schema, tasks
from morph_assets.lib.plates import PlateIndex
from morph_assets.lib.report import frame_to_markdown
from morph_assets.lib.segment import illumination_files
from morph_assets.resources import LakeResource


class ImageTensorsConfig(dg.Config):
    """Size of the stored images."""

    size: int = Field(default=tasks.DEFAULT_SIZE, description="Side in pixels (a multiple of 8 for the VAE).")


@dg.asset(
    description="Per site: small multichannel image crops (64 x 64, five stains + cell mask) for the "
                "networks.",
    deps=["masks", "illumination_correction"],
    partitions_def=plate_well_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=PER_PLATE,
    tags=WELL_LEVEL,
    group_name="models",
    kinds={"numpy", "parquet"},
)
def image_tensors(context: dg.AssetExecutionContext, config: ImageTensorsConfig, lake: LakeResource,
                  worker_pool: dg.ResourceParam[tasks.WorkerPool]) -> dg.MaterializeResult:
    """Per site: the five illumination-corrected channels (each scaled by its 99.9th percentile)
    and the cell-foreground fraction, area-averaged to ``size`` x ``size``, float16, one ``.npz``
    per well beside an index table. The study's grayscale is the channels' mean, taken at
    training time, so both the study's inputs and the full channels are available."""
    if config.size % 8:
        raise dg.Failure(description=f"size must be a multiple of 8 (the VAE halves it three times), got {config.size}")
    store = lake.lake()

    def task(index: PlateIndex, well: str) -> tasks.TensorTask:
        return tasks.TensorTask(well=well, lake_root=str(store.root), plate=index.barcode,
                                image_rows=index.well_images(well).to_dicts(),
                                illumination_files=illumination_files(store, index.barcode), size=config.size)

    summaries = run_per_well(context, lake, worker_pool, schema.IMAGE_TENSORS, tasks.tensor_well, task,
                             wells_needing="masks")
    table = plate_tables(lake, schema.IMAGE_TENSORS, [summary.plate for summary in summaries])
    return dg.MaterializeResult(metadata={**summary_metadata(summaries, table), "size": config.size})


@dg.asset(description="Every plate's image tensors in one list: what the networks train on.",
          deps=["image_tensors", PLATE_DONE], automation_condition=STUDY, tags=STUDY_LEVEL, group_name="models", kinds={"parquet"})
def image_tensor_index(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Every plate's image tensors, counted: plates, wells and sites in the ``image_tensors`` table.

    Cheap and unpartitioned, it stands between the per-well tensors and the networks, so the UI
    marks ``vae_model`` and ``treatment_classifiers`` Unsynced when any plate's tensors change
    (Dagster does not trace staleness through deps with 100 or more partitions). It follows a
    plate's profiles (``well_profiles``), so it is rebuilt once per plate run, after every well.
    """
    store = lake.lake()
    plates = store.plates_present(schema.IMAGE_TENSORS)
    if not plates:
        context.log.warning("lake table image_tensors has no plate yet")
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "n_plates": 0})
    index = pl.read_parquet(store.table_glob(schema.IMAGE_TENSORS), columns=[schema.PLATE, schema.WELL])
    per_plate = (index.group_by(schema.PLATE).agg(pl.col(schema.WELL).n_unique().alias("wells"),
                                                      pl.len().alias("sites")).sort(schema.PLATE))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": index.height,
        "n_plates": len(plates),
        "per_plate": dg.MetadataValue.md(frame_to_markdown(per_plate, max_rows=len(plates))),
    })
