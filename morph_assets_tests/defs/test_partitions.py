"""Plate barcodes as Dagster partition keys: our barcode rule against Dagster's own reserved substrings."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.definitions.partitions.utils.base import INVALID_PARTITION_SUBSTRINGS
from dagster._core.definitions.partitions.utils.multi import (
    INVALID_STATIC_PARTITIONS_KEY_CHARACTERS,
    MULTIPARTITION_KEY_DELIMITER,
)

from morph_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG, plate_range_tags
from morph_assets.lib.plates import RESERVED_BARCODE_SUBSTRINGS, WELLS_384, NamingError, validate_barcode

DAGSTER_RESERVED = sorted(
    {*INVALID_PARTITION_SUBSTRINGS, *INVALID_STATIC_PARTITIONS_KEY_CHARACTERS, MULTIPARTITION_KEY_DELIMITER}
)


def _dagster_accepts(barcode: str) -> bool:
    """Dagster's own validation of the same key, as a plate x well multi-partition dimension."""
    try:
        dg.MultiPartitionsDefinition(
            {"plate": dg.StaticPartitionsDefinition([barcode]), "well": dg.StaticPartitionsDefinition(["A01"])}
        )
    except dg.DagsterInvalidDefinitionError:
        return False
    return True


def test_our_rule_covers_every_substring_dagster_reserves():
    assert set(DAGSTER_RESERVED) <= set(RESERVED_BARCODE_SUBSTRINGS)


@pytest.mark.parametrize("reserved", DAGSTER_RESERVED)
def test_every_dagster_reserved_substring_is_rejected_with_barcode_substring_and_fix(reserved):
    barcode = f"BR{reserved}01"
    assert not _dagster_accepts(barcode)  # Dagster itself refuses the key...
    with pytest.raises(NamingError) as caught:  # ...and we refuse it at the door
        validate_barcode(barcode)
    message = str(caught.value)
    assert repr(barcode) in message and f"contains {reserved!r}" in message
    assert "rename the plate folder, e.g. to 'BR_01'" in message


@pytest.mark.parametrize("barcode", ["BR00116991", "00123", "BR..01", "plate_1.a-b", "SYNJT0001"])
def test_accepted_barcodes_are_keys_dagster_accepts_and_splits_back(barcode):
    assert validate_barcode(barcode) == barcode
    assert _dagster_accepts(barcode)
    key = dg.MultiPartitionKey({"plate": barcode, "well": "P24"})
    assert str(key) == f"{barcode}|P24"
    assert key.keys_by_dimension == {"plate": barcode, "well": "P24"}


def test_plate_range_tags_span_the_plate_and_refuse_reserved_barcodes():
    assert plate_range_tags("00123") == {RANGE_START_TAG: f"00123|{WELLS_384[0]}", RANGE_END_TAG: "00123|P24"}
    with pytest.raises(NamingError, match=r"'BR\.\.\.01' is not allowed"):
        plate_range_tags("BR...01")
