"""Ingest stage: plate layouts and raw images, with the sensor, schedule and jobs that feed them.

``plate_job`` (launched by the new-plate sensor) and ``plate_wells_job`` (the hourly schedule's)
are registered here, beside the sensor and schedule that launch them.
"""

import dagster as dg

from morph_assets.defs.ingest.assets import plate_layout, raw_images
from morph_assets.defs.ingest.schedules import incomplete_plates_schedule
from morph_assets.defs.ingest.sensors import new_plate_sensor
from morph_assets.defs.jobs import plate_job, plate_wells_job

defs = dg.Definitions(
    assets=[plate_layout, raw_images],
    jobs=[plate_job, plate_wells_job],
    sensors=[new_plate_sensor],
    schedules=[incomplete_plates_schedule],
)
