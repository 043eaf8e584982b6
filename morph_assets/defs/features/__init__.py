"""Features stage: regionprops per object and CellProfiler's per-image Mean_ table."""

import dagster as dg

from morph_assets.defs.features.assets import cellprofiler_mean, regionprops_features

defs = dg.Definitions(assets=[regionprops_features, cellprofiler_mean])
