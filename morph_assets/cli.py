"""Command line: ``morph-assets demo | ingest | views | sql | generate``.

``demo`` is the README's first command: it generates the embedded CPJUMP1-shaped plates (once),
registers them as Dagster partitions, materializes every asset for each plate in a persistent
Dagster instance (so the UI shows the runs afterwards) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from morph_assets.paths import PROJECT_ROOT, default_lake_root, default_source_root


def _say(message: str) -> None:
    print(f"[morph-assets {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _dagster_instance():
    """The persistent Dagster instance in ``$DAGSTER_HOME`` (default ``<project>/.dagster_home``)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        # No outbound network here and none needed: keep Dagster from trying to send telemetry.
        settings.write_text("telemetry:\n  enabled: false\n")
    import dagster as dg

    return dg.DagsterInstance.get()


def _progress_printer(label: str):
    started = time.perf_counter()
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] >= 5:
            last[0] = now
            rate = done / max(now - started, 1e-9)
            _say(f"{label}: {done}/{total} wells ({100 * done // max(total, 1)}%), ~{(total - done) / max(rate, 1e-9):.0f} s left")

    return report


def generate(args: argparse.Namespace) -> list[str]:
    """Generate the embedded plates into the source root unless they are there already."""
    from morph_assets.lib.parallel import default_workers
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


def ingest(plates: Sequence[str], *, workers: int | None = None, segmenter: str = "classical") -> bool:
    """Register ``plates`` as partitions and materialize every asset of each, then the SQL views.

    With ``segmenter="cellpose"`` the Cellpose models are trained first if the lake has none.
    """
    from morph_assets.definitions import defs
    from morph_assets.defs.partitions import plate_range_tags, plates_partitions
    from morph_assets.lib.naming import validate_barcode

    for plate in plates:
        validate_barcode(plate)
    instance = _dagster_instance()
    known = set(instance.get_dynamic_partitions(plates_partitions.name))
    new = [plate for plate in plates if plate not in known]
    if new:
        instance.add_dynamic_partitions(plates_partitions.name, new)
        _say(f"registered plate partition(s): {', '.join(new)}")
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if workers:
        run_config["resources"] = {"lake": {"config": {"workers": workers}}}
    wells_config = {**run_config, "ops": {"masks": {"config": {"method": segmenter}}}}
    ok = True
    if segmenter == "cellpose" and not (default_lake_root() / "models" / "cellpose" / "cells").exists():
        _say("training the Cellpose models (segmentation_model; a few CPU minutes)")
        trained = defs.resolve_job_def("segmentation_model_job").execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False)
        if not trained.success:
            _say("training the Cellpose models FAILED; see the log above")
            return False
    for number, plate in enumerate(plates, start=1):
        _say(f"plate {plate} ({number}/{len(plates)}): plate-level assets")
        layout_run = defs.resolve_job_def("plate_job").execute_in_process(
            instance=instance, partition_key=plate, run_config=run_config, raise_on_error=False)
        _say(f"plate {plate} ({number}/{len(plates)}): well-level assets, one run over the plate")
        wells_run = defs.resolve_job_def("plate_wells_job").execute_in_process(
            instance=instance, tags=plate_range_tags(plate), run_config=wells_config, raise_on_error=False)
        _say(f"plate {plate} ({number}/{len(plates)}): profiles")
        profiles_run = defs.resolve_job_def("plate_profiles_job").execute_in_process(
            instance=instance, partition_key=plate, run_config=run_config, raise_on_error=False)
        for name, result in (("plate-level", layout_run), ("wells", wells_run), ("profiles", profiles_run)):
            if not result.success:
                ok = False
                _say(f"plate {plate}: the {name} run FAILED (run id {result.run_id}); see the log above or the Dagster UI")
    _say(f"study-level assets over {len(plates)} plate(s): treatment profiles, mAP report, models, clusters, report")
    study = defs.resolve_job_def("study_job").execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
    if not study.success:
        _say(f"the study run FAILED (run id {study.run_id}); see the log above or the Dagster UI")
    views = defs.resolve_job_def("lake_views_job").execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
    return ok and study.success and views.success


def _query(sql: str) -> pl.DataFrame:
    lake_db = default_lake_root() / "lake.duckdb"
    if not lake_db.exists():
        raise SystemExit(f"{lake_db} does not exist yet: run `make demo` (or `morph-assets views`) first")
    with duckdb.connect(str(lake_db), read_only=True) as connection:
        return connection.sql(sql).pl()


