"""The report's rows for sister-compound retrieval and the truth correlation of one profile set.

Both score treatment-level consensus profiles (the median of a treatment's well profiles over its
wells and replicate plates, :func:`~morph_assets.lib.profiles.treatment_consensus`, as
``treatment_profiles`` writes them for the normalised, selected profiles). Like the replicate
report, a profile set that cannot be scored gets a row saying why instead of failing the study.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import polars as pl

from morph_assets.lib.profiles import drop_incomplete_rows, treatment_consensus
from morph_assets.lib.retrieval._average_precision import UnpairedError, fraction_retrieved
from morph_assets.lib.retrieval._report import NO_FEATURES, NO_PROFILES, SCORED
from morph_assets.lib.retrieval._targets import TARGET, compound_rows, sister_compound_retrieval
from morph_assets.lib.retrieval._truth import truth_correlation

#: ``status`` of a profile set where no target is held by two compounds.
NO_SHARED_TARGETS = "no shared targets"
#: ``status`` of a profile set where every pair of compounds shares a target.
NO_TARGET_NEGATIVES = "no compounds without a shared target"
#: ``status`` of the truth correlation on plates without the generator's ground truth (real plates).
NO_GROUND_TRUTH = "no ground truth"
#: CPJUMP1's CellProfiler fraction retrieved for sister compounds (A549, 24 h compound plates).
CPJUMP1_SISTER_FRACTION = 0.14

#: Columns of the per-target table, also when nothing was scored (the SQL view needs them).
SISTER_PER_TARGET_SCHEMA = {
    TARGET: pl.String, "n_profiles": pl.UInt32, "mean_average_precision": pl.Float64, "p_value": pl.Float64,
    "corrected_p_value": pl.Float64, "below_p": pl.Boolean, "below_corrected_p": pl.Boolean,
    "representation": pl.String, "level": pl.String, "normalization": pl.String,
}
#: Columns of the sister-compound summary, one row per representation, level and normalisation.
SISTER_SUMMARY_SCHEMA = {
    "representation": pl.String, "level": pl.String, "normalization": pl.String, "status": pl.String,
    "reason": pl.String, "n_features": pl.Int64, "n_compounds": pl.Int64, "n_queries": pl.Int64,
    "n_targets": pl.Int64, "mean_ap": pl.Float64, "mean_map": pl.Float64, "fraction_retrieved": pl.Float64,
    "seconds": pl.Float64,
}
#: Columns of the truth-correlation table, one row per representation, level and normalisation.
TRUTH_CORRELATION_SCHEMA = {
    "representation": pl.String, "level": pl.String, "normalization": pl.String, "status": pl.String,
    "n_compounds": pl.Int64, "n_pairs": pl.Int64, "pearson": pl.Float64, "spearman": pl.Float64,
}


def consensus_profiles(wells: pl.DataFrame, features: Sequence[str]) -> pl.DataFrame:
    """Treatment consensus of one normalisation's well profiles, incomplete wells dropped first.

    Parameters
    ----------
    wells : pl.DataFrame
        Well profiles of one normalisation with ``Metadata_treatment`` and ``features``.
    features : sequence of str
        Feature columns.

    Returns
    -------
    pl.DataFrame
        One median profile per treatment (:func:`~morph_assets.lib.profiles.treatment_consensus`).
    """
    complete, _ = drop_incomplete_rows(wells, features)
    return treatment_consensus(complete, list(features))


def score_sister_compounds(
    treatments: pl.DataFrame,
    features: Sequence[str],
    *,
    representation: str,
    level: str,
    normalization: str,
    null_size: int = 10000,
    seed: int = 0,
) -> tuple[dict, pl.DataFrame]:
    """Sister-compound retrieval of one treatment-profile set, as a summary row and a per-target table.

    Parameters
    ----------
    treatments : pl.DataFrame
        Consensus profiles (:func:`consensus_profiles`).
    features : sequence of str
        Feature columns.
    representation, level, normalization : str
        Labels of the rows.
    null_size, seed : int
        Permutation null of the p-values.

    Returns
    -------
    tuple of (dict, pl.DataFrame)
        The summary row (:data:`SISTER_SUMMARY_SCHEMA`; ``status`` ``"scored"`` or why not) and
        the per-target table (:data:`SISTER_PER_TARGET_SCHEMA`, empty when not scored).
    """
    started = time.perf_counter()
    labels = dict(representation=representation, level=level, normalization=normalization)
    complete, _ = drop_incomplete_rows(treatments, features)
    n_compounds = compound_rows(complete).height if complete.height else 0
    row = dict(**labels, status=SCORED, reason=None, n_features=len(features), n_compounds=n_compounds,
               n_queries=0, n_targets=0, mean_ap=None, mean_map=None, fraction_retrieved=None, seconds=0.0)
    empty = pl.DataFrame(schema=SISTER_PER_TARGET_SCHEMA)
    if not features or n_compounds == 0:
        status = NO_FEATURES if not features else NO_PROFILES
        return {**row, "status": status, "reason": f"{len(features)} usable features, {n_compounds} annotated "
                "compounds with complete consensus profiles"}, empty
    try:
        ap_table, per_target = sister_compound_retrieval(complete, features, null_size=null_size, seed=seed)
    except UnpairedError as error:
        status = NO_SHARED_TARGETS if error.kind == "positive" else NO_TARGET_NEGATIVES
        return {**row, "status": status, "reason": f"{n_compounds} annotated compounds: {error}"}, empty
    scored = ap_table["average_precision"].drop_nulls()
    row.update(n_queries=scored.len(), n_targets=per_target.height,
               mean_ap=float(scored.mean()) if scored.len() else None,
               mean_map=float(per_target["mean_average_precision"].mean()) if per_target.height else None,
               fraction_retrieved=fraction_retrieved(per_target) if per_target.height else None,
               seconds=round(time.perf_counter() - started, 2))
    table = per_target.with_columns(pl.lit(v).alias(k) for k, v in labels.items())
    return row, pl.concat([empty, table], how="diagonal_relaxed").select(list(SISTER_PER_TARGET_SCHEMA))


def truth_row(
    treatments: pl.DataFrame, features: Sequence[str], truth: pl.DataFrame | None, *, representation: str,
    level: str, normalization: str,
) -> dict:
    """The truth-correlation row of one treatment-profile set (``"no ground truth"`` without a truth table).

    Parameters
    ----------
    treatments : pl.DataFrame
        Consensus profiles.
    features : sequence of str
        Feature columns.
    truth : pl.DataFrame or None
        The generator's ``compound_phenotypes`` table; None on real plates.
    representation, level, normalization : str
        Labels of the row.

    Returns
    -------
    dict
        A row of :data:`TRUTH_CORRELATION_SCHEMA`.
    """
    row = dict(representation=representation, level=level, normalization=normalization, status=NO_GROUND_TRUTH,
               n_compounds=0, n_pairs=0, pearson=None, spearman=None)
    if truth is None:
        return row
    if not features:
        return {**row, "status": NO_FEATURES}
    complete, _ = drop_incomplete_rows(treatments, features)
    result = truth_correlation(complete, features, truth)
    return {**row, "status": SCORED, "n_compounds": result.n_compounds, "n_pairs": result.n_pairs,
            "pearson": result.pearson, "spearman": result.spearman}
