"""Per-cell features: loading a corrected site, regionprops, small image tensors and single-cell crops.

The study's own features (scikit-image ``regionprops`` in CellProfiler's naming), their
per-image aggregates, the fixed-size tensors image models read, and single-cell crops (a fixed box
of every channel plus the cell's own mask around each cell, keyed by its ObjectNumber). CellProfiler's own
measurements live in the :mod:`~morph_assets.lib.features.cellprofiler` subpackage.
"""

from morph_assets.lib.features._regionprops import (
    COMPARTMENTS,
    AREASHAPE_PROPERTIES,
    INTENSITY_PROPERTIES,
    Segmentation,
    compartment_labels,
    measure_regionprops,
    image_aggregates,
)
from morph_assets.lib.features._per_image import (
    SKIPPED_VALUES,
    image_keys_and_features,
    per_image_means,
)
from morph_assets.lib.features._sites import (
    load_illumination,
    load_site,
)
from morph_assets.lib.features._tensors import (
    CHANNEL_ORDER,
    ROBUST_PERCENTILE,
    area_downsample,
    robust_scale,
    site_tensor,
    grayscale,
    with_mask,
    save_well_tensors,
    load_well_tensors,
)
from morph_assets.lib.features._crops import (
    CROP_META_SCHEMA,
    DIAMETER_PERCENTILE,
    crop_size_from_diameters,
    single_cell_crops,
    save_well_crops,
    load_well_crops,
    resize_crops,
)
from morph_assets.lib.features import cellprofiler


__all__ = [
    "AREASHAPE_PROPERTIES",
    "CHANNEL_ORDER",
    "COMPARTMENTS",
    "CROP_META_SCHEMA",
    "DIAMETER_PERCENTILE",
    "INTENSITY_PROPERTIES",
    "ROBUST_PERCENTILE",
    "SKIPPED_VALUES",
    "Segmentation",
    "area_downsample",
    "cellprofiler",
    "compartment_labels",
    "crop_size_from_diameters",
    "grayscale",
    "image_aggregates",
    "image_keys_and_features",
    "load_illumination",
    "load_site",
    "load_well_crops",
    "resize_crops",
    "load_well_tensors",
    "measure_regionprops",
    "per_image_means",
    "robust_scale",
    "save_well_crops",
    "save_well_tensors",
    "single_cell_crops",
    "site_tensor",
    "with_mask",
]
