"""The new-plate sensor and the incomplete-plates schedule, evaluated with Dagster's test contexts."""

import json
import os
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
from morph_assets_tests.defs.helpers import definitions_for, ingest_plate

from morph_assets.defs.ingest.schedules import incomplete_plates_schedule
from morph_assets.defs.ingest.sensors import new_plate_sensor
from morph_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import COMPLETION_MARKER, format_image_name
from morph_assets.resources import LakeResource


def _evaluate_sensor(instance, lake: LakeResource, cursor: str | None = None):
    context = dg.build_sensor_context(instance=instance, resources={"lake": lake}, cursor=cursor)
    return new_plate_sensor(context)


def test_sensor_registers_complete_plates_once_and_requests_one_plate_run_each(source_root: Path, lake_root: Path):
    lake = LakeResource(lake_root=str(lake_root), source_root=str(source_root))
    with dg.instance_for_test() as instance:
        result = _evaluate_sensor(instance, lake)
        added = result.dynamic_partitions_requests[0]
        assert list(added.partition_keys) == ["SYNJT0001", "SYNJT0002"]
        assert [request.partition_key for request in result.run_requests] == ["SYNJT0001", "SYNJT0002"]

        instance.add_dynamic_partitions("plates", ["SYNJT0001", "SYNJT0002"])
        again = _evaluate_sensor(instance, lake, cursor=result.cursor)
        assert not again.run_requests and not again.dynamic_partitions_requests  # known plates are never re-added


def test_sensor_skips_incomplete_and_invalid_folders_without_crashing(source_root: Path, lake_root: Path, capfd):
    lake = LakeResource(lake_root=str(lake_root), source_root=str(source_root), quiet_minutes=10)
    (source_root / "SYNJT0001" / COMPLETION_MARKER).unlink()  # still being written: fresh files, no marker
    (source_root / "bad plate").mkdir()                        # a barcode that cannot become a partition key
    broken = source_root / "SYNJT0009"
    (broken / "Images").mkdir(parents=True)
    (broken / COMPLETION_MARKER).touch()                       # complete but no platemap, no images
    with dg.instance_for_test() as instance:
        result = _evaluate_sensor(instance, lake)
        assert [request.partition_key for request in result.run_requests] == ["SYNJT0002"]
        rejected = json.loads(result.cursor)
        assert set(rejected) == {"bad plate", "SYNJT0009"}
        logged = capfd.readouterr().err
        assert "no platemap file" in logged and "bad plate" in logged

        second = _evaluate_sensor(instance, lake, cursor=result.cursor)
        assert "SYNJT0009" not in capfd.readouterr().err  # an unchanged invalid folder is reported once

        # The first plate, left quiet long enough, counts as complete even without a marker.
        old = time.time() - 3600
        for path in [source_root / "SYNJT0001", *(source_root / "SYNJT0001").rglob("*")]:
            os.utime(path, (old, old))
        instance.add_dynamic_partitions("plates", ["SYNJT0002"])
        third = _evaluate_sensor(instance, lake, cursor=second.cursor)
        assert list(third.dynamic_partitions_requests[0].partition_keys) == ["SYNJT0001"]


def _evaluate_schedule(instance, lake: LakeResource):
    context = dg.build_schedule_context(
        instance=instance, resources={"lake": lake}, scheduled_execution_time=datetime(2026, 11, 24, 3, 0))
    return incomplete_plates_schedule(context)


def test_schedule_rerequests_only_plates_with_missing_wells_worth_retrying(source_root: Path, lake_root: Path):
    lake = LakeResource(lake_root=str(lake_root), source_root=str(source_root))
    defs = definitions_for(lake_root, source_root)
    corrupt = source_root / "SYNJT0002" / "Images" / format_image_name("B01", 2, 1)
    corrupt.write_bytes(b"broken")
    with dg.instance_for_test() as instance:
        for plate in ("SYNJT0001", "SYNJT0002"):
            ingest_plate(defs, instance, plate, only=("plate_layout", "raw_images"))
        assert isinstance(_evaluate_schedule(instance, lake), dg.SkipReason)  # B01 failed and its file is unchanged

        Lake(lake_root).well_file("raw_images", "SYNJT0001", "A03").unlink()  # a well lost from the lake
        future = time.time() + 5
        os.utime(corrupt, (future, future))  # someone replaced the bad file
        requests = _evaluate_schedule(instance, lake)
        ranges = sorted((request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) for request in requests)
        assert ranges == [("SYNJT0001|A03", "SYNJT0001|A03"), ("SYNJT0002|B01", "SYNJT0002|B01")]
        assert instance.get_dynamic_partitions("plates") == ["SYNJT0001", "SYNJT0002"]  # never adds plates

