"""image_tensors: every site downsampled to 64 x 64 with its cell mask, for the networks."""

import dagster as dg
from pydantic import Field

from morph_assets.defs.jobs import WELL_LEVEL
from morph_assets.defs.partitions import plate_well_partitions
from morph_assets.defs.segment.assets import illumination_files
from morph_assets.defs.well_runs import plate_tables, run_per_well, summary_metadata
from morph_assets.lib import well_tensors
from morph_assets.lib.plates import PlateIndex
from morph_assets.resources import LakeResource


class ImageTensorsConfig(dg.Config):
    """Size of the stored images."""

    size: int = Field(default=well_tensors.DEFAULT_SIZE, description="Side in pixels (a multiple of 8 for the VAE).")


@dg.asset(
    description="Per site: small multichannel image crops (64 x 64, five stains + cell mask) for the "
                "networks.",
    deps=["masks", "illumination_correction"],
    partitions_def=plate_well_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    tags=WELL_LEVEL,
    group_name="models",
    kinds={"numpy", "parquet"},
)
def image_tensors(context: dg.AssetExecutionContext, config: ImageTensorsConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Per site: the five illumination-corrected channels (each scaled by its 99.9th percentile)
    and the cell-foreground fraction, area-averaged to ``size`` x ``size``, float16, one ``.npz``
    per well beside an index table. The study's grayscale is the channels' mean, taken at
    training time, so both the study's inputs and the full channels are available."""
    if config.size % 8:
        raise dg.Failure(description=f"size must be a multiple of 8 (the VAE halves it three times), got {config.size}")
    store = lake.lake()

    def arguments(index: PlateIndex, well: str) -> tuple:
        return (str(store.root), index.barcode, index.well_images(well).to_dicts(),
                illumination_files(store, index.barcode), config.size)

    summaries = run_per_well(context, lake, well_tensors.TABLE, well_tensors.tensor_well, arguments, wells_needing="masks")
    table = plate_tables(lake, well_tensors.TABLE, [summary.plate for summary in summaries])
    return dg.MaterializeResult(metadata={**summary_metadata(summaries, table), "size": config.size})
