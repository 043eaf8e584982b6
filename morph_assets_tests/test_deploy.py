"""The service deployment (issue 12): the plate tag, the executor switch, the instance config
against a real Postgres, the soak's checks on a tiny lake, and a small soak (``-m soak``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pytest

from morph_assets.deployment import PLATE_TAG, plate_of_run_tags, select_executor
from morph_assets.lib.io import Lake
from morph_assets.soak import (
    RunFact,
    check_duplicate_run,
    check_killed_run,
    check_site_rows,
    check_wells_once,
    leftover_temporary_files,
    overlapping_plate_runs,
    soak_report,
)

REPO = Path(__file__).resolve().parent.parent
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) if Path("/usr/lib/postgresql").is_dir() else None


def test_plate_of_run_tags_reads_every_route() -> None:
    assert plate_of_run_tags({"dagster/partition": "P1"}) == "P1"
    assert plate_of_run_tags({"dagster/partition": "P1|A01"}) == "P1"
    assert plate_of_run_tags({"dagster/partition/plate": "P2", "dagster/partition": "P2|B03"}) == "P2"
    assert plate_of_run_tags({"dagster/asset_partition_range_start": "P3|A01",
                              "dagster/asset_partition_range_end": "P3|P24"}) == "P3"
    assert plate_of_run_tags({PLATE_TAG: "P4", "dagster/partition": "P5"}) == "P4"
    assert plate_of_run_tags({"dagster/backfill": "x"}) is None


def test_executor_is_in_process_unless_celery_is_asked_for() -> None:
    import dagster as dg

    assert select_executor({}) is dg.in_process_executor
    with pytest.raises(ValueError, match="MORPH_ASSETS_EXECUTOR='dask'"):
        select_executor({"MORPH_ASSETS_EXECUTOR": "dask"})
    pytest.importorskip("dagster_celery", reason="the deploy extra (dagster-celery) is not installed")
    executor = select_executor({"MORPH_ASSETS_EXECUTOR": "celery", "MORPH_ASSETS_CELERY_BROKER": "redis://127.0.0.1:1/0"})
    assert executor.name == "celery"


# --- the soak's checks on a tiny hand-made lake -----------------------------------------------------


def _tiny_lake(root: Path, plates=("P1", "P2"), wells=("A01", "A02"), sites=2) -> Lake:
    lake = Lake(root)
    for plate in plates:
        for well in wells:
            frame = pl.DataFrame({"Metadata_Plate": [plate] * sites, "Metadata_Well": [well] * sites,
                                  "Metadata_Site": list(range(1, sites + 1))})
            lake.write_well("raw_images", plate, well, frame)
            lake.write_well("masks", plate, well, frame.with_columns(pl.lit(3).alias("n_objects")))
        lake.compact_plate("raw_images", plate)
        lake.compact_plate("masks", plate)
    return lake


def test_wells_once_finds_lost_and_duplicated_wells(tmp_path: Path) -> None:
    lake = _tiny_lake(tmp_path)
    assert check_wells_once(lake, ["P1", "P2"], ["A01", "A02"]) == ([], [])
    assert check_site_rows(lake, ["P1", "P2"], ["A01", "A02"], sites=2, channels=1) == []
    lake.well_file("masks", "P1", "A02").unlink()
    doubled = pl.read_parquet(lake.plate_file("raw_images", "P2"))
    lake.write_plate("raw_images", "P2", pl.concat([doubled, doubled.filter(pl.col("Metadata_Well") == "A01")]))
    lost, duplicated = check_wells_once(lake, ["P1", "P2"], ["A01", "A02"])
    assert lost == ["masks P1 A02"]
    assert duplicated == ["raw_images P2 A01"]
    assert check_site_rows(lake, ["P2"], ["A01"], sites=2, channels=1) == [
        "raw_images P2 A01: 4 rows, generated 2 sites x 1 channels"]
    # A well the generator made but no table holds is lost in every table.
    lost, _ = check_wells_once(lake, ["P1"], ["A01", "B01"])
    assert lost == ["masks P1 B01", "raw_images P1 B01"]


def test_leftover_temporary_files(tmp_path: Path) -> None:
    lake = _tiny_lake(tmp_path)
    assert leftover_temporary_files(lake.root) == []
    partial = lake.well_folder("masks", "P1", "A01") / ".part-0.parquet.0123abcd.tmp"
    partial.write_bytes(b"half")
    assert leftover_temporary_files(lake.root) == [partial]


def _run(run_id, status, plate, start, end, wells_run=True, parent=None) -> RunFact:
    return RunFact(run_id, "plate_wells_job", status, plate, wells_run, start, end, parent)


def test_run_checks_killed_retried_and_duplicate() -> None:
    runs = [
        _run("killed", "FAILURE", "P1", 10, 20),
        _run("retry", "SUCCESS", "P1", 25, 40, parent="killed"),
        _run("dup", "SUCCESS", "P1", 41, 50),
        _run("other", "SUCCESS", "P2", 12, 30),
    ]
    assert overlapping_plate_runs(runs) == []
    assert check_killed_run(runs, "killed") == []
    assert check_duplicate_run(runs, "dup") == []
    overlapping = runs[:2] + [_run("dup", "SUCCESS", "P1", 30, 45)]
    assert overlapping_plate_runs(overlapping) == [("dup", "retry")]
    assert check_duplicate_run(overlapping, "dup") == ["duplicate run dup ran alongside retry"]
    assert check_killed_run([_run("killed", "STARTED", "P1", 10, None)], "killed") == [
        "killed run killed is STARTED, not FAILURE",
        "plate P1: no wells run succeeded after the killed run killed",
    ]
    assert check_killed_run(runs, None) == ["no wells run was in progress to kill (nothing was killed)"]


def test_soak_report_line(tmp_path: Path) -> None:
    lake = _tiny_lake(tmp_path)
    runs = [_run("killed", "FAILURE", "P1", 10, 20), _run("retry", "SUCCESS", "P1", 25, 40, parent="killed"),
            _run("dup", "SUCCESS", "P1", 41, 50)]
    report = soak_report(lake, ["P1", "P2"], ["A01", "A02"], 2, 1, runs, killed_run_id="killed", duplicate_run_id="dup")
    assert report.lost == [] and report.duplicates == []
    assert report.problems == ["no mAP report (map_summary) in the lake"]
    assert report.line(12.4) == ("soak: plates 2, wells 4, runs 3, failed 1, retried 1, lost 0, duplicates 0, "
                                 "wall 12 s")


# --- the deployment's instance against a real Postgres ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def postgres():
    """A throwaway Postgres on 127.0.0.1 (Debian's binaries), as deploy/start.sh starts it."""
    if PG_BIN is None or not (PG_BIN / "pg_ctl").exists():
        pytest.skip("Postgres binaries not installed (apt-get install postgresql)")
    pytest.importorskip("dagster_postgres", reason="the deploy extra (dagster-postgres) is not installed")
    as_pg = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    # Its own folder under /tmp: as root, Postgres runs as nobody, who cannot enter pytest's tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="morph_pg."))
    if as_pg:
        folder.chmod(0o755)
        shutil.chown(folder, "nobody")
    port = _free_port()
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-U", "dagster", "--auth=trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w",
                    "-o", f"-h 127.0.0.1 -p {port} -k {folder}", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*as_pg, str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster",
                        "dagster"], check=True, capture_output=True)
        yield port
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_deploy_config_builds_an_instance_on_postgres(postgres: int, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("dagster_celery", reason="the deploy extra (dagster-celery) is not installed")
    import dagster as dg

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    for key, value in {"MORPH_ASSETS_PG_HOST": "127.0.0.1", "MORPH_ASSETS_PG_PORT": str(postgres),
                       "MORPH_ASSETS_PG_USER": "dagster", "MORPH_ASSETS_PG_PASSWORD": "",
                       "MORPH_ASSETS_PG_DB": "dagster", "MORPH_ASSETS_CELERY_BROKER": "redis://127.0.0.1:1/0",
                       "MORPH_ASSETS_CELERY_BACKEND": "redis://127.0.0.1:1/1"}.items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "PlateQueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "WorkerCheckingCeleryRunLauncher"
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": PLATE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        # The coordinator tags a plate's run before queueing it: a range run gets its plate.
        run = instance.create_run_for_job(dg.GraphDefinition("noop").to_job(),
                                          tags={"dagster/asset_partition_range_start": "P9|A01"})
        instance.run_coordinator.tag_plate(run)
        assert instance.get_run_by_id(run.run_id).tags[PLATE_TAG] == "P9"


# --- a small soak against the real services -----------------------------------------------------------


@pytest.mark.soak
def test_small_soak() -> None:
    """Two plates through Postgres, Redis, the daemon and two Celery workers, with a worker killed."""
    missing = [name for name in ("redis-server",) if shutil.which(name) is None]
    if PG_BIN is None or not (PG_BIN / "pg_ctl").exists():
        missing.append("postgresql")
    if missing:
        pytest.skip(f"soak needs Debian's {' and '.join(missing)} (apt-get install postgresql redis-server)")
    pytest.importorskip("dagster_celery", reason="the deploy extra (dagster-celery) is not installed")
    started = time.time()
    process = subprocess.Popen([sys.executable, "-m", "morph_assets.soak", "--plates", "2", "--timeout", "1800"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=2100)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the soak then stops every service it started (deploy/stop.sh).
        process.terminate()
        stdout, stderr = process.communicate(timeout=120)
    print(stdout[-4000:], stderr[-2000:])
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    assert process.returncode == 0, f"soak failed after {time.time() - started:.0f} s: {last}"
    assert "lost 0, duplicates 0" in last
