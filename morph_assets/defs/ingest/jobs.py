"""Jobs of the ingest stage. Plate-level and well-level assets cannot share a run (their
partitions differ), so each plate gets one layout run and one run over its wells."""


import dagster as dg

plate_layout_job = dg.define_asset_job(
    "plate_layout_job", selection=dg.AssetSelection.assets("plate_layout"),
    description="Read one plate's platemap and perturbation metadata into the lake.",
)
plate_wells_job = dg.define_asset_job(
    "plate_wells_job", selection=dg.AssetSelection.assets("raw_images"),
    description="Every per-well asset of one plate, in one run (wells in a process pool).",
)
