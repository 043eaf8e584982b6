"""Faults under the service: a file that turns bad after a good run, a plate folder that vanishes
while its run waits in the queue, a full disk at the lake's writer.

Each leaves what the lake already held for the affected wells as it was, reports one line that
names the file and the fix, and lets the plate's other wells go on.
"""

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from morph_assets_tests.defs.helpers import definitions_for, ingest_plate

from morph_assets.defs.partitions import plate_range_tags
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import format_image_name
from morph_assets.lib.schema import RAW_IMAGES, WELL

PLATE = "SYNJT0001"
INGEST = ("plate_layout", "raw_images")


def _rerun_wells(defs: dg.Definitions, instance: dg.DagsterInstance, plate: str, first: str, last: str):
    """The plate's wells run over ``first..last``, raw images only (what the schedule re-requests)."""
    job = defs.resolve_job_def("plate_wells_job")
    return job.execute_in_process(instance=instance, tags=plate_range_tags(plate, first, last), raise_on_error=False,
                                  asset_selection=[dg.AssetKey(RAW_IMAGES)])


def _well_rows(store: Lake, well: str) -> pl.DataFrame:
    return pl.read_parquet(store.plate_file(RAW_IMAGES, PLATE)).filter(pl.col(WELL) == well)


def _leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.endswith(".tmp")]


def _well_status(instance: dg.DagsterInstance, well: str) -> str:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey(RAW_IMAGES), asset_partitions=[f"{PLATE}|{well}"]), limit=1).records
    return records[0].asset_materialization.metadata["well_status"].value


def test_a_tiff_corrupted_after_a_good_run_fails_its_well_and_keeps_its_rows(source_root: Path, lake_root: Path):
    defs, store = definitions_for(lake_root, source_root), Lake(lake_root)
    with dg.instance_for_test() as instance:
        assert ingest_plate(defs, instance, PLATE, only=INGEST)[1].success
        kept_file, kept_rows = store.well_file(RAW_IMAGES, PLATE, "A01").read_bytes(), _well_rows(store, "A01")
        # A copy that failed half-way replaces one channel of A01 while the platform runs.
        bad = source_root / PLATE / "Images" / format_image_name("A01", 2, 3)
        bad.write_bytes(b"II*\x00 cut off by a failing copy")
        rerun = _rerun_wells(defs, instance, PLATE, "A01", "A03")
        assert rerun.success  # A02 and A03 went on
        status = _well_status(instance, "A01")
    assert store.well_file(RAW_IMAGES, PLATE, "A01").read_bytes() == kept_file
    assert _well_rows(store, "A01").equals(kept_rows)
    errors = store.read_errors(PLATE).filter(pl.col(WELL) == "A01")
    assert errors.height == 1 and errors["file"][0] == str(bad)
    assert "\n" not in errors["error"][0] and str(bad) in errors["error"][0] and "TIFF" in errors["error"][0]
    assert status.startswith("failed: ") and str(bad) in status
    assert _leftovers(lake_root) == []


def test_a_plate_folder_removed_while_its_run_is_queued_fails_that_run_in_one_line(source_root: Path,
                                                                                  lake_root: Path):
    defs, store = definitions_for(lake_root, source_root), Lake(lake_root)
    other = "SYNJT0002"
    with dg.instance_for_test() as instance:
        assert ingest_plate(defs, instance, PLATE, only=INGEST)[1].success
        before = {path: path.read_bytes() for path in lake_root.rglob("*") if path.is_file()}
        # The other plate was registered and its plate-level run done; then its folder went away.
        instance.add_dynamic_partitions("plates", [other])
        assert defs.resolve_job_def("plate_job").execute_in_process(instance=instance, partition_key=other).success
        shutil.rmtree(source_root / other)
        run = _rerun_wells(defs, instance, other, "A01", "P24")
        assert not run.success
        failure = run.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None and "\n" not in failure.description
    assert str(source_root / other) in failure.description
    # Nothing the lake held for the first plate changed, and the vanished plate got no well file.
    assert all(path.read_bytes() == content for path, content in before.items())
    assert store.wells_present(RAW_IMAGES, other) == []
    assert _leftovers(lake_root) == []


def test_a_full_disk_at_one_wells_write_keeps_its_previous_file(source_root: Path, lake_root: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    defs, store = definitions_for(lake_root, source_root), Lake(lake_root)  # one worker: in this process
    with dg.instance_for_test() as instance:
        assert ingest_plate(defs, instance, PLATE, only=INGEST)[1].success
        kept_file, kept_rows = store.well_file(RAW_IMAGES, PLATE, "A02").read_bytes(), _well_rows(store, "A02")
        write_parquet = pl.DataFrame.write_parquet
        full = store.well_folder(RAW_IMAGES, PLATE, "A02")

        def full_at_a02(frame, file, *args, **kwargs):
            if Path(file).parent == full:
                Path(file).write_bytes(b"PAR1 half")  # what a full disk leaves behind
                # The exception polars raises on a full disk (seen on a 64 KiB tmpfs).
                raise pl.exceptions.ComputeError(
                    "parquet: File out of specification: underlying IO error: No space left on device (os error 28)")
            return write_parquet(frame, file, *args, **kwargs)

        monkeypatch.setattr(pl.DataFrame, "write_parquet", full_at_a02)
        rerun = _rerun_wells(defs, instance, PLATE, "A01", "A03")
        assert rerun.success
        status = _well_status(instance, "A02")
    assert store.well_file(RAW_IMAGES, PLATE, "A02").read_bytes() == kept_file
    assert _well_rows(store, "A02").equals(kept_rows)
    error = store.read_errors(PLATE).filter(pl.col(WELL) == "A02")["error"][0]
    assert error.startswith("LakeFullError: ") and str(full) in error and "Free space" in error
    assert status == f"failed: {error}"
    assert _leftovers(lake_root) == []
