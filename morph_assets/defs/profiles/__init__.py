"""Profiles stage: plate profiles, treatment consensus, the mAP report."""

import dagster as dg

from morph_assets.defs.jobs import plate_profiles_job, study_job
from morph_assets.defs.profiles.assets import treatment_profiles, well_profiles
from morph_assets.defs.profiles.map_assets import map_report
from morph_assets.defs.profiles.sensors import profiles_after_wells, study_after_profiles

defs = dg.Definitions(
    assets=[well_profiles, treatment_profiles, map_report],
    jobs=[plate_profiles_job, study_job],
    sensors=[profiles_after_wells, study_after_profiles],
)
