"""Ingest assets: a plate's layout, and its raw images indexed with pixel statistics and QC."""


import time
from collections.abc import Iterator

import dagster as dg
import polars as pl

from morph_assets.defs.ingest.checks import (
    ALL_WELLS_INGESTED,
    DMSO_WELLS_PRESENT,
    IMAGE_QC,
    image_qc_result,
    wells_ingested_result,
)
from morph_assets.defs.jobs import PLATE_LEVEL, WELL_LEVEL
from morph_assets.defs.partitions import plate_well_partitions, plates_partitions, wells_by_plate
from morph_assets.lib import raw_images as raw_images_lib
from morph_assets.lib.lake import atomic_write_parquet
from morph_assets.lib.layout import NEGATIVE_CONTROL
from morph_assets.lib.markdown import frame_to_markdown
from morph_assets.lib.parallel import WellOutcome, map_wells
from morph_assets.lib.plots import plate_heatmap_png, png_markdown
from morph_assets.lib.plates import PlateError, PlateIndex, read_plate, read_plate_layout
from morph_assets.resources import LakeResource

PLATE_LAYOUT_TABLE = "plate_layout"


@dg.asset(
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
        raise dg.Failure(description=str(error)) from error
    path = atomic_write_parquet(layout, lake.lake().plate_file(PLATE_LAYOUT_TABLE, plate))
    by_type = (
        layout.group_by(pl.col("Metadata_control_type").fill_null("treatment"))
        .agg(pl.len().alias("wells"), pl.col("Metadata_broad_sample").n_unique().alias("perturbations"))
        .sort("Metadata_control_type")
    )
    n_dmso = layout.filter(pl.col("Metadata_control_type") == NEGATIVE_CONTROL).height
    context.log.info(f"plate {plate}: {layout.height} wells, {n_dmso} DMSO, written to {path}")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": layout.height,
            "n_dmso_wells": n_dmso,
            "n_perturbations": layout["Metadata_broad_sample"].drop_nulls().n_unique(),
            "wells_by_control_type": dg.MetadataValue.md(frame_to_markdown(by_type)),
            "preview": dg.MetadataValue.md(frame_to_markdown(layout.head(8))),
            "path": dg.MetadataValue.path(str(path)),
        }
    )
    yield dg.AssetCheckResult(
        check_name=DMSO_WELLS_PRESENT,
        passed=n_dmso > 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"n_dmso_wells": n_dmso},
        description=None if n_dmso else f"{folder}: the platemap has no DMSO (negcon) well",
    )


