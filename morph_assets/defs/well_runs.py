"""Shared machinery of per-well assets: run a lib task over a plate's wells in the worker pool,
record failures, compact the plate, and describe the result as Dagster metadata."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import polars as pl

from morph_assets.defs.partitions import wells_by_plate
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import PlateError, PlateIndex, read_plate
from morph_assets.lib.report import frame_to_markdown
from morph_assets.lib.schema import ERROR_FILE, ERROR_MESSAGE, ERROR_TABLE, PLATE, WELL
from morph_assets.lib.tasks import WellOutcome, WellTask, WorkerPool, map_wells, one_line
from morph_assets.resources import LakeResource

Task = TypeVar("Task", bound=WellTask)


@dataclass
class PlateRunSummary:
    """What one plate's part of a per-well run did."""

    plate: str
    requested: int
    outcomes: list[WellOutcome] = field(default_factory=list)
    errors: pl.DataFrame | None = None
    seconds: float = 0.0

    @property
    def succeeded(self) -> int:
        return sum(outcome.ok for outcome in self.outcomes)

    @property
    def failed_wells(self) -> list[str]:
        return sorted({row[WELL] for row in (self.errors.to_dicts() if self.errors is not None else [])
                       if row[WELL] is not None})


def file_note(file: str | None, error: str | None) -> str:
    """``" (<file>)"`` to name the failing file in a line, or nothing when the reason names it already."""
    return f" ({file})" if file and file not in (error or "") else ""


