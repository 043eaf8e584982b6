"""Profiles stage: plate profiles, treatment consensus, the mAP report."""

import dagster as dg

from morph_assets.defs.jobs import study_job
from morph_assets.defs.profiles.assets import treatment_profiles, well_profiles
from morph_assets.defs.profiles.map_assets import map_report

defs = dg.Definitions(
    assets=[well_profiles, treatment_profiles, map_report],
    jobs=[study_job],
)
