"""Register plate folders as they arrive and start each one's plate-level run (the assets' automation
conditions bring its wells, profiles and the study after it)."""


import json

import dagster as dg

from morph_assets.defs.jobs import plate_job
from morph_assets.defs.partitions import plates_partitions
from morph_assets.lib.plates import (
    NamingError,
    PlateError,
    discover_plate_folders,
    is_plate_complete,
    latest_modification,
    read_plate,
    validate_barcode,
)
from morph_assets.resources import LakeResource


@dg.sensor(
    job=plate_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each complete, valid plate folder under the source root as a new 'plates' "
    "partition and requests its plate-level run (the automation brings its wells after it). Known plates are never re-added; "
    "invalid folders are logged once.",
)
def new_plate_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult | dg.SkipReason:
    """Look for new plate folders; the cursor remembers invalid folders until they change."""
    known = set(context.instance.get_dynamic_partitions(plates_partitions.name))
    rejected: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
    new_plates: list[tuple[str, float]] = []
    for folder in discover_plate_folders(lake.source()):
        if folder.name in known:
            continue
        try:
            validate_barcode(folder.name)
        except NamingError as error:
            if folder.name not in rejected:
                context.log.warning(f"skipping {folder}: {error}")
            rejected[folder.name] = float("inf")  # the name will never become valid
            continue
        if not is_plate_complete(folder, quiet_seconds=lake.quiet_minutes * 60):
            context.log.info(f"{folder}: still being written (no marker, changed in the last {lake.quiet_minutes:g} min)")
            continue
        modified = latest_modification(folder)
        if rejected.get(folder.name, -1.0) >= modified:
            continue  # already reported, unchanged since
        try:
            read_plate(folder)
        except PlateError as error:
            context.log.warning(f"skipping invalid plate folder: {error}")
            rejected[folder.name] = modified
            continue
        rejected.pop(folder.name, None)
        new_plates.append((folder.name, modified))
    cursor = json.dumps(rejected, sort_keys=True)
    if not new_plates:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new complete plate folder"), cursor=cursor)
    context.log.info(f"registering plate(s) {[plate for plate, _ in new_plates]}")
    return dg.SensorResult(
        dynamic_partitions_requests=[plates_partitions.build_add_request([plate for plate, _ in new_plates])],
        run_requests=[
            dg.RunRequest(run_key=f"{plate}:plate:{modified:.0f}", partition_key=plate) for plate, modified in new_plates
        ],
        cursor=cursor,
    )