def _progress_logger(context: dg.AssetExecutionContext, plate: str, started: float):
    step = 1

    def log(done: int, total: int, outcome: WellOutcome) -> None:
        nonlocal step
        if not outcome.ok:
            context.log.error(f"plate {plate} well {outcome.well} failed: {outcome.error}")
        # About ten progress lines per plate, plus the last one.
        if done == total or done >= step * max(1, total // 10):
            step += 1
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (total - done)
            context.log.info(f"plate {plate}: {done}/{total} wells ({100 * done // total}%), {elapsed:.1f} s elapsed, ~{eta:.0f} s left")

    return log


def _ingest_plate(context: dg.AssetExecutionContext, lake: LakeResource, plate: str, wells: list[str]) -> dict:
    started = time.perf_counter()
    store = lake.lake()
    try:
        index: PlateIndex = read_plate(lake.plate_folder(plate))
    except PlateError as error:
        raise dg.Failure(description=str(error)) from error
    problems = index.problems_by_well()
    imaged = set(index.wells())
    to_ingest = [well for well in wells if well in imaged]
    rows_by_well = {well: index.well_images(well).to_dicts() for well in to_ingest}
    context.log.info(f"plate {plate}: ingesting {len(to_ingest)} of {len(wells)} requested wells with {lake.n_workers()} workers")
    outcomes = map_wells(
        raw_images_lib.ingest_well, to_ingest,
        lambda well: (str(store.root), plate, rows_by_well[well]),
        workers=lake.n_workers(), progress=_progress_logger(context, plate, started),
    )
    errors = [problem.as_record(raw_images_lib.TABLE, plate) for well in wells for problem in problems.get(well, [])]
    errors += [problem.as_record(raw_images_lib.TABLE, plate) for problem in problems.get(None, [])]
    errors += [
        {"table": raw_images_lib.TABLE, "Metadata_Plate": plate, "Metadata_Well": outcome.well,
         "file": outcome.file or "", "error": outcome.error or ""}
        for outcome in outcomes if not outcome.ok
    ]
    # Errors of wells outside this run stay on record until those wells are run again.
    previous_path = store.errors_file(raw_images_lib.TABLE, plate)
    if previous_path.exists():
        kept = pl.read_parquet(previous_path).filter(~pl.col("Metadata_Well").is_in(wells) & pl.col("Metadata_Well").is_not_null())
        errors += kept.to_dicts()
    error_frame = store.write_errors(raw_images_lib.TABLE, plate, errors)
    for problem in problems.get(None, []):
        context.log.warning(f"plate {plate}: {problem.file}: {problem.error}")
    for record in errors:
        if record["Metadata_Well"] in wells and record["Metadata_Well"] not in {o.well for o in outcomes}:
            context.log.error(f"plate {plate} well {record['Metadata_Well']} skipped: {record['error']}")

    compacted_rows = 0
    if store.wells_present(raw_images_lib.TABLE, plate):
        _, compacted_rows = store.compact_plate(raw_images_lib.TABLE, plate)
    return {
        "plate": plate,
        "requested": len(wells),
        "ingested": sum(outcome.ok for outcome in outcomes),
        "failed_wells": sorted({record["Metadata_Well"] for record in error_frame.to_dicts() if record["Metadata_Well"] in wells}),
        "not_imaged": sorted(set(wells) - imaged - set(problems)),
        "rows": sum(outcome.rows for outcome in outcomes),
        "compacted_rows": compacted_rows,
        "seconds": time.perf_counter() - started,
        "errors": error_frame,
    }


def _intensity_heatmaps(table: pl.DataFrame, channel_name: str = "DNA") -> str:
    """Plate maps of mean intensity per well, one per plate: edge and gradient effects show at once."""
    pictures = []
    by_well = (
        table.filter(pl.col("channel_name") == channel_name)
        .group_by("Metadata_Plate", "Metadata_Well").agg(pl.col("mean_intensity").mean())
    )
    for (plate,), wells in by_well.sort("Metadata_Plate").group_by("Metadata_Plate", maintain_order=True):
        png = plate_heatmap_png(dict(wells.select("Metadata_Well", "mean_intensity").iter_rows()),
                                title=f"{plate}: mean {channel_name} intensity per well", colorbar_label="counts")
        pictures.append(png_markdown(png, f"{plate} {channel_name} plate map"))
    return "\n\n".join(pictures) if pictures else "no images"


@dg.asset(
    partitions_def=plate_well_partitions,
    # One run per plate: Dagster spends seconds per run, which would be minutes per plate per well.
    backfill_policy=dg.BackfillPolicy.single_run(),
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
def raw_images(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator:
    """One row per site and channel: file path, shape, dtype, pixel mean/std/min/max, QC.

    QC columns: ``saturated_fraction`` (pixels at the dtype's maximum) and ``power_log_log_slope``
    (CellProfiler's focus score). Written per well under ``wells/raw_images/`` and compacted to
    one file per plate under ``raw_images/`` for SQL. A well with a corrupt, missing or duplicated
    file is skipped and recorded in ``errors/raw_images/``; the other wells go on.
    """
    store = lake.lake()
    summaries = [_ingest_plate(context, lake, plate, wells) for plate, wells in wells_by_plate(context).items()]
    requested = sum(summary["requested"] for summary in summaries)
    ingested = sum(summary["ingested"] for summary in summaries)
    if ingested == 0 and any(summary["failed_wells"] for summary in summaries):
        first = next(summary["errors"] for summary in summaries if summary["failed_wells"])
        raise dg.Failure(description=f"no well could be ingested; first error: {first['error'][0]}")

    plates = [summary["plate"] for summary in summaries]
    frames = [pl.read_parquet(store.plate_file(raw_images_lib.TABLE, plate)) for plate in plates
              if store.plate_file(raw_images_lib.TABLE, plate).exists()]
    table = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=raw_images_lib.RAW_IMAGES_SCHEMA)
    per_channel = (
        table.group_by("channel", "channel_name").agg(
            pl.len().alias("images"),
            pl.col("mean_intensity").mean().alias("mean_intensity"),
            pl.col("std_intensity").mean().alias("mean_std"),
            pl.col("saturated_fraction").max().alias("max_saturated_fraction"),
            pl.col("power_log_log_slope").median().alias("median_focus_slope"),
        ).sort("channel")
    )
    errors = pl.concat([summary["errors"] for summary in summaries])
    heatmaps = _intensity_heatmaps(table)
    run_summary = pl.DataFrame([{key: summary[key] for key in ("plate", "requested", "ingested", "rows", "compacted_rows")}
                                | {"failed": len(summary["failed_wells"]), "seconds": round(summary["seconds"], 1)}
                                for summary in summaries])
    context.log.info(f"raw_images: {ingested}/{requested} wells ingested over {len(plates)} plate(s)")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "n_wells_requested": requested,
            "n_wells_ingested": ingested,
            "n_wells_failed": errors["Metadata_Well"].drop_nulls().n_unique(),
            "plates": dg.MetadataValue.md(frame_to_markdown(run_summary)),
            "per_channel": dg.MetadataValue.md(frame_to_markdown(per_channel)),
            "preview": dg.MetadataValue.md(frame_to_markdown(table.drop("path").head(10))),
            "dna_intensity_by_well": dg.MetadataValue.md(heatmaps),
            "lake_paths": dg.MetadataValue.md("\n".join(f"- `{store.plate_file(raw_images_lib.TABLE, p)}`" for p in plates)),
        }
    )
    yield wells_ingested_result(errors, requested)
    yield image_qc_result(table)
