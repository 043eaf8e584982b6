"""Benchmark: a full-size plate through every per-well and plate-level asset, in Dagster and in a
plain loop of the same lib calls, in the same run.

A full-size CPJUMP1 plate (BR00116991) holds 384 wells x 9 sites x 1080 x 1080 px x 5 channels.
This script generates (once, cached under ``bench/results/``) the first ``--wells`` wells of such
a plate (default 24: row A), then:

1. anchor, a plain loop: ``read_plate_layout``; the illumination functions
   (``estimate_illumination_function`` per channel, as ``illumination_correction``); then, per
   stage, ``map_wells`` of the stage's task over the wells in a fresh :class:`WorkerPool` and the
   plate's compaction: ``ingest_well`` (raw_images), ``segment_well`` (masks),
   ``measure_well_regionprops``, ``measure_well_cellprofiler`` (the study families) and
   ``tensor_well`` (image_tensors);
2. Dagster: ``plate_job`` (plate-level assets) then ``plate_wells_job`` as one single-run range
   over the wells, on an ephemeral instance, with the same worker count.

It prints the Dagster/anchor wall-time ratio (goal <= 1.3); for each stage of the anchor its
wall time and core-seconds per site (CPU time of this process, plus the seconds the stage's wells
took in the worker processes, one single-threaded well per worker at a time); the peak resident
memory of the largest worker and of this process; and the time a 384-well
plate would take on this machine and on 16 cores, projected from the core-seconds per site.

Usage: .venv/bin/python bench/bench_fullsize.py [--wells 24] [--sites 9] [--image-size 1080]
       [--workers N] [--skip-dagster]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from morph_assets.definitions import build_definitions
from morph_assets.defs.features.assets import CellProfilerConfig
from morph_assets.defs.models.tensors import ImageTensorsConfig
from morph_assets.defs.partitions import plate_range_tags
from morph_assets.defs.segment.assets import IlluminationConfig, MasksConfig
from morph_assets.lib import schema, tasks
from morph_assets.lib.io import Lake, atomic_write_parquet, atomic_write_tiff
from morph_assets.lib.plates import WELLS_384, PlateIndex, read_plate, read_plate_layout, read_scaled_image
from morph_assets.lib.segment import estimate_illumination_function, illumination_files
from morph_assets.lib.synthetic import SyntheticConfig, generate_plate
from morph_assets.lib.tasks import WorkerPool, default_workers, map_wells
from morph_assets.resources import LakeResource

RESULTS = Path(__file__).resolve().parent / "results"


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished children so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Stages:
    """Wall and CPU seconds per stage of the anchor."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []

    def time(self, name: str, step: Callable[[], object], *, in_workers: bool = False) -> object:
        """Run ``step`` and record its wall and core seconds.

        A per-well stage returns ``(failures, seconds its wells took)``; with worker processes
        (alive across stages, so their CPU time cannot be read as finished children) the core
        seconds are this process's CPU time plus the wells' seconds in the workers, each worker
        running one single-threaded well at a time.
        """
        wall, cpu = time.perf_counter(), _cpu_seconds()
        result = step()
        spent = _cpu_seconds() - cpu
        if isinstance(result, tuple):
            result, well_seconds = result
            spent += well_seconds if in_workers else 0.0
        self.rows.append((name, time.perf_counter() - wall, spent))
        return result


def _illumination(index: PlateIndex, store: Lake, max_sites: int) -> None:
    """What ``illumination_correction`` computes: one flat-field function per channel."""
    folder = store.plate_folder(schema.ILLUMINATION, index.barcode)
    for (_, name), rows in index.images.group_by("channel", "channel_name", maintain_order=True):
        paths = rows.sort(schema.WELL, schema.SITE)["path"].to_list()
        if max_sites and len(paths) > max_sites:
            paths = [paths[i] for i in np.linspace(0, len(paths) - 1, max_sites).astype(int)]
        function = estimate_illumination_function(read_scaled_image(path, np.float64) for path in paths)
        atomic_write_tiff(function.astype(np.float32), folder / f"illumination-{name}.tiff")


