"""Command line: ``morph-assets demo | ingest | views | sql | generate``.

``demo`` is the README's first command: it generates the embedded CPJUMP1-shaped plates (once),
registers them as Dagster partitions, materializes every asset for each plate in a persistent
Dagster instance (so the UI shows the runs afterwards) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import duckdb

from morph_assets.cli._query import TABLE_ROWS, _build_missing_views, _query, plate_counts, print_query_result, summary
from morph_assets.cli._runs import CLI_RUN_TAG, IngestReport, _progress_printer, _say, ingest, run_failures
from morph_assets.lib.report import FORMATS
from morph_assets.paths import default_lake_root, default_source_root


def generate(args: argparse.Namespace) -> list[str]:
    """Generate the embedded plates into the source root unless they are there already."""
    from morph_assets.lib.tasks import default_workers
    from morph_assets.lib.synthetic import SyntheticConfig, generate_plates

    overrides = {key: value for key, value in (
        ("n_plates", args.plates), ("sites_per_well", args.sites), ("image_size", args.image_size), ("seed", args.seed),
    ) if value is not None}
    if args.wells:
        overrides["wells"] = tuple(args.wells.split(","))
    config = SyntheticConfig.full_size(**overrides) if args.full_size else SyntheticConfig(**overrides)
    source = default_source_root()
    existing = [barcode for barcode in config.barcodes() if (source / barcode).exists()]
    for barcode in existing:
        recorded = json.loads((source / barcode / "plate.json").read_text()).get("generator", {})
        if recorded.get("image_size") != config.image_size or recorded.get("sites_per_well") != config.sites_per_well:
            _say(f"note: {source / barcode} was generated with other settings ({recorded.get('image_size')} px, "
                 f"{recorded.get('sites_per_well')} sites); it is kept. Delete it to regenerate.")
    missing = len(config.barcodes()) - len(existing)
    if missing:
        _say(f"generating {missing} synthetic plate(s) of {len(config.selected_wells())} wells x {config.sites_per_well} "
             f"sites, {config.image_size}x{config.image_size} px, into {source}")
    generate_plates(config, source, workers=args.workers or default_workers(), progress=_progress_printer("generating"))
    return config.barcodes()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Library warnings (a division by zero in a shape feature, ...) on one line each, like the rest."""
    text = " ".join(str(message).split())
    print(f"[morph-assets] warning: {category.__name__}: {text} ({Path(filename).name}:{lineno})",
          file=sys.stderr if file is None else file, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``morph-assets`` command."""
    parser = argparse.ArgumentParser(prog="morph-assets", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def add_generation_options(command: argparse.ArgumentParser) -> None:
        from morph_assets.lib.synthetic import SyntheticConfig

        demo_plates = SyntheticConfig()  # the demo's plates are the generator's defaults
        command.add_argument("--plates", type=int, help=f"replicate plates (default {demo_plates.n_plates})")
        command.add_argument("--wells", help="comma-separated wells (default: all 384)")
        command.add_argument("--sites", type=int, help=f"sites per well (default {demo_plates.sites_per_well})")
        command.add_argument("--image-size", type=int,
                             help=f"image side in pixels (default {demo_plates.image_size})")
        command.add_argument("--seed", type=int, help=f"generator seed (default {demo_plates.seed})")
        command.add_argument("--full-size", action="store_true", help="real CPJUMP1 size: 1080x1080, 9 sites, brightfield")
        command.add_argument("--workers", type=int, help="worker processes (default: one per CPU)")
        command.add_argument("--segmenter", default="classical", choices=["classical", "cellpose", "imported"],
                             help="how masks are made (cellpose: trains models first; "
                                  "~2 s per 192 x 192 px of image on a CPU)")
        add_log_level(command)

    def add_log_level(command: argparse.ArgumentParser) -> None:
        command.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING"],
                             help="lowest level of the assets' own messages shown "
                                  "(default WARNING; failures always show)")

    demo = commands.add_parser("demo", help="generate the embedded plates, run every asset, print a summary")
    add_generation_options(demo)
    generate_command = commands.add_parser("generate", help="only generate the embedded plates into the source folder")
    add_generation_options(generate_command)
    ingest_command = commands.add_parser("ingest", help="register plate folders of the source root and run every asset")
    ingest_command.add_argument("plates", nargs="+", help="plate barcodes (folder names under the source root)")
    ingest_command.add_argument("--workers", type=int)
    ingest_command.add_argument("--segmenter", default="classical", choices=["classical", "cellpose", "imported"])
    add_log_level(ingest_command)
    commands.add_parser("views", help="rebuild the DuckDB views from dbt_style_sql/")
    sql = commands.add_parser("sql", help="run a read-only SQL query against the lake and print the result")
    sql.add_argument("query")
    sql.add_argument("--format", default="table", choices=FORMATS,
                     help="table: aligned columns, one block per row when wider than the terminal (default); "
                          "csv, markdown, json: for files and other programs. Values are never shortened.")
    sql.add_argument("--max-rows", type=int, default=None,
                     help=f"rows printed (default: {TABLE_ROWS} for table and markdown, all for csv and json)")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():  # the settings below last as long as the command
        # Beta/preview notices about Dagster's own API (backfill policies) are for us, not for users.
        warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
        warnings.showwarning = _show_warning
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    if args.command == "sql":
        _build_missing_views()
        try:
            result = _query(args.query)
        except duckdb.Error as error:
            raise SystemExit(f"morph-assets sql: {' '.join(str(error).split())}") from error
        print_query_result(result, args.format, args.max_rows)
        return 0
    if args.command == "views":
        from morph_assets.lib.io import Lake
        from morph_assets.lib.io import build_views
        from morph_assets.paths import sql_models_dir

        report = build_views(Lake(default_lake_root()), sql_models_dir())
        _say(f"built {len(report.built)} view(s): {', '.join(report.built)}")
        for name, reason in report.skipped.items():
            _say(f"skipped {name}: {reason}")
        for name, error in report.failed.items():
            _say(f"FAILED view {name}: {' '.join(error.split())}")
        return 1 if report.failed else 0
    started = time.perf_counter()
    if args.command == "generate":
        generate(args)
        return 0
    plates = generate(args) if args.command == "demo" else args.plates
    from morph_assets.lib.tasks import WorkerPool

    # Every run's steps run in this process: one pool for them all keeps the workers warm.
    with WorkerPool(args.workers or None) as pool:
        report = ingest(plates, workers=args.workers, segmenter=args.segmenter, log_level=args.log_level, pool=pool)
    return 0 if summary(started, plates, report) else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "CLI_RUN_TAG", "IngestReport", "generate", "ingest", "main", "plate_counts", "print_query_result", "run_failures",
    "summary",
]
