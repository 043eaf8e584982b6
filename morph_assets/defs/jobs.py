"""Level tags and the jobs users launch by name. What follows what is not chained here: the
assets' automation conditions (``morph_assets.defs.automation``) do that, however a run started.
Assets with different partitions cannot share a run, so a plate is processed in three runs: its
plate-level assets, all its well-level assets (one range run), then its profiles; the
study-level assets (over every plate) follow in a fourth. Each asset joins its job by tag, so a
new stage only has to tag its assets."""

import dagster as dg

LEVEL_TAG = "morph_assets/level"
PLATE_LEVEL = {LEVEL_TAG: "plate"}
WELL_LEVEL = {LEVEL_TAG: "well"}
PLATE_PROFILES_LEVEL = {LEVEL_TAG: "plate_profiles"}
STUDY_LEVEL = {LEVEL_TAG: "study"}
SQL_GROUP = "sql"

plate_job = dg.define_asset_job(
    "plate_job", selection=dg.AssetSelection.tag(LEVEL_TAG, "plate"),
    description="One plate's plate-level assets (layout, illumination); the automation brings its wells, "
    "profiles and the study after it (the new-plate sensor launches it).",
)
plate_wells_job = dg.define_asset_job(
    "plate_wells_job", selection=dg.AssetSelection.tag(LEVEL_TAG, "well"),
    description="Every per-well asset of one plate, in one run (wells in a process pool): the Launchpad "
    "route to choose the segmenter; the hourly schedule re-runs missing wells with it.",
)
study_job = dg.define_asset_job(
    "study_job", selection=dg.AssetSelection.tag(LEVEL_TAG, "study"),
    description="Everything computed over all plates, the networks included (the automation retrains those "
    "only nightly): treatment profiles, the mAP report, models, clusters, report.",
)
segmentation_model_job = dg.define_asset_job(
    "segmentation_model_job", selection=dg.AssetSelection.assets("segmentation_model"),
    description="Train the Cellpose nuclei and cell models from the ground-truth masks of a synthetic plate.",
)