def plain_loop(source: Path, lake_root: Path, plate: str, workers: int) -> tuple[Stages, int]:
    """The anchor: the lib calls the assets make, stage by stage, without Dagster."""
    store, stages = Lake(lake_root), Stages()
    folder = source / plate
    stages.time("plate_layout", lambda: atomic_write_parquet(read_plate_layout(folder),
                                                             store.plate_file(schema.PLATE_LAYOUT, plate)))
    index = read_plate(folder)
    stages.time("illumination_correction", lambda: _illumination(index, store, IlluminationConfig().max_sites))
    wells = index.wells()
    common = {"lake_root": str(lake_root), "plate": plate}
    functions = illumination_files(store, plate)  # the lib's reader, as the assets call it

    def corrected(well: str) -> dict:
        return {**common, "well": well, "image_rows": index.well_images(well).to_dicts(),
                "illumination_files": functions}

    settings = MasksConfig().settings(store)
    truth = folder / tasks.GROUND_TRUTH_FOLDER  # the generator writes true masks: the asset scores against them
    per_well: list[tuple[str, Callable, Callable[[str], object], tuple[str, ...]]] = [
        (schema.RAW_IMAGES, tasks.ingest_well,
         lambda well: tasks.IngestTask(**common, well=well, image_rows=index.well_images(well).to_dicts()), ()),
        (schema.MASKS, tasks.segment_well,
         lambda well: tasks.SegmentTask(**corrected(well), method="classical", settings=settings,
                                        truth_dir=str(truth) if truth.is_dir() else None,
                                        imported_masks=None), ()),
        (schema.REGIONPROPS_FEATURES, tasks.measure_well_regionprops,
         lambda well: tasks.RegionpropsTask(**corrected(well)), (schema.REGIONPROPS_IMAGE,)),
        (schema.CELLPROFILER_MEAN, tasks.measure_well_cellprofiler,
         lambda well: tasks.CellProfilerTask(**corrected(well), families=tuple(CellProfilerConfig().families),
                                             export_folder=None), ()),
        (schema.IMAGE_TENSORS, tasks.tensor_well,
         lambda well: tasks.TensorTask(**corrected(well), size=ImageTensorsConfig().size), ()),
    ]
    failed = 0
    with WorkerPool(workers) as pool:
        # Start the workers and their imports before the clock runs, as a Dagster run's pool is
        # by the time its first per-well step starts.
        map_wells(_warm_up, [tasks.IngestTask(**common, well=well, image_rows=[]) for well in wells[:workers]], pool)
        for table, function, task, extra in per_well:
            def stage(table=table, function=function, task=task, extra=extra) -> tuple[int, float]:
                outcomes = map_wells(function, [task(well) for well in wells], pool)
                for name in (table, *extra):
                    store.compact_plate(name, plate)
                return sum(not outcome.ok for outcome in outcomes), sum(outcome.seconds for outcome in outcomes)

            failed += stages.time(table, stage, in_workers=workers > 1)
    return stages, failed


def _warm_up(task: tasks.WellTask) -> int:
    """A task that does nothing: importing this module makes a worker import every stage."""
    return 0


def through_dagster(source: Path, lake_root: Path, plate: str, wells: list[str], workers: int) -> bool:
    """The plate as the sensor and the automation run it: its plate-level run, then one wells run."""
    defs = build_definitions(LakeResource(lake_root=str(lake_root), source_root=str(source), workers=workers))
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("plates", [plate])
        layout = defs.resolve_job_def("plate_job").execute_in_process(
            instance=instance, partition_key=plate, run_config=quiet, raise_on_error=False)
        run = defs.resolve_job_def("plate_wells_job").execute_in_process(
            instance=instance, tags=plate_range_tags(plate, wells[0], wells[-1]), run_config=quiet,
            raise_on_error=False)
        return layout.success and run.success


