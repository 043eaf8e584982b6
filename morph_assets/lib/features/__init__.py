"""Per-cell features: loading a corrected site, regionprops, and small image tensors.

The study's own features (scikit-image ``regionprops`` in CellProfiler's naming), their
per-image aggregates, and the fixed-size tensors image models read. CellProfiler's own
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
from morph_assets.lib.features import cellprofiler


__all__ = [
    "AREASHAPE_PROPERTIES",
    "CHANNEL_ORDER",
    "COMPARTMENTS",
    "INTENSITY_PROPERTIES",
    "ROBUST_PERCENTILE",
    "SKIPPED_VALUES",
    "Segmentation",
    "area_downsample",
    "cellprofiler",
    "compartment_labels",
    "grayscale",
    "image_aggregates",
    "image_keys_and_features",
    "load_illumination",
    "load_site",
    "load_well_tensors",
    "measure_regionprops",
    "per_image_means",
    "robust_scale",
    "save_well_tensors",
    "site_tensor",
    "with_mask",
]
