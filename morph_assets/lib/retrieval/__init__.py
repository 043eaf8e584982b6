"""Retrieval: average precision and mAP of replicates against negative controls, and the report.

Also CPJUMP1's second task, sister-compound retrieval (compounds sharing a target), and, on
generated plates, how well profile similarities follow the generator's true phenotypes.

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
from morph_assets.lib.retrieval._study_tasks import (
    CPJUMP1_SISTER_FRACTION,
    NO_GROUND_TRUTH,
    NO_SHARED_TARGETS,
    NO_TARGET_NEGATIVES,
    SISTER_PER_TARGET_SCHEMA,
    SISTER_SUMMARY_SCHEMA,
    TRUTH_CORRELATION_SCHEMA,
    consensus_profiles,
    score_sister_compounds,
    truth_row,
)
from morph_assets.lib.retrieval._targets import (
    TARGET,
    compound_rows,
    sister_average_precision,
    sister_compound_retrieval,
    target_sets,
)
from morph_assets.lib.retrieval._truth import (
    TRUTH_FILE,
    TruthCorrelation,
    read_truth,
    truth_correlation,
    truth_treatments,
)

__all__ = [
    "CPJUMP1_SISTER_FRACTION",
    "NO_GROUND_TRUTH",
    "NO_SHARED_TARGETS",
    "NO_TARGET_NEGATIVES",
    "SISTER_PER_TARGET_SCHEMA",
    "SISTER_SUMMARY_SCHEMA",
    "TRUTH_CORRELATION_SCHEMA",
    "consensus_profiles",
    "score_sister_compounds",
    "truth_row",
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
    "TARGET",
    "TRUTH_FILE",
    "TruthCorrelation",
    "UnpairedError",
    "average_precision",
    "benjamini_hochberg",
    "checked_features",
    "compound_rows",
    "fraction_retrieved",
    "mean_average_precision",
    "near_position_threshold",
    "null_distribution",
    "read_truth",
    "replicate_retrieval",
    "runs_table",
    "score_profiles",
    "sister_average_precision",
    "sister_compound_retrieval",
    "summary_pivot",
    "target_sets",
    "truth_correlation",
    "truth_treatments",
    "well_coordinates",
    "zero_norm_rows",
]