def differing_tables(anchor: Lake, dagster: Lake, plate: str) -> list[str]:
    """The plate's per-well tables whose rows differ between the two routes (none, if both ran
    the same calls on the same images)."""
    differing = []
    tables = (schema.RAW_IMAGES, schema.MASKS, schema.REGIONPROPS_FEATURES, schema.REGIONPROPS_IMAGE,
              schema.CELLPROFILER_MEAN, schema.IMAGE_TENSORS)
    for table in tables:
        frames = [pl.read_parquet(lake.plate_file(table, plate)) for lake in (anchor, dagster)]
        # Paths into each lake differ by their root; everything else must be equal.
        roots = (str(anchor.root), str(dagster.root))
        frames = [frame.with_columns(pl.col(pl.String).str.replace(root, "<lake>", literal=True))
                  for frame, root in zip(frames, roots)]
        keys = [column for column in (schema.WELL, schema.SITE, "ObjectNumber", "channel") if column in frames[0].columns]
        if not frames[0].sort(keys).equals(frames[1].sort(keys)):
            differing.append(table)
    return differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=24, help="first N wells of the plate (default 24, row A)")
    parser.add_argument("--sites", type=int, default=9)
    parser.add_argument("--image-size", type=int, default=1080)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--skip-dagster", action="store_true", help="only the plain loop (per-stage costs)")
    args = parser.parse_args()

    wells = list(WELLS_384[: args.wells])
    config = SyntheticConfig.full_size(n_plates=1, wells=tuple(wells), image_size=args.image_size,
                                       sites_per_well=args.sites)
    source = RESULTS / f"fullsize_{args.image_size}px_{args.sites}sites_{args.wells}wells"
    plate = config.barcodes()[0]
    if not (source / plate).exists():
        started = time.perf_counter()
        print(f"generating {len(wells)} wells x {args.sites} sites of {args.image_size} px into {source} ...",
              flush=True)
        generate_plate(config, 0, source, workers=args.workers)
        print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        print(f"anchor: plain loop, {args.workers} workers ...", flush=True)
        started = time.perf_counter()
        stages, failed = plain_loop(source, Path(scratch) / "anchor", plate, args.workers)
        anchor = time.perf_counter() - started
        dagster_seconds, ok, differing = None, None, []
        if not args.skip_dagster:
            print("Dagster: plate_job, then plate_wells_job ...", flush=True)
            started = time.perf_counter()
            ok = through_dagster(source, Path(scratch) / "dagster", plate, wells, args.workers)
            dagster_seconds = time.perf_counter() - started
            differing = differing_tables(Lake(Path(scratch) / "anchor"), Lake(Path(scratch) / "dagster"), plate)

    sites = len(wells) * args.sites
    print(f"\nplate {plate}: {len(wells)} wells x {args.sites} sites = {sites} sites of {args.image_size} px, "
          f"{args.workers} workers, {failed} well-stage failures in the anchor")
    print(f"{'stage':26s} {'wall s':>8s} {'core-s':>8s} {'core-s/site':>12s}")
    for name, wall, cpu in stages.rows:
        print(f"{name:26s} {wall:8.1f} {cpu:8.1f} {cpu / sites:12.3f}")
    per_site = sum(cpu for _, _, cpu in stages.rows) / sites
    print(f"{'total':26s} {anchor:8.1f} {per_site * sites:8.1f} {per_site:12.3f}   (goal <= 3 core-s per site for "
          f"the per-well measurement stages)")
    if dagster_seconds is not None:
        print(f"through Dagster: {dagster_seconds:.1f} s (runs succeeded: {ok}); "
              f"ratio Dagster/anchor {dagster_seconds / anchor:.2f} (goal <= 1.3)")
        print("same tables from both routes" if not differing else f"tables that differ: {', '.join(differing)}")
    full_sites = 384 * 9
    print(f"projected 384-well plate ({full_sites} sites): {per_site * full_sites / args.workers / 60:.0f} min on "
          f"{args.workers} cores here, {per_site * full_sites / 16 / 60:.0f} min on 16 cores")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: largest worker {worker:.0f} MiB, this process {own:.0f} MiB")


if __name__ == "__main__":
    main()
