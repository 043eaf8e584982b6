"""The soak test of a service deployment (``make soak``): many plates at once, a dead worker, a
duplicate run, and checks that the lake holds every well exactly once afterwards.

It starts the real pieces with ``deploy/start.sh`` (Postgres, Redis, the daemon, Celery workers,
the webserver, all on 127.0.0.1 with their data in one temporary folder), drops generated plates
into the source root at once and lets the new-plate sensor and the automation process them. While
a plate's wells run is in progress it kills that run's worker (``kill -9`` of its whole process
group) and launches a second run of a plate that is already running. Once nothing is queued or
running any more, :func:`soak_report` checks the lake and the instance and the closing line says
what was lost or duplicated. Every wait is bounded; ``deploy/stop.sh`` ends every process it
started, whatever happened.

The checks are plain functions over a lake folder and a list of run facts, so tests can run them on
a tiny plate without any service (``morph_assets_tests/test_soak.py``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from morph_assets.lib.io import Lake
from morph_assets.lib.schema import MAP_SUMMARY, RAW_IMAGES, WELL, profile_table

#: Wells of each generated plate: DMSO and treatments (what the browser test uses), so profiles
#: and the mAP report have something to score.
SOAK_WELLS = ("A01", "A02", "A03", "A09")
#: Prefix of the generated barcodes (SOAK0001, ...), never mistaken for a real plate.
SOAK_PREFIX = "SOAK"
#: The per-well table whose rows are the generator's sites (one row per site per well).
SITE_TABLE = RAW_IMAGES
#: Run statuses that are over.
DONE_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunFact:
    """What the soak needs to know about one run (from the instance).

    Attributes
    ----------
    run_id, job, status : str
        The run and its status name (``"SUCCESS"``, ``"FAILURE"``, ...).
    plate : str or None
        Its plate tag (``morph_assets/plate``); None for a study run.
    wells_run : bool
        Whether it is a per-well range run.
    start, end : float or None
        When it started and ended (epoch seconds); None if it never did.
    parent_run_id : str or None
        The run it retries (Dagster's run retries), if any.
    """

    run_id: str
    job: str
    status: str
    plate: str | None
    wells_run: bool
    start: float | None
    end: float | None
    parent_run_id: str | None = None


@dataclass
class SoakReport:
    """The findings of one soak: what the closing line counts, and why."""

    plates: int
    wells: int
    runs: int
    failed: int
    retried: int
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self, wall: float) -> str:
        """The closing line ``soak: plates N, wells W, runs R, failed F, retried T, lost L, duplicates D, wall S s``."""
        return (f"soak: plates {self.plates}, wells {self.wells}, runs {self.runs}, failed {self.failed}, "
                f"retried {self.retried}, lost {len(self.lost)}, duplicates {len(self.duplicates)}, wall {wall:.0f} s")

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.problems)


def per_well_tables(lake: Lake) -> list[str]:
    """The per-well tables that hold at least one well file (``wells/<table>/``), sorted."""
    folder = lake.root / "wells"
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir()) if folder.is_dir() else []


def check_wells_once(lake: Lake, plates: Iterable[str], wells: Iterable[str]) -> tuple[list[str], list[str]]:
    """Every well of every plate in every per-well table, exactly once.

    A well is lost when its well file is missing or the plate's compacted file lacks it; it is
    duplicated when the compacted file holds more of its rows than its well file, or a row twice.

    Returns
    -------
    (lost, duplicated) : tuple of list of str
        ``"<table> <plate> <well>"`` entries.
    """
    lost, duplicated = [], []
    wells = sorted(wells)
    for table in per_well_tables(lake):
        for plate in sorted(plates):
            plate_file = lake.plate_file(table, plate)
            compacted = pl.read_parquet(plate_file) if plate_file.is_file() else None
            for well in wells:
                where = f"{table} {plate} {well}"
                well_file = lake.well_file(table, plate, well)
                if not well_file.is_file():
                    lost.append(where)
                    continue
                expected = pl.read_parquet(well_file)
                if compacted is None:
                    lost.append(where)
                    continue
                rows = compacted.filter(pl.col(WELL) == well)
                if rows.height < expected.height:
                    lost.append(where)
                elif rows.height > expected.height or (rows.height > 1 and rows.is_duplicated().any()):
                    duplicated.append(where)
    return lost, duplicated


def check_site_rows(lake: Lake, plates: Iterable[str], wells: Iterable[str], sites: int, channels: int) -> list[str]:
    """Wells whose :data:`SITE_TABLE` rows differ from the generator's: one row per site and channel."""
    problems = []
    for plate in sorted(plates):
        file = lake.plate_file(SITE_TABLE, plate)
        counts = (dict(pl.read_parquet(file, columns=[WELL])[WELL].value_counts().rows())
                  if file.is_file() else {})
        problems += [f"{SITE_TABLE} {plate} {well}: {counts.get(well, 0)} rows, generated {sites} sites x "
                     f"{channels} channels" for well in sorted(wells) if counts.get(well, 0) != sites * channels]
    return problems


def leftover_temporary_files(*roots: Path) -> list[Path]:
    """Temporary files of the atomic writers (``.<name>.<hex>.tmp``) left under ``roots``."""
    return sorted(path for root in roots if root.is_dir() for path in root.rglob(".*.tmp"))


def overlapping_plate_runs(runs: Sequence[RunFact], now: float | None = None) -> list[tuple[str, str]]:
    """Pairs of runs of the same plate that were in progress at the same time (ids, sorted)."""
    now = time.time() if now is None else now
    by_plate: dict[str, list[RunFact]] = defaultdict(list)
    for run in runs:
        if run.plate is not None and run.start is not None:
            by_plate[run.plate].append(run)
    pairs = []
    for plate_runs in by_plate.values():
        plate_runs.sort(key=lambda run: run.start)
        for i, first in enumerate(plate_runs):
            for second in plate_runs[i + 1:]:
                if second.start < (first.end if first.end is not None else now):
                    pairs.append(tuple(sorted((first.run_id, second.run_id))))
    return pairs


def check_killed_run(runs: Sequence[RunFact], killed_run_id: str | None) -> list[str]:
    """The killed run is marked failed and a later run of its plate's wells succeeded."""
    if killed_run_id is None:
        return ["no wells run was in progress to kill (nothing was killed)"]
    by_id = {run.run_id: run for run in runs}
    killed = by_id.get(killed_run_id)
    if killed is None:
        return [f"killed run {killed_run_id} is not in the instance"]
    problems = []
    if killed.status != "FAILURE":
        problems.append(f"killed run {killed_run_id} is {killed.status}, not FAILURE")
    again = [run for run in runs if run.plate == killed.plate and run.wells_run and run.status == "SUCCESS"
             and run.start is not None and killed.start is not None and run.start > killed.start]
    if not again:
        problems.append(f"plate {killed.plate}: no wells run succeeded after the killed run {killed_run_id}")
    return problems


def check_duplicate_run(runs: Sequence[RunFact], duplicate_run_id: str | None) -> list[str]:
    """The second run of a running plate waited for the first (or was refused), never overlapped."""
    if duplicate_run_id is None:
        return ["no duplicate run was launched"]
    by_id = {run.run_id: run for run in runs}
    duplicate = by_id.get(duplicate_run_id)
    if duplicate is None:
        return [f"duplicate run {duplicate_run_id} is not in the instance"]
    overlaps = [pair for pair in overlapping_plate_runs(runs) if duplicate_run_id in pair]
    problems = [f"duplicate run {duplicate_run_id} ran alongside {' '.join(p for p in pair if p != duplicate_run_id)}"
                for pair in overlaps]
    if duplicate.status not in DONE_STATUSES:
        problems.append(f"duplicate run {duplicate_run_id} is still {duplicate.status}")
    return problems


def check_map_covers(lake: Lake, plates: Iterable[str]) -> list[str]:
    """The mAP report exists and was written after every plate's profiles."""
    report = lake.study_file(MAP_SUMMARY)
    if not report.is_file():
        return ["no mAP report (map_summary) in the lake"]
    problems = []
    for plate in sorted(plates):
        profiles = lake.plate_file(profile_table("well", "cellprofiler"), plate)
        if not profiles.is_file():
            problems.append(f"plate {plate}: no well profiles")
        elif profiles.stat().st_mtime > report.stat().st_mtime:
            problems.append(f"plate {plate}: its profiles are newer than the mAP report")
    return problems


def soak_report(lake: Lake, plates: Sequence[str], wells: Sequence[str], sites: int, channels: int,
                runs: Sequence[RunFact], *, killed_run_id: str | None, duplicate_run_id: str | None, extra_roots: Sequence[Path] = ()) -> SoakReport:
    """Every check of the soak over the lake and the instance's runs."""
    lost, duplicated = check_wells_once(lake, plates, wells)
    problems = check_site_rows(lake, plates, wells, sites, channels)
    problems += [f"temporary file left: {path}" for path in leftover_temporary_files(lake.root, *extra_roots)]
    problems += [f"runs {a} and {b} of one plate overlapped" for a, b in overlapping_plate_runs(runs)]
    problems += check_killed_run(runs, killed_run_id)
    problems += check_duplicate_run(runs, duplicate_run_id)
    problems += check_map_covers(lake, plates)
    return SoakReport(
        plates=len(plates), wells=len(plates) * len(wells), runs=len(runs),
        failed=sum(run.status == "FAILURE" for run in runs),
        retried=sum(run.parent_run_id is not None for run in runs),
        lost=lost, duplicates=duplicated, problems=problems,
    )


# --- the live part: the deployment, the faults, the waiting ---------------------------------------


def run_facts(instance) -> list[RunFact]:
    """Every run of the instance as :class:`RunFact`."""
    from dagster._core.storage.tags import PARENT_RUN_ID_TAG

    from morph_assets.defs.partitions import RANGE_START_TAG
    from morph_assets.deployment import PLATE_TAG, plate_of_run_tags

    facts = []
    for record in instance.get_run_records():
        run = record.dagster_run
        facts.append(RunFact(run.run_id, run.job_name, run.status.value,
                             run.tags.get(PLATE_TAG) or plate_of_run_tags(run.tags), RANGE_START_TAG in run.tags,
                             record.start_time, record.end_time, run.tags.get(PARENT_RUN_ID_TAG)))
    return facts


def read_env(path: Path) -> dict[str, str]:
    """The variables ``deploy/start.sh`` wrote to ``STATE/env``, as bash would set them."""
    out = subprocess.run(["bash", "-c", f'source "{path}" && env -0'], check=True, capture_output=True, text=True)
    return dict(item.split("=", 1) for item in out.stdout.split("\0") if "=" in item)


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Soak:
    """One soak: the deployment in ``state``, its plates, its faults and its waits."""

    def __init__(self, state: Path, n_plates: int, wells: Sequence[str], sites: int, image_size: int, workers: int):
        self.state, self.n_plates, self.wells, self.sites = state, n_plates, tuple(wells), sites
        self.image_size, self.workers = image_size, workers
        self.lake_root = state / "lake"
        self.killed_run_id: str | None = None
        self.killed_plate: str | None = None
        self.duplicate_run_id: str | None = None
        self.plates: list[str] = []
        self.channels = 0

    def start(self) -> None:
        env = dict(os.environ, MORPH_ASSETS_LAKE_ROOT=str(self.lake_root), MORPH_ASSETS_WORKERS=str(self.workers),
                   MORPH_ASSETS_PYTHON=sys.executable)
        subprocess.run([str(REPO / "deploy" / "start.sh"), str(self.state)], check=True, env=env)
        os.environ.update(read_env(self.state / "env"))

    def stop(self) -> None:
        subprocess.run([str(REPO / "deploy" / "stop.sh"), str(self.state)], check=False)

    def drop_plates(self) -> None:
        """Generate the plates beside the source root, then move them all in at once."""
        from morph_assets.lib.synthetic import SyntheticConfig, generate_plates

        staging = self.state / "staging"
        config = SyntheticConfig(n_plates=self.n_plates, wells=self.wells, sites_per_well=self.sites,
                                 image_size=self.image_size, seed=17, barcode_prefix=SOAK_PREFIX)
        folders = generate_plates(config, staging, workers=max(1, (os.cpu_count() or 1)))
        source = Path(os.environ["MORPH_ASSETS_SOURCE_ROOT"])
        source.mkdir(parents=True, exist_ok=True)
        for folder in folders:  # a rename is atomic: the sensor sees whole plates only
            folder.rename(source / folder.name)
        self.plates = [folder.name for folder in folders]
        self.channels = len(config.channels())
        log(f"dropped {len(self.plates)} plates x {len(self.wells)} wells into {source}")

    def worker_of_task(self, instance, run_id: str) -> int | None:
        """Index of the Celery worker running ``run_id`` (from the task's STARTED state), if known."""
        from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

        run = instance.get_run_by_id(run_id)
        task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG) if run else None
        if task_id is None:
            return None
        launcher = instance.run_launcher
        result = launcher.celery.AsyncResult(task_id)
        info = result.info if result.state == "STARTED" and isinstance(result.info, dict) else {}
        hostname = info.get("hostname") or ""
        if hostname.startswith("morph") and "@" in hostname:
            return int(hostname[len("morph"):hostname.index("@")])
        return None

    def kill_worker(self, index: int) -> None:
        pidfile = self.state / f"worker{index}.pid"
        pid = int(pidfile.read_text())
        os.killpg(pid, signal.SIGKILL)
        pidfile.unlink()
        log(f"kill -9 worker {index} (process group {pid})")

    def launch_duplicate(self, plate: str) -> str:
        """A second wells run of ``plate`` through the webserver, as a user would launch it."""
        from dagster_graphql import DagsterGraphQLClient

        from morph_assets.defs.partitions import plate_range_tags

        url = os.environ["MORPH_ASSETS_WEBSERVER_URL"].removeprefix("http://")
        host, port = url.rsplit(":", 1)
        client = DagsterGraphQLClient(host, port_number=int(port))
        run_id = client.submit_job_execution("plate_wells_job", repository_location_name="morph_assets",
                                             tags=plate_range_tags(plate, self.wells[0], self.wells[-1]))
        log(f"launched a second wells run {run_id[:8]} of running plate {plate}")
        return run_id

    def drive(self, deadline: float, quiet_seconds: float) -> None:
        """Inject the faults when their moment comes; return once everything has settled."""
        import dagster as dg

        instance = dg.DagsterInstance.get()
        quiet_since: float | None = None
        while time.time() < deadline:
            facts = run_facts(instance)
            active = [run for run in facts if run.status not in DONE_STATUSES]
            if self.killed_run_id is None:
                for run in active:
                    if run.wells_run and run.status == "STARTED":
                        index = self.worker_of_task(instance, run.run_id)
                        if index is not None and (self.state / f"worker{index}.pid").exists():
                            time.sleep(3)  # let it write some wells first
                            self.kill_worker(index)
                            self.killed_run_id, self.killed_plate = run.run_id, run.plate
                            log(f"killed run {run.run_id[:8]} (plate {run.plate}) with its worker")
                            break
            elif self.duplicate_run_id is None:
                # A plate whose run really is in progress (the killed run stays STARTED until
                # monitoring notices), preferably another plate than the killed one.
                running = sorted((run for run in active if run.wells_run and run.status == "STARTED"
                                  and run.plate is not None and run.run_id != self.killed_run_id),
                                 key=lambda run: run.plate == self.killed_plate)
                if running:
                    self.duplicate_run_id = self.launch_duplicate(running[0].plate)
            backfills = [b for b in instance.get_backfills() if b.status.value in ("REQUESTED", "CANCELING")]
            busy = bool(active or backfills) or not self.lake_done()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.time()
            elif time.time() - quiet_since >= quiet_seconds:
                return
            time.sleep(5)
        log("timed out waiting for the runs to settle")

    def lake_done(self) -> bool:
        """Every plate has profiles and the mAP report is newer than all of them."""
        return not check_map_covers(Lake(self.lake_root), self.plates)

    def report(self) -> SoakReport:
        import dagster as dg

        facts = run_facts(dg.DagsterInstance.get())
        return soak_report(Lake(self.lake_root), self.plates, self.wells, self.sites, self.channels, facts,
                           killed_run_id=self.killed_run_id, duplicate_run_id=self.duplicate_run_id,
                           extra_roots=[Path(os.environ["MORPH_ASSETS_SOURCE_ROOT"])])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m morph_assets.soak``: run the soak, print the closing line, 0 when nothing was lost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=6)
    parser.add_argument("--wells", default=",".join(SOAK_WELLS), help="comma-separated wells per plate")
    parser.add_argument("--sites", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (one is killed)")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds to wait for everything to settle")
    parser.add_argument("--quiet", type=float, default=45, help="seconds without activity that count as settled")
    parser.add_argument("--state", type=Path, default=None, help="state folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the state folder (logs, lake) afterwards")
    args = parser.parse_args(argv)
    started = time.time()
    state = args.state or Path(tempfile.mkdtemp(prefix="morph_soak."))
    soak = Soak(state, args.plates, args.wells.split(","), args.sites, args.image_size, args.workers)

    def interrupted(signum, frame):  # stop.sh runs in the finally below
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        soak.start()
        soak.drop_plates()
        soak.drive(started + args.timeout, args.quiet)
        report = soak.report()
    finally:
        soak.stop()
    for problem in report.problems:
        print(f"soak: {problem}")
    for where in report.lost[:20]:
        print(f"soak: lost {where}")
    for where in report.duplicates[:20]:
        print(f"soak: duplicated {where}")
    print(report.line(time.time() - started), flush=True)
    if not args.keep:
        subprocess.run(["rm", "-rf", str(state)], check=False)
    else:
        print(f"soak: state kept in {state}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
