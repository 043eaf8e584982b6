"""Per-well runs: each well partition of a plate's single run carries its own numbers."""

from pathlib import Path

import dagster as dg
from morph_assets_tests.conftest import SMALL_WELLS
from morph_assets_tests.defs.helpers import definitions_for, ingest_plate

from morph_assets.lib.plates import format_image_name

PLATE = "SYNJT0001"


def _latest(instance: dg.DagsterInstance, well: str) -> dict:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("raw_images"), asset_partitions=[f"{PLATE}|{well}"]), limit=1).records
    return {key: value.value for key, value in records[0].asset_materialization.metadata.items()}


def test_each_well_partition_shows_its_own_rows_and_outcome(source_root: Path, lake_root: Path):
    (source_root / PLATE / "Images" / format_image_name("A01", 1, 3)).write_bytes(b"II*\x00 truncated")
    defs = definitions_for(lake_root, source_root)
    with dg.instance_for_test() as instance:
        _, wells_run = ingest_plate(defs, instance, PLATE, only=("plate_layout", "raw_images"))
        assert wells_run.success
        good, bad, empty = _latest(instance, "A02"), _latest(instance, "A01"), _latest(instance, "P24")
    # By hand: 3 healthy wells x 2 sites x 5 channels in the plate's table; A02 alone has 2 x 5 of them
    assert "P24" not in SMALL_WELLS and len(SMALL_WELLS) == 4
    assert good["dagster/row_count"] == 10 and good["well_status"] == "succeeded"
    assert bad["dagster/row_count"] == 0 and bad["well_status"].startswith("failed: ") and "TIFF" in bad["well_status"]
    assert empty["dagster/row_count"] == 0 and empty["well_status"] == "no images of this well in the plate folder"
    # the run's own numbers are there too, under names that say they cover the plate
    assert good["plate_row_count"] == 30 and good["plate_wells_failed"] == 1