def progress_logger(context: dg.AssetExecutionContext, label: str, started: float) -> Callable[[int, int, WellOutcome], None]:
    """Log failures at once and about ten progress lines per plate."""
    step = 1

    def log(done: int, total: int, outcome: WellOutcome) -> None:
        nonlocal step
        if not outcome.ok:
            # First line: the one-line reason (what the terminal and the errors table show);
            # the traceback follows for the run log in the UI.
            where = file_note(outcome.file, outcome.error)
            context.log.error(
                f"{label} well {outcome.well} failed{where}: {outcome.error}\n{outcome.traceback or ''}".rstrip())
        if done == total or done >= step * max(1, total // 10):
            step += 1
            elapsed = time.perf_counter() - started
            context.log.info(f"{label}: {done}/{total} wells ({100 * done // total}%), {elapsed:.1f} s elapsed, "
                             f"~{elapsed / done * (total - done):.0f} s left")

    return log


def read_plate_or_fail(lake: LakeResource, plate: str) -> PlateIndex:
    """Index the plate folder, turning a plate-level problem into a clear run failure."""
    folder = lake.plate_folder(plate)
    try:
        return read_plate(folder)
    except PlateError as error:
        raise plate_failure(plate, folder, error) from error


def plate_failure(plate: str, folder: Path, error: Exception) -> dg.Failure:
    """A plate-level problem as a run failure: the error's message, which names the file, the
    value and the fix, on one line (the CLI prints it as is; the UI shows it as the step's failure)."""
    return dg.Failure(
        description=one_line(str(error)),
        metadata={"plate": plate, "plate_folder": dg.MetadataValue.path(str(folder))},
    )


def run_per_well(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    pool: WorkerPool,
    table: str,
    function: Callable[[Task], int],
    task: Callable[[PlateIndex, str], Task],
    *,
    wells_needing: str | Callable[[PlateIndex], str | None] | None = None,
    compact_tables: tuple[str, ...] = (),
    before_plate: Callable[[PlateIndex], None] | None = None,
    record_plate_problems: bool = False,
) -> list[PlateRunSummary]:
    """Run ``function(task(index, well))`` over every requested well of every plate, in ``pool``.

    Parameters
    ----------
    pool : WorkerPool
        The run's workers (the ``worker_pool`` resource).
    table : str
        The lake table the function writes (its failures go to ``errors/<table>``).
    wells_needing : str or callable, optional
        Only wells that have a file in this upstream table are processed (e.g. ``"masks"``);
        the others are recorded as failed with the reason. A callable decides per plate.
    compact_tables : tuple of str
        Tables to compact per plate afterwards (``table`` itself is always compacted).
    before_plate : callable, optional
        Called with the plate index before its wells run (e.g. to prepare plate-level inputs).
    record_plate_problems : bool
        Record the plate folder's own problems (missing channel, duplicate file, stray file) as
        failures of this table: set by the asset that reads the folder first (``raw_images``).
    """
    store: Lake = lake.lake()
    summaries = []
    for plate, wells in wells_by_plate(context).items():
        started = time.perf_counter()
        index = read_plate_or_fail(lake, plate)
        if before_plate is not None:
            before_plate(index)
        imaged = set(index.wells())
        candidates = [well for well in wells if well in imaged]
        skipped: list[dict] = []
        if record_plate_problems:
            problems = index.problems_by_well()
            skipped += [problem.as_record(table, plate) for well in wells for problem in problems.get(well, [])]
            for problem in problems.get(None, []):
                context.log.warning(f"plate {plate}: {problem.file}: {problem.error}")
                skipped.append(problem.as_record(table, plate))
            for record in skipped:
                if record[WELL] is not None:
                    context.log.error(f"plate {plate} well {record['Metadata_Well']} skipped: {record['error']}")
        upstream = wells_needing(index) if callable(wells_needing) else wells_needing
        if upstream is not None:
            present = set(store.wells_present(upstream, plate))
            skipped = [{ERROR_TABLE: table, PLATE: plate, WELL: well, ERROR_FILE: "",
                        ERROR_MESSAGE: f"no {upstream} for this well yet (materialize {upstream} first)"}
                       for well in candidates if well not in present]
            candidates = [well for well in candidates if well in present]
        context.log.info(f"{table} {plate}: {len(candidates)} wells with {pool.workers} workers")
        outcomes = map_wells(function, [task(index, well) for well in candidates], pool,
                             progress=progress_logger(context, f"{table} {plate}", started))
        errors = skipped + [
            {ERROR_TABLE: table, PLATE: plate, WELL: outcome.well, ERROR_FILE: outcome.file or "",
             ERROR_MESSAGE: outcome.error or ""}
            for outcome in outcomes if not outcome.ok
        ]
        previous = store.errors_file(table, plate)
        if previous.exists():  # errors of wells outside this run stay on record
            errors += pl.read_parquet(previous).filter(
                ~pl.col(WELL).is_in(wells) & pl.col(WELL).is_not_null()
            ).to_dicts()
        error_frame = store.write_errors(table, plate, errors)
        for name in (table, *compact_tables):
            if store.wells_present(name, plate):
                store.compact_plate(name, plate)
        add_well_metadata(context, store, table, plate, wells, imaged, error_frame)
        summaries.append(PlateRunSummary(plate, len(wells), outcomes, error_frame, time.perf_counter() - started))
    if summaries and all(s.succeeded == 0 for s in summaries) and any(s.failed_wells for s in summaries):
        raise no_well_succeeded(table, summaries)
    return summaries


def add_well_metadata(context: dg.AssetExecutionContext, store: Lake, table: str, plate: str, wells: list[str],
                      imaged: set[str], errors: pl.DataFrame | None) -> None:
    """Give each well partition of the run its own numbers: its rows in ``table`` and its outcome.

    A single-run range records one materialization per well; without this every well would show
    the whole run's metadata (a well "with" 1920 rows). Dagster merges the metadata added here
    over the run's own for that partition only (``add_asset_metadata(partition_key=...)``),
    at about 16 ms per well (measured), small beside the well's own work.
    """
    file = store.plate_file(table, plate)
    rows = (dict(pl.read_parquet(file, columns=[WELL])[WELL].value_counts().rows())
            if file.exists() else {})
    reasons = ({} if errors is None or errors.is_empty() else
               dict(errors.filter(pl.col(WELL).is_not_null()).unique(WELL, keep="first")
                    .select(WELL, ERROR_MESSAGE).rows()))
    keys = {str(key): key for key in context.partition_keys}
    for well in wells:
        reason = reasons.get(well)
        if reason is not None:
            status = f"failed: {reason}"
        else:
            status = "succeeded" if well in imaged else "no images of this well in the plate folder"
        context.add_asset_metadata({"dagster/row_count": int(rows.get(well, 0)), "well_status": status},
                                   partition_key=keys[f"{plate}|{well}"])


def no_well_succeeded(table: str, summaries: list[PlateRunSummary]) -> dg.Failure:
    """The run failure of a per-well asset none of whose wells succeeded, as one line.

    The description names the table, the plate, the count, the first well, its file and reason,
    and where every failure is listed (the ``errors`` SQL view, the lake's ``errors/<table>``).
    """
    failures = pl.concat([s.errors for s in summaries if s.errors is not None])
    # The first well that ran and raised says more than one skipped for want of upstream files.
    raised = [outcome for s in summaries for outcome in s.outcomes if not outcome.ok]
    first = (
        {WELL: raised[0].well, ERROR_FILE: raised[0].file or "", ERROR_MESSAGE: raised[0].error} if raised
        else failures.filter(pl.col(WELL).is_not_null()).row(0, named=True)
    )
    plates = sorted({s.plate for s in summaries if s.failed_wells})
    n_failed = sum(len(s.failed_wells) for s in summaries)
    description = (
        f"{table}: no well succeeded on plate {', '.join(plates)} ({n_failed} failed); first: well "
        f"{first['Metadata_Well']}{file_note(first['file'], first['error'])}: {first['error']}; "
        f"every failure: the errors SQL view or errors/{table}/ in the lake"
    )
    return dg.Failure(description=description, metadata={
        "n_wells_failed": n_failed,
        "failures": dg.MetadataValue.md(frame_to_markdown(failures.drop(ERROR_TABLE))),
    })


def plate_tables(lake: LakeResource, table: str, plates: list[str]) -> pl.DataFrame:
    """The compacted table of ``plates`` (empty frame when none has a file yet)."""
    store = lake.lake()
    frames = [pl.read_parquet(store.plate_file(table, plate)) for plate in plates if store.plate_file(table, plate).exists()]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def summary_metadata(summaries: list[PlateRunSummary], table: pl.DataFrame) -> dict[str, Any]:
    """The run's metadata, per plate: row count, wells done and failed, a per-plate table and a preview.

    Every well partition of the run carries these; its own row count and outcome come from
    :func:`add_well_metadata` and replace ``dagster/row_count`` for that well.
    """
    per_plate = pl.DataFrame([
        {"plate": s.plate, "requested": s.requested, "succeeded": s.succeeded, "failed": len(s.failed_wells),
         "seconds": round(s.seconds, 1)} for s in summaries
    ])
    failures = pl.concat([s.errors for s in summaries if s.errors is not None and not s.errors.is_empty()] or [pl.DataFrame()])
    # Each well partition gets its own dagster/row_count and well_status (add_well_metadata); the
    # keys below describe the whole run, so their names say "plate".
    return {
        "dagster/row_count": table.height,
        "plate_row_count": table.height,
        "plate_wells_succeeded": sum(s.succeeded for s in summaries),
        "plate_wells_failed": sum(len(s.failed_wells) for s in summaries),
        "plate_summary": dg.MetadataValue.md(frame_to_markdown(per_plate)),
        "plate_failures": dg.MetadataValue.md(frame_to_markdown(failures.drop(ERROR_TABLE), max_rows=50)
                                              if not failures.is_empty() else "none"),
        "plate_preview": dg.MetadataValue.md(
            "First rows of the plate's table (first 12 columns)\n\n"
            + frame_to_markdown(table.select(table.columns[:12]).head(8)) if table.height else "empty"),
    }
