"""Ingest stage: plate layouts and raw images, with the sensor and schedule that feed them."""

import dagster as dg

from morph_assets.defs.ingest.assets import plate_layout, raw_images
from morph_assets.defs.ingest.schedules import incomplete_plates_schedule
from morph_assets.defs.ingest.sensors import new_plate_sensor

defs = dg.Definitions(
    assets=[plate_layout, raw_images],
    sensors=[new_plate_sensor],
    schedules=[incomplete_plates_schedule],
)
