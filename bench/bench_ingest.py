"""Benchmark: one plate's raw-image ingestion through Dagster vs the same lib calls in a loop.

Generates (once, cached under bench/results/) one embedded plate - full size by default:
1080x1080 px, 9 sites, 8 channels, 384 wells - then, in the same run:

1. anchor: ``read_plate`` + ``map_wells(ingest_well)`` + ``compact_plate`` in a plain loop;
2. Dagster: ``plate_wells_job`` on an ephemeral instance, one single-run range over the wells.

Prints both wall times, the ratio (goal: at most 1.3) and peak memory (this process and its
worker processes). ``--wells 24`` benchmarks the first 24 wells (row A) when 384 full-size wells
(~6.4 GB, ~25 min to generate on 2 cores) is too much.

Usage: .venv/bin/python bench/bench_ingest.py [--wells N] [--image-size PX] [--sites N] [--workers N]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg

from morph_assets.definitions import build_definitions
from morph_assets.defs.partitions import plate_range_tags
from morph_assets.lib import schema, tasks
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import WELLS_384, read_plate
from morph_assets.lib.synthetic import SyntheticConfig, generate_plate
from morph_assets.lib.tasks import IngestTask, WorkerPool, default_workers, map_wells
from morph_assets.resources import LakeResource

RESULTS = Path(__file__).resolve().parent / "results"


def plain_loop(source: Path, lake_root: Path, plate: str, workers: int) -> int:
    """The anchor: the lib calls the asset makes, without Dagster."""
    index = read_plate(source / plate)
    well_tasks = [IngestTask(well=well, lake_root=str(lake_root), plate=plate, image_rows=index.well_images(well).to_dicts())
                  for well in index.wells()]
    with WorkerPool(workers) as pool:
        outcomes = map_wells(tasks.ingest_well, well_tasks, pool)
    Lake(lake_root).compact_plate(schema.RAW_IMAGES, plate)
    return sum(outcome.rows for outcome in outcomes)


def through_dagster(source: Path, lake_root: Path, plate: str, wells: list[str], workers: int) -> bool:
    """The same plate as the sensor would run it: one single-run range over its wells."""
    defs = build_definitions(LakeResource(lake_root=str(lake_root), source_root=str(source), workers=workers))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("plates", [plate])
        # Only raw_images: the wells job also segments and measures, which the anchor does not.
        result = defs.resolve_job_def("plate_wells_job").execute_in_process(
            instance=instance, tags=plate_range_tags(plate, wells[0], wells[-1]),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            asset_selection=[dg.AssetKey("raw_images")],
        )
    return result.success


def peak_memory_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=384, help="first N wells of the plate (default 384)")
    parser.add_argument("--image-size", type=int, default=1080)
    parser.add_argument("--sites", type=int, default=9)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()

    wells = list(WELLS_384[: args.wells])
    config = SyntheticConfig.full_size(n_plates=1, wells=tuple(wells), image_size=args.image_size, sites_per_well=args.sites)
    source = RESULTS / f"source_{args.image_size}px_{args.sites}sites_{args.wells}wells"
    plate = config.barcodes()[0]
    if not (source / plate).exists():
        started = time.perf_counter()
        print(f"generating {len(wells)} wells x {args.sites} sites x 8 channels of {args.image_size} px into {source} ...", flush=True)
        generate_plate(config, 0, source, workers=args.workers)
        print(f"generated in {time.perf_counter() - started:.0f} s")

    with tempfile.TemporaryDirectory() as scratch:
        lake_a, lake_b = Path(scratch) / "anchor", Path(scratch) / "dagster"
        plain_loop(source, Path(scratch) / "warmup", plate, args.workers)  # warm the page cache and imports
        shutil.rmtree(Path(scratch) / "warmup")

        started = time.perf_counter()
        rows = plain_loop(source, lake_a, plate, args.workers)
        anchor = time.perf_counter() - started
        started = time.perf_counter()
        ok = through_dagster(source, lake_b, plate, wells, args.workers)
        dagster_seconds = time.perf_counter() - started
        same = Lake(lake_a).plate_file(schema.RAW_IMAGES, plate).stat().st_size > 0 and ok

    own, children = peak_memory_mb()
    print(f"plate {plate}: {len(wells)} wells, {rows} images, {args.workers} workers")
    print(f"anchor (plain loop):   {anchor:7.2f} s  ({rows / anchor:.0f} images/s)")
    print(f"through Dagster:       {dagster_seconds:7.2f} s  (run succeeded: {same})")
    print(f"ratio Dagster/anchor:  {dagster_seconds / anchor:7.2f}  (goal <= 1.3)")
    print(f"peak memory: main process {own:.0f} MB, largest worker {children:.0f} MB")


if __name__ == "__main__":
    main()
