"""Ingest assets: a plate's layout, and its raw images indexed with pixel statistics and QC."""


from collections.abc import Iterator

import dagster as dg
import polars as pl

from morph_assets.defs.automation import PER_PLATE
from morph_assets.defs.ingest.checks import (
    ALL_WELLS_INGESTED,
    DMSO_WELLS_PRESENT,
    IMAGE_QC,
    image_qc_result,
    wells_ingested_result,
)
from morph_assets.defs.jobs import PLATE_LEVEL, WELL_LEVEL
from morph_assets.defs.partitions import plate_well_partitions, plates_partitions
from morph_assets.defs.well_runs import plate_failure, plate_tables, run_per_well, summary_metadata
from morph_assets.lib import schema, tasks
from morph_assets.lib.io import atomic_write_parquet
from morph_assets.lib.plates import PlateError, PlateIndex, read_plate_layout
from morph_assets.lib.plot import plate_heatmap, to_png
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.schema import BROAD_SAMPLE, CONTROL_TYPE, NEGATIVE_CONTROL, PLATE, PLATE_LAYOUT, WELL
from morph_assets.resources import LakeResource



@dg.asset(
    description="Which perturbation sits in each well of the plate (platemap joined to compound metadata).",
    partitions_def=plates_partitions,
    tags=PLATE_LEVEL,
    group_name="ingest",
    kinds={"parquet"},
    check_specs=[dg.AssetCheckSpec(DMSO_WELLS_PRESENT, asset="plate_layout", blocking=True,
                                   description="The plate has DMSO wells to normalise against.")],
)
def plate_layout(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator:
    """Well -> perturbation of one plate: its platemap joined to the perturbation metadata.

    One row per well with ``Metadata_broad_sample``, ``Metadata_pert_iname``,
    ``Metadata_target_list``, ``Metadata_pert_type`` and ``Metadata_control_type`` (DMSO wells are
    ``negcon``), read from the plate folder's ``platemap.tsv`` and ``compound_metadata.tsv``.
    """
    plate = context.partition_key
    folder = lake.plate_folder(plate)
    try:
        layout = read_plate_layout(folder)
    except PlateError as error:
        raise plate_failure(plate, folder, error) from error
    path = atomic_write_parquet(layout, lake.lake().plate_file(PLATE_LAYOUT, plate))
    by_type = (
        layout.group_by(pl.col(CONTROL_TYPE).fill_null("treatment"))
        .agg(pl.len().alias("wells"), pl.col(BROAD_SAMPLE).n_unique().alias("perturbations"))
        .sort(CONTROL_TYPE)
    )
    n_dmso = layout.filter(pl.col(CONTROL_TYPE) == NEGATIVE_CONTROL).height
    context.log.info(f"plate {plate}: {layout.height} wells, {n_dmso} DMSO, written to {path}")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": layout.height,
            "n_dmso_wells": n_dmso,
            "n_perturbations": layout[BROAD_SAMPLE].drop_nulls().n_unique(),
            "wells_by_control_type": dg.MetadataValue.md(frame_to_markdown(by_type)),
            "preview": dg.MetadataValue.md(frame_to_markdown(layout.head(8))),
            "path": dg.MetadataValue.path(str(path)),
        }
    )
    yield dg.AssetCheckResult(
        check_name=DMSO_WELLS_PRESENT,
        passed=n_dmso > 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"plate": plate, "n_dmso_wells": n_dmso},
        description=f"plate {plate}: {n_dmso} DMSO (negcon) wells" if n_dmso
        else f"plate {plate}: {folder}: the platemap has no DMSO (negcon) well",
    )


