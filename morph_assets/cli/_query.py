"""Reading the lake from the command line: SQL queries over the DuckDB views, and the run summary."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence

import duckdb
import polars as pl

from morph_assets.cli._runs import IngestReport, RunOutcome, _say
from morph_assets.lib.report import render
from morph_assets.lib.schema import ERROR_TABLE, PLATE, RAW_IMAGES, WELL
from morph_assets.paths import default_lake_root


def _query(sql: str) -> pl.DataFrame:
    lake_db = default_lake_root() / "lake.duckdb"
    if not lake_db.exists():
        raise SystemExit(f"{lake_db} does not exist yet: run `make demo` (or `morph-assets views`) first")
    with duckdb.connect(str(lake_db), read_only=True) as connection:
        return connection.sql(sql).pl()

#: Rows ``sql`` prints by default in the formats meant for reading (table, markdown).
TABLE_ROWS = 50


def _terminal_width() -> int | None:
    """The terminal's width, or None when stdout is not a terminal (a file or a pipe keeps whole lines)."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def print_query_result(result: pl.DataFrame, fmt: str = "table", max_rows: int | None = None) -> None:
    """Print a query's rows in ``fmt`` (see :data:`morph_assets.lib.report.FORMATS`), values whole.

    Parameters
    ----------
    result : pl.DataFrame
        The rows.
    fmt : str
        ``"table"`` (aligned, one block per row when wider than the terminal), ``"csv"``,
        ``"markdown"`` or ``"json"``.
    max_rows : int, optional
        Rows printed; default :data:`TABLE_ROWS` for table and markdown, every row for csv and
        json. The count of rows left out goes to stderr, so csv and json output stays parseable.
    """
    limit = max_rows if max_rows is not None else (TABLE_ROWS if fmt in ("table", "markdown") else None)
    shown = result if limit is None else result.head(limit)
    print(render(shown, fmt, width=_terminal_width()))
    if shown.height < result.height:
        print(f"({result.height - shown.height} more rows of {result.height}; --max-rows {result.height} shows all)",
              file=sys.stderr)


def _views() -> list[str]:
    """The views of the lake's database (none when it does not exist yet or cannot be opened)."""
    if not (default_lake_root() / "lake.duckdb").exists():
        return []
    try:
        views = _query("select table_name from information_schema.tables where table_type = 'VIEW' order by 1")
    except duckdb.Error as error:  # e.g. another process holds the database for writing
        _say(f"the SQL views cannot be read: {' '.join(str(error).split())}")
        return []
    return views["table_name"].to_list()


def _build_missing_views() -> None:
    """Create the SQL models' views that the lake's database lacks and whose tables now exist.

    The automation builds the views with the study, after a plate's profiles; a lake whose only
    plate failed before its profiles has none, yet its ``errors`` view is what the failure lines
    point to. A view reads its tables through globs, so building it once is enough. Says what it
    built on stderr; a database held by another writer leaves the views as they are.
    """
    from morph_assets.lib.io import Lake, build_views, load_models
    from morph_assets.paths import sql_models_dir

    if not default_lake_root().is_dir():
        return
    missing = sorted(set(load_models(sql_models_dir())) - set(_views()))
    if not missing:
        return
    try:
        report = build_views(Lake(default_lake_root()), sql_models_dir(), only=missing)
    except duckdb.Error as error:
        _say(f"missing SQL views not built: {' '.join(str(error).split())}")
        return
    if report.built:
        print(f"[morph-assets] built missing view(s) first: {', '.join(report.built)}", file=sys.stderr)


def plate_counts(plates: Sequence[str]) -> pl.DataFrame:
    """Per plate: wells and images in the lake, and wells with a failure on record, read from the
    lake's Parquet files (so the count holds when the SQL views could not be built).

    A well counts as failed when any per-well stage recorded it in ``errors/<table>`` in its
    latest run (ingest, masks, features, tensors), not only when its images could not be read.

    Returns
    -------
    polars.DataFrame
        Columns ``Metadata_Plate``, ``wells_ingested``, ``images``, ``wells_failed``,
        ``failed_stages`` (the tables with failures, comma-separated).
    """
    from morph_assets.lib.io import Lake

    lake = Lake(default_lake_root())
    rows = []
    for plate in plates:
        images = lake.plate_file(RAW_IMAGES, plate)
        table = (pl.read_parquet(images, columns=[WELL]) if images.exists()
                 else pl.DataFrame({WELL: []}))
        errors = lake.read_errors(plate).filter(pl.col(WELL).is_not_null())
        rows.append({
            PLATE: plate, "wells_ingested": table[WELL].n_unique(), "images": table.height,
            "wells_failed": errors[WELL].n_unique(),
            "failed_stages": ", ".join(sorted(set(errors[ERROR_TABLE].to_list()))),
        })
    return pl.DataFrame(rows, schema={PLATE: pl.String, "wells_ingested": pl.Int64, "images": pl.Int64,
                                      "wells_failed": pl.Int64, "failed_stages": pl.String})


def summary(started: float, plates: Sequence[str], report: IngestReport | None = None) -> bool:
    """Print plates, wells, images, failures and rows per view, and the wall time.

    Returns
    -------
    bool
        True when no run failed and no well of ``plates`` has a failure on record.
    """
    counts = plate_counts(plates)
    views = _views()
    width = _terminal_width()
    print("\nPlates\n" + render(counts, "table", width=width))
    rows = []
    for name in views:
        try:
            rows.append({"view": name, "rows": _query(f'select count(*) as n from "{name}"')["n"][0]})
        except duckdb.Error as error:  # a view whose Parquet files went away: say so, go on
            rows.append({"view": name, "rows": None})
            _say(f"view {name} cannot be read: {' '.join(str(error).split())}")
    if rows:
        print(f"\nRows per table (DuckDB views in {default_lake_root() / 'lake.duckdb'})\n"
              + render(pl.DataFrame(rows, schema={"view": pl.String, "rows": pl.Int64}), "table", width=width))
    for name, title in (
        ("segmentation_by_plate", "Segmentation (AP@0.5 and F1 against the generator's ground truth)"),
        ("map_headline", "Replicate retrieval (mAP = mean over treatments of each treatment's mAP; "
                         "retrieved = fraction of treatments with q < 0.05)"),
        ("classifier_headline", "Treatment classifiers on held-out wells (balanced accuracy = mean recall per "
                                "treatment)"),
    ):
        if name in views:
            try:
                print(f"\n{title}\n" + render(_query(f"select * from {name}"), "table", width=width))
            except duckdb.Error as error:
                _say(f"view {name} cannot be read: {' '.join(str(error).split())}")
    failed_runs = report.failed_runs if report is not None else []
    n_runs = len(report.runs) if report is not None else 0
    failed_wells = int(counts["wells_failed"].sum())
    _say(f"{counts.height} plates, {int(counts['wells_ingested'].sum())} wells, {int(counts['images'].sum())} images "
         f"ingested; {failed_wells} wells failed; {len(failed_runs)} of {n_runs} runs failed"
         + (f" ({', '.join(_run_name(run) for run in failed_runs)})" if failed_runs else "")
         + f"; wall time {time.perf_counter() - started:.0f} s")
    print("\nNext: `make ui` opens Dagster at http://127.0.0.1:3000;  "
          "`.venv/bin/morph-assets sql \"select * from errors\"` lists every failed well.")
    return not failed_runs and failed_wells == 0


def _run_name(run: RunOutcome) -> str:
    return f"{run.label} of {run.plate}" if run.plate else run.label
