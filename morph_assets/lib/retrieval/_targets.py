"""Sister-compound retrieval: do compounds that share a target have similar consensus profiles?

CPJUMP1's second retrieval task (Chandrasekaran et al. 2024, Nature Methods): each compound's
treatment-level consensus profile is a query once per annotated target; its positives are the
other compounds holding that target, its negatives the compounds sharing no target with it
(``Metadata_target_list`` is multi-label, ``"|"``-separated). Scored with copairs 0.5.5's
multilabel semantics (``copairs.map.multilabel.average_precision``):

* one AP per (compound, target) for every target the compound shares with at least one other
  compound, so only targets held by two or more compounds count;
* a query's negatives are the same for every one of its targets, each other compound once;
* the mAP of a target is the mean AP of the compounds holding it, with copairs' permutation
  p-value and a Benjamini-Hochberg q-value over targets; the fraction retrieved is the share of
  targets with q < 0.05.

Only compounds are ranked: rows with a ``Metadata_control_type`` (DMSO, positive controls) and
rows without any target annotation (an unknown target is not a known "shares no target") are
left out before scoring, as queries and as negatives.

Built on :func:`~morph_assets.lib.retrieval.average_precision`: the compounds are listed once per
target (features repeated), positives are rows of the same target and another compound, and a
negative filter keeps one row per other compound with no shared target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from morph_assets.lib.retrieval._average_precision import (
    UnpairedError,
    average_precision,
    checked_features,
    mean_average_precision,
)
from morph_assets.lib.schema import CONTROL_TYPE, TARGET_LIST, TREATMENT

#: Column of the per-query table and the per-target table holding one target (gene symbol).
TARGET = "target"
#: Separator of ``Metadata_target_list``.
TARGET_SEPARATOR = "|"


def target_sets(target_lists: pl.Series) -> list[list[str]]:
    """Each row's targets: split on ``"|"``, blanks and duplicates dropped, order kept.

    Parameters
    ----------
    target_lists : pl.Series
        ``Metadata_target_list`` strings (null for no annotation).

    Returns
    -------
    list of list of str
        One (possibly empty) list per row.
    """
    out = []
    for text in target_lists.cast(pl.String).to_list():
        labels = [label.strip() for label in (text or "").split(TARGET_SEPARATOR)]
        out.append(list(dict.fromkeys(label for label in labels if label)))
    return out


def compound_rows(treatments: pl.DataFrame) -> pl.DataFrame:
    """The rows sister-compound retrieval ranks: compounds (no control type) with a target annotation.

    Parameters
    ----------
    treatments : pl.DataFrame
        Treatment-level profiles with ``Metadata_target_list`` and, when present,
        ``Metadata_control_type`` (null for a compound).

    Returns
    -------
    pl.DataFrame
        The same columns, controls and unannotated rows removed.

    Raises
    ------
    ValueError
        If ``Metadata_target_list`` is missing.
    """
    if TARGET_LIST not in treatments.columns:
        raise ValueError(f"treatment profiles lack {TARGET_LIST!r}: sister compounds are defined by targets")
    compounds = treatments.filter(pl.col(CONTROL_TYPE).is_null()) if CONTROL_TYPE in treatments.columns else treatments
    annotated = pl.Series([bool(labels) for labels in target_sets(compounds[TARGET_LIST])], dtype=pl.Boolean)
    return compounds.filter(annotated)


def sister_average_precision(
    meta: pl.DataFrame, features: np.ndarray, *, target_col: str = TARGET_LIST, block_size: int = 256
) -> pl.DataFrame:
    """AP of every (compound, shared target) query, as copairs 0.5.5's multilabel average precision.

    Parameters
    ----------
    meta : pl.DataFrame
        One row per compound (no null in ``target_col``; filter with :func:`compound_rows`).
    features : np.ndarray
        ``len(meta) x n_features`` finite matrix (cosine similarity; zero-norm rows follow
        :func:`~morph_assets.lib.retrieval.average_precision`'s rule).
    target_col : str, default "Metadata_target_list"
        ``"|"``-separated targets.
    block_size : int, default 256
        Queries per matrix product.

    Returns
    -------
    pl.DataFrame
        ``meta`` (without ``target_col``) plus ``target`` (String), ``average_precision``
        (Float64, null only under the zero-norm rule), ``n_pos_pairs``, ``n_total_pairs``: one row
        per compound and target it shares with another compound, sorted by target then input
        row (copairs' row set and AP; its row order is by target too).

    Raises
    ------
    ValueError
        On a missing column, a non-finite feature or a shape mismatch.
    UnpairedError
        If no target is shared by two compounds (``"positive"``) or every pair of compounds
        shares a target (``"negative"``).
    """
    if target_col not in meta.columns:
        raise ValueError(f"metadata has no column {target_col!r}")
    x = checked_features(features, meta.height)
    labels = target_sets(meta[target_col])
    compound = np.repeat(np.arange(meta.height), [len(row) for row in labels])
    flat = [label for row in labels for label in row]
    if not flat:
        raise UnpairedError("positive", meta.height, "no compound has a target annotation")
    names, label_codes = np.unique(np.asarray(flat, dtype=object).astype(str), return_inverse=True)
    membership = np.zeros((meta.height, names.size), dtype=np.float64)
    membership[compound, label_codes] = 1.0
    shares = (membership @ membership.T) > 0  # compounds x compounds: any target in common
    # A compound is listed once per target; only its first row stands for it as a negative, so a
    # negative compound counts once whatever the number of its targets (copairs dedups so).
    first = np.r_[True, compound[1:] != compound[:-1]]

    def no_shared_target(rows: np.ndarray) -> np.ndarray:
        return ~shares[compound[rows]][:, compound] & first[None, :]

    exploded = pl.DataFrame({"_compound": compound, TARGET: names[label_codes].tolist()},
                            schema={"_compound": pl.Int64, TARGET: pl.String})
    ap = average_precision(exploded, x[compound], pos_sameby=[TARGET], pos_diffby=["_compound"],
                           neg_diffby=["_compound"], neg_filter=no_shared_target, block_size=block_size)
    scored = ap.filter(pl.col("n_pos_pairs") > 0).sort(TARGET, "_compound")
    return meta.drop(target_col).with_row_index("_compound").with_columns(pl.col("_compound").cast(pl.Int64)).join(
        scored, on="_compound", how="inner").sort(TARGET, "_compound").drop("_compound")


def sister_compound_retrieval(
    treatments: pl.DataFrame,
    features: Sequence[str],
    *,
    null_size: int = 10000,
    threshold: float = 0.05,
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CPJUMP1 sister-compound retrieval on treatment-level consensus profiles.

    Parameters
    ----------
    treatments : pl.DataFrame
        One consensus profile per treatment (e.g. ``treatment_profiles_<representation>``) with
        ``Metadata_treatment``, ``Metadata_target_list``, ``Metadata_control_type`` and the
        feature columns. Controls and unannotated rows are dropped (:func:`compound_rows`).
    features : sequence of str
        Feature columns (finite; drop incomplete rows first).
    null_size, threshold, seed
        Passed to :func:`~morph_assets.lib.retrieval.mean_average_precision`.

    Returns
    -------
    tuple of pl.DataFrame
        ``(ap_table, per_target)``: one AP per (compound, target) query (see
        :func:`sister_average_precision`), and per target its ``n_profiles`` (compounds scored),
        ``mean_average_precision``, ``p_value``, ``corrected_p_value`` (BH over targets),
        ``below_p``, ``below_corrected_p``.

    Raises
    ------
    ValueError
        If ``features`` is empty or a column is missing.
    UnpairedError
        If no target is held by two compounds, or no two compounds differ in every target.
    """
    if not features:
        raise ValueError("no feature column given: pass the profile columns to compare")
    missing = [c for c in (TREATMENT, *features) if c not in treatments.columns]
    if missing:
        raise ValueError(f"treatment profiles lack column(s) {missing[:5]}")
    compounds = compound_rows(treatments)
    x = compounds.select(pl.col(list(features)).cast(pl.Float64)).to_numpy()
    meta = compounds.select(pl.exclude(list(features)))
    ap_table = sister_average_precision(meta, x)
    per_target = mean_average_precision(ap_table, [TARGET], null_size=null_size, threshold=threshold, seed=seed)
    return ap_table, per_target