def _intensity_heatmaps(table: pl.DataFrame, channel_name: str = "DNA") -> str:
    """Plate maps of mean intensity per well, one per plate: edge and gradient effects show at once."""
    pictures = []
    by_well = (
        table.filter(pl.col("channel_name") == channel_name)
        .group_by(PLATE, WELL).agg(pl.col("mean_intensity").mean())
    )
    for (plate,), wells in by_well.sort(PLATE).group_by(PLATE, maintain_order=True):
        axes = plate_heatmap(dict(wells.select(WELL, "mean_intensity").iter_rows()),
                             title=f"{plate}: mean {channel_name} intensity per well", colorbar_label="counts")
        png = to_png(axes.figure)
        pictures.append(png_markdown(png, f"{plate} {channel_name} plate map"))
    return "\n\n".join(pictures) if pictures else "no images"


@dg.asset(
    description="Every image file of each well, with pixel statistics and QC flags (saturation, focus).",
    partitions_def=plate_well_partitions,
    # One run per plate: Dagster spends seconds per run, which would be minutes per plate per well.
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Follows its plate's layout: the new-plate sensor's plate-level run brings the wells after it.
    deps=["plate_layout"],
    automation_condition=PER_PLATE,
    tags=WELL_LEVEL,
    group_name="ingest",
    kinds={"parquet"},
    check_specs=[
        dg.AssetCheckSpec(ALL_WELLS_INGESTED, asset="raw_images",
                          description="Every requested well with images was read and written."),
        dg.AssetCheckSpec(IMAGE_QC, asset="raw_images",
                          description="No image is heavily saturated or far out of focus for its plate and channel."),
    ],
)
def raw_images(context: dg.AssetExecutionContext, lake: LakeResource,
               worker_pool: dg.ResourceParam[tasks.WorkerPool]) -> Iterator:
    """One row per site and channel: file path, shape, dtype, pixel mean/std/min/max (fractions of full scale), QC.

    QC columns: ``saturated_fraction`` (pixels at the full scale) and ``power_log_log_slope``
    (CellProfiler's focus score). Written per well under ``wells/raw_images/`` and compacted to
    one file per plate under ``raw_images/`` for SQL. A well with a corrupt, missing or duplicated
    file is skipped and recorded in ``errors/raw_images/``; the other wells go on.
    """
    store = lake.lake()

    def task(index: PlateIndex, well: str) -> tasks.IngestTask:
        return tasks.IngestTask(well=well, lake_root=str(store.root), plate=index.barcode,
                                image_rows=index.well_images(well).to_dicts())

    summaries = run_per_well(context, lake, worker_pool, schema.RAW_IMAGES, tasks.ingest_well, task,
                             record_plate_problems=True)
    plates = [summary.plate for summary in summaries]
    table = plate_tables(lake, schema.RAW_IMAGES, plates)
    if table.is_empty():
        table = pl.DataFrame(schema=tasks.RAW_IMAGES_SCHEMA)
    per_channel = (
        table.group_by("channel", "channel_name").agg(
            pl.len().alias("images"),
            pl.col("mean_intensity").mean().alias("mean_intensity"),
            pl.col("std_intensity").mean().alias("mean_std"),
            pl.col("saturated_fraction").max().alias("max_saturated_fraction"),
            pl.col("power_log_log_slope").median().alias("median_focus_slope"),
        ).sort("channel")
    )
    errors = pl.concat([summary.errors for summary in summaries if summary.errors is not None])
    requested = sum(summary.requested for summary in summaries)
    context.log.info(f"raw_images: {sum(s.succeeded for s in summaries)}/{requested} wells ingested over {len(plates)} plate(s)")
    yield dg.MaterializeResult(
        metadata={
            **summary_metadata(summaries, table.drop("path")),
            "per_channel": dg.MetadataValue.md(frame_to_markdown(per_channel)),
            "plot_dna_intensity_by_well": dg.MetadataValue.md(figure_markdown(_intensity_heatmaps(table),
                "Mean DNA intensity per well on the 384-well plate map, one map per plate: edge and gradient effects "
                "show as patterns.")),
            "lake_paths": dg.MetadataValue.md("\n".join(f"- `{store.plate_file(schema.RAW_IMAGES, p)}`" for p in plates)),
        }
    )
    yield wells_ingested_result(errors, requested, plates)
    yield image_qc_result(table)
