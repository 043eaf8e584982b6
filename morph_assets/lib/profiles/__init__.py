"""Profiles: per-image tables of each representation made into normalised, selected profiles.

Annotating per-image features with the layout, aggregating to wells by median, per-plate
normalisation (standardise, robust MAD, inverse-normal), feature selection as pycytominer does
it, and the profile tables the lake keeps for every representation and level.
"""

from morph_assets.lib.profiles._aggregate import (
    feature_columns,
    aggregate_wells,
    constant_metadata,
    feature_statistic,
)
from morph_assets.lib.profiles._normalize import (
    NormalizeMethod,
    normalize,
    rank_inverse_normal,
)
from morph_assets.lib.profiles._representations import (
    IMAGE_KEYS,
    LAYOUT_COLUMNS,
    SOURCE_TABLES,
    pixel_statistics_table,
    image_features,
    annotate,
)
from morph_assets.lib.profiles._select import (
    DEFAULT_BLOCKLIST,
    DEFAULT_OPERATIONS,
    correlation_matrix,
    correlated_features,
    select_features,
)
from morph_assets.lib.profiles._sets import (
    NORMALIZATION,
    TREATMENT,
    Level,
    NORMALIZATIONS,
    SELECTION_OPERATIONS,
    with_treatment,
    plate_profiles,
    usable_features,
    selected_features,
    treatment_consensus,
    drop_incomplete_rows,
    selected_feature_names,
)

__all__ = [
    "DEFAULT_BLOCKLIST",
    "DEFAULT_OPERATIONS",
    "IMAGE_KEYS",
    "LAYOUT_COLUMNS",
    "Level",
    "NORMALIZATION",
    "NORMALIZATIONS",
    "NormalizeMethod",
    "SELECTION_OPERATIONS",
    "SOURCE_TABLES",
    "TREATMENT",
    "aggregate_wells",
    "annotate",
    "constant_metadata",
    "correlated_features",
    "correlation_matrix",
    "drop_incomplete_rows",
    "feature_columns",
    "feature_statistic",
    "image_features",
    "normalize",
    "pixel_statistics_table",
    "plate_profiles",
    "rank_inverse_normal",
    "select_features",
    "selected_feature_names",
    "selected_features",
    "treatment_consensus",
    "usable_features",
    "with_treatment",
]
