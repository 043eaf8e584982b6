"""Segment stage: illumination correction, a Cellpose model, and nuclei / cell / cytoplasm masks."""

import dagster as dg

from morph_assets.defs.jobs import segmentation_model_job
from morph_assets.defs.segment.assets import illumination_correction, masks, segmentation_model

defs = dg.Definitions(assets=[illumination_correction, segmentation_model, masks], jobs=[segmentation_model_job])
