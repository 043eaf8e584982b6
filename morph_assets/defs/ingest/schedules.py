"""Schedule: re-request plates whose wells are missing from the lake."""


from pathlib import Path

import dagster as dg
import polars as pl

from morph_assets.defs.jobs import plate_wells_job
from morph_assets.defs.partitions import plate_range_tags, plates_partitions
from morph_assets.lib import schema, tasks
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import PlateError, read_plate
from morph_assets.resources import LakeResource


def wells_to_retry(lake: Lake, plate: str, imaged_wells: list[str]) -> list[str]:
    """Wells with images but no ``raw_images`` file that are worth another run.

    A well whose last run failed on a file is retried only once that file has changed since the
    failure was recorded (someone replaced it); a well missing for another reason (a crashed run,
    a plate registered but never run) is always retried.
    """
    present = set(lake.wells_present(schema.RAW_IMAGES, plate))
    missing = [well for well in imaged_wells if well not in present]
    errors_path = lake.errors_file(schema.RAW_IMAGES, plate)
    if not missing or not errors_path.exists():
        return missing
    recorded_at = errors_path.stat().st_mtime
    failed_files: dict[str, list[str]] = {}
    for record in pl.read_parquet(errors_path).filter(pl.col(schema.WELL).is_not_null()).iter_rows(named=True):
        failed_files.setdefault(record[schema.WELL], []).append(record[schema.ERROR_FILE])

    def changed_since_failure(file: str) -> bool:
        try:
            return Path(file).stat().st_mtime > recorded_at
        except OSError:
            return True  # the file was removed or renamed: the well may be fine now

    return [
        well for well in missing
        if well not in failed_files or any(changed_since_failure(file) for file in failed_files[well])
    ]


@dg.schedule(
    job=plate_wells_job,
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour, re-run the wells of known plates that have images but nothing in the lake.",
)
def incomplete_plates_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource):
    """Yield one range run per incomplete plate (never adds a plate; the sensor does that)."""
    store = lake.lake()
    requests = []
    for plate in context.instance.get_dynamic_partitions(plates_partitions.name):
        try:
            index = read_plate(lake.plate_folder(plate))
        except PlateError as error:
            context.log.warning(f"plate {plate}: source folder unusable, not retried: {error}")
            continue
        retry = wells_to_retry(store, plate, index.wells())
        if retry:
            context.log.info(f"plate {plate}: {len(retry)} well(s) missing from the lake, e.g. {retry[:5]}")
            # A range is a box of wells; the smallest box that covers every well to retry.
            requests.append(dg.RunRequest(
                run_key=f"{plate}:refill:{context.scheduled_execution_time:%Y%m%dT%H%M}",
                tags=plate_range_tags(plate, min(retry), max(retry)),
            ))
    return requests or dg.SkipReason("every known plate has all its imaged wells in the lake")
