"""Retrieval: average precision and mAP of replicates against negative controls, and the report.

The copairs-compatible metrics (per-profile AP, permutation p-values, Benjamini-Hochberg
correction, fraction retrieved) and the study's mAP report over every representation and
setting.
"""

from morph_assets.lib.retrieval._average_precision import (
    UnpairedError,
    checked_features,
    zero_norm_rows,
    PairFilter,
    average_precision,
    null_distribution,
    benjamini_hochberg,
    mean_average_precision,
    fraction_retrieved,
)
from morph_assets.lib.retrieval._replicates import (
    well_coordinates,
    near_position_threshold,
    replicate_retrieval,
)
from morph_assets.lib.retrieval._report import (
    RetrievalSetting,
    DEFAULT_SETTINGS,
    SETTING_POSITIVES,
    SCORED,
    NO_REPLICATE_PAIRS,
    NO_NEGATIVE_CONTROLS,
    NO_FEATURES,
    NO_PROFILES,
    PER_TREATMENT_SCHEMA,
    REQUIRED_METADATA,
    RetrievalRun,
    score_profiles,
    runs_table,
    summary_pivot,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "NO_FEATURES",
    "NO_NEGATIVE_CONTROLS",
    "NO_PROFILES",
    "NO_REPLICATE_PAIRS",
    "PER_TREATMENT_SCHEMA",
    "PairFilter",
    "REQUIRED_METADATA",
    "RetrievalRun",
    "RetrievalSetting",
    "SCORED",
    "SETTING_POSITIVES",
    "UnpairedError",
    "average_precision",
    "benjamini_hochberg",
    "checked_features",
    "fraction_retrieved",
    "mean_average_precision",
    "near_position_threshold",
    "null_distribution",
    "replicate_retrieval",
    "runs_table",
    "score_profiles",
    "summary_pivot",
    "well_coordinates",
    "zero_norm_rows",
]
