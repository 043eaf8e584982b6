"""Partitions: plates arrive over time (dynamic), wells are the 384 of the plate (static)."""


from collections import defaultdict

import dagster as dg

from morph_assets.lib.plates import WELLS_384, validate_barcode

plates_partitions = dg.DynamicPartitionsDefinition(name="plates")
wells_partitions = dg.StaticPartitionsDefinition(list(WELLS_384))
# Dimensions sort by name, so keys read "<plate>|<well>".
plate_well_partitions = dg.MultiPartitionsDefinition({"plate": plates_partitions, "well": wells_partitions})

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def plate_range_tags(plate: str, first_well: str = WELLS_384[0], last_well: str = WELLS_384[-1]) -> dict[str, str]:
    """Run tags that make one run over a box of wells of one plate (single-run backfill range).

    Raises
    ------
    morph_assets.lib.plates.NamingError
        If ``plate`` is not a barcode Dagster can hold in a partition key (a ``|`` in it would
        make ``"<plate>|<well>"`` ambiguous).
    """
    validate_barcode(plate)
    return {RANGE_START_TAG: f"{plate}|{first_well}", RANGE_END_TAG: f"{plate}|{last_well}"}


def wells_by_plate(context: dg.AssetExecutionContext) -> dict[str, list[str]]:
    """Group the run's plate x well partition keys by plate, wells sorted."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in context.partition_keys:
        # Barcodes are validated to exclude "|", so the string form splits safely.
        plate, well = str(key).split("|")
        grouped[plate].append(well)
    return {plate: sorted(wells) for plate, wells in grouped.items()}