def summary(started: float) -> None:
    """Print plates, wells, images and rows per table, and the wall time."""
    status = _query("select * from plate_ingest_status")
    views = _query("select table_name from information_schema.tables where table_type = 'VIEW' order by 1")
    rows = pl.DataFrame([
        {"view": name, "rows": _query(f'select count(*) as n from "{name}"')["n"][0]} for name in views["table_name"]
    ])
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_rows=100, tbl_width_chars=200):
        print("\nPlates\n" + str(status))
        print(f"\nRows per table (DuckDB views in {default_lake_root() / 'lake.duckdb'})\n" + str(rows))
        if "segmentation_by_plate" in views["table_name"].to_list():
            print("\nSegmentation (AP@0.5 and F1 against the generator's ground truth)\n"
                  + str(_query("select * from segmentation_by_plate")))
        if "map_headline" in views["table_name"].to_list():
            print("\nReplicate retrieval (mAP; fraction of treatments retrieved at q < 0.05)\n"
                  + str(_query("select * from map_headline")))
    _say(f"{status.height} plates, {int(status['wells_ingested'].sum())} wells, {int(status['images'].sum())} images "
         f"ingested; {int(status['wells_failed'].sum())} wells failed; wall time {time.perf_counter() - started:.0f} s")
    print("\nNext: `make ui` opens Dagster at http://127.0.0.1:3000;  "
          "`.venv/bin/morph-assets sql \"select * from image_qc_by_plate_channel\"` queries the lake.")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``morph-assets`` command."""
    parser = argparse.ArgumentParser(prog="morph-assets", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def add_generation_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--plates", type=int, help="replicate plates (default 4)")
        command.add_argument("--wells", help="comma-separated wells (default: all 384)")
        command.add_argument("--sites", type=int, help="sites per well")
        command.add_argument("--image-size", type=int, help="image side in pixels")
        command.add_argument("--seed", type=int, help="generator seed (default 0)")
        command.add_argument("--full-size", action="store_true", help="real CPJUMP1 size: 1080x1080, 9 sites, brightfield")
        command.add_argument("--workers", type=int, help="worker processes (default: one per CPU)")
        command.add_argument("--segmenter", default="classical", choices=["classical", "cellpose", "imported"],
                             help="how masks are made (cellpose: trains models first; ~2 s per 192 px site on a CPU)")

    demo = commands.add_parser("demo", help="generate the embedded plates, run every asset, print a summary")
    add_generation_options(demo)
    generate_command = commands.add_parser("generate", help="only generate the embedded plates into the source folder")
    add_generation_options(generate_command)
    ingest_command = commands.add_parser("ingest", help="register plate folders of the source root and run every asset")
    ingest_command.add_argument("plates", nargs="+", help="plate barcodes (folder names under the source root)")
    ingest_command.add_argument("--workers", type=int)
    ingest_command.add_argument("--segmenter", default="classical", choices=["classical", "cellpose", "imported"])
    commands.add_parser("views", help="rebuild the DuckDB views from dbt_style_sql/")
    sql = commands.add_parser("sql", help="run a read-only SQL query against the lake and print the result")
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=50)
    args = parser.parse_args(argv)
    # Beta/preview notices about Dagster's own API (backfill policies) are for us, not for users.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")

    if args.command == "sql":
        with pl.Config(tbl_rows=args.max_rows, tbl_cols=-1, tbl_width_chars=250, tbl_hide_dataframe_shape=False):
            print(_query(args.query))
        return 0
    if args.command == "views":
        from morph_assets.lib.lake import Lake
        from morph_assets.lib.sql_models import build_views
        from morph_assets.paths import sql_models_dir

        report = build_views(Lake(default_lake_root()), sql_models_dir())
        _say(f"built {len(report.built)} view(s): {', '.join(report.built)}")
        for name, reason in report.skipped.items():
            _say(f"skipped {name}: {reason}")
        return 0
    started = time.perf_counter()
    if args.command == "generate":
        generate(args)
        return 0
    plates = generate(args) if args.command == "demo" else args.plates
    from morph_assets.lib.parallel import shared_worker_pool

    with shared_worker_pool():  # every plate's per-well steps run in this process: keep workers warm
        ok = ingest(plates, workers=args.workers, segmenter=args.segmenter)
    summary(started)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
