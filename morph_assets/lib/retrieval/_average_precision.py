"""Retrieval metrics for morphological profiles: average precision and mAP.

Plain (Dagster-free) re-implementation of the copairs 0.5.5 semantics
(``copairs.map.average_precision`` / ``copairs.map.mean_average_precision``)
with a block-wise, memory-bounded computation:

* A *pair* of profiles ``(a, b)``, ``a != b``, satisfies a rule
  ``(sameby, diffby)`` when every ``sameby`` column is equal and every
  ``diffby`` column differs between the two rows (copairs' self-join).
  Pairs are unordered, so every pair counts for both of its profiles.
* For each profile (the query), its positive partners and its negative
  partners are ranked by cosine similarity (descending). A partner that
  satisfies both rules appears in both lists, as in copairs. Ties are broken
  as copairs does: similarities are rounded to float32 (copairs stores them
  so) and on equal float32 ``1 - similarity`` a positive ranks before a
  negative. Similarities themselves are computed in float64.
* AP is the mean over positives of the precision at each positive's rank.

Similarities are computed for a block of queries at a time against only the
rows that are partners of at least one query of the block, with one matrix
product of unit-normalised rows; no list of pairs is ever materialised.

Inputs are checked at every public entry, and two degenerate inputs follow a
documented rule instead of copairs' accidents:

* **Non-finite features** (NaN, +-inf) raise ``ValueError`` naming the first
  bad row and feature. copairs 0.5.5 raises for NaN but lets inf through,
  where the similarity becomes NaN; we reject both.
* **Zero-norm profiles** (every feature exactly 0) have no direction, so
  their cosine similarity is undefined. copairs 0.5.5 divides by the zero
  norm: the NaN similarities of such a query tie, its positives come first
  in the stable sort, and it scores AP 1.0; as a partner it sorts last. Our
  rule: a zero-norm profile is taken out of the ranking altogether, as a
  query (null AP, no pairs) and as a partner of every other query (its pairs
  are not counted), and a query whose only negatives were zero-norm profiles
  gets a null AP rather than the 1.0 of a list without negatives. The AP of
  every other profile equals copairs' on the input without the zero-norm
  rows, and no zero-norm profile can score, or help another score, a perfect
  AP. :func:`zero_norm_rows` tells which rows the rule removes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl


class UnpairedError(ValueError):
    """No pair satisfies the positive (or the negative) rule: there is nothing to rank.

    The counterpart of copairs' ``UnpairedException``; a ``ValueError`` so that callers catching
    that keep working. ``kind`` is ``"positive"`` or ``"negative"``, ``n_profiles`` the rows given.
    """

    def __init__(self, kind: str, n_profiles: int, detail: str = "") -> None:
        self.kind = kind
        self.n_profiles = n_profiles
        super().__init__(f"unable to find {kind} pairs among {n_profiles} profiles" + (f": {detail}" if detail else ""))


def checked_features(features: np.ndarray, n_rows: int, names: Sequence[str] | None = None) -> np.ndarray:
    """The profile matrix as finite float64, or one clear error saying what is wrong with it.

    Parameters
    ----------
    features : array_like
        ``n_rows x n_features`` numeric matrix.
    n_rows : int
        Rows the metadata has.
    names : sequence of str, optional
        Feature names, used in the message instead of column indices.

    Returns
    -------
    np.ndarray
        The matrix as float64 (a view when it already is).

    Raises
    ------
    ValueError
        If it is not numeric, not 2-D, has no column, has a row count other than ``n_rows``, or
        holds a NaN or infinite value (copairs 0.5.5 raises ``features should not have null
        values`` for NaN; an infinite value would turn cosine similarities into NaN).
    """
    try:
        x = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"features must be numeric (cast them to float first): {error}") from None
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"features must be a 2-D matrix with at least one column, got shape {x.shape}")
    if x.shape[0] != n_rows:
        raise ValueError(f"features have {x.shape[0]} rows but the metadata has {n_rows}; pass one profile per row")
    finite = np.isfinite(x)
    if not finite.all():
        bad_rows, bad_columns = np.nonzero(~finite)
        row, column = int(bad_rows[0]), int(bad_columns[0])
        name = repr(names[column]) if names is not None else str(column)
        raise ValueError(
            f"features hold {bad_rows.size} non-finite value(s) in {np.unique(bad_rows).size} profile(s), first "
            f"{x[row, column]} at row {row}, feature {name}; cosine similarity is undefined there: drop those "
            "profiles (profile_sets.drop_incomplete_rows) or the feature before scoring"
        )
    return x


def zero_norm_rows(features: np.ndarray) -> np.ndarray:
    """Which profiles have every feature exactly 0 (no direction, so no cosine similarity).

    Parameters
    ----------
    features : np.ndarray
        ``n x n_features`` finite matrix.

    Returns
    -------
    np.ndarray
        Boolean, length ``n``: the rows :func:`average_precision` leaves out of the ranking.
    """
    return ~np.any(np.asarray(features) != 0, axis=1)


def _codes(meta: pl.DataFrame, column: str) -> np.ndarray:
    """Integer codes of a metadata column (equal values, equal codes)."""
    if column not in meta.columns:
        raise ValueError(f"metadata has no column {column!r} named in a pair rule; columns: {meta.columns}")
    series = meta[column]
    if series.null_count():
        raise ValueError(f"metadata column {column!r} has null values")
    if series.dtype == pl.Boolean:
        series = series.cast(pl.Int8)
    return series.rank("dense").to_numpy().astype(np.int64)


def _group_codes(meta: pl.DataFrame, columns: Sequence[str]) -> np.ndarray | None:
    """One integer code per row for the combination of ``columns`` (``None`` if empty)."""
    if not columns:
        return None
    stacked = np.stack([_codes(meta, c) for c in columns], axis=1)
    return np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


PairFilter = Callable[[np.ndarray], np.ndarray]


class _Rule:
    """A pair rule (sameby, diffby, optional extra filter) evaluated block-wise as a boolean mask."""

    def __init__(
        self, meta: pl.DataFrame, sameby: Sequence[str], diffby: Sequence[str], extra: PairFilter | None = None
    ) -> None:
        sameby, diffby = list(sameby), list(diffby)
        self.extra = extra
        if not (sameby or diffby):
            raise ValueError("at least one of sameby / diffby must be given")
        if set(sameby) & set(diffby):
            raise ValueError("sameby and diffby must be disjoint lists")
        self.same = _group_codes(meta, sameby)
        self.diff = [_codes(meta, c) for c in diffby]
        self.n = meta.height

    def mask(self, rows: np.ndarray) -> np.ndarray:
        """Boolean ``len(rows) x n`` mask: ``mask[i, j]`` iff ``(rows[i], j)`` is a pair."""
        out = np.ones((len(rows), self.n), dtype=bool)
        if self.same is not None:
            np.equal(self.same[rows, None], self.same[None, :], out=out)
        for codes in self.diff:
            out &= codes[rows, None] != codes[None, :]
        if self.extra is not None:
            out &= self.extra(rows)
        out[np.arange(len(rows)), rows] = False  # never a pair with itself
        return out


def _unit_rows(x: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """Rows divided by their Euclidean norm (float64); zero-norm rows stay 0 (never ranked)."""
    norms = np.linalg.norm(x, axis=1)
    norms[zero] = 1.0
    return x / norms[:, None]


def _ap_from_keys(pos_keys: np.ndarray, neg_keys: np.ndarray) -> float:
    """AP of one ranked list given sort keys (float32 ``1 - similarity``, ascending = best).

    On equal keys positives rank before negatives (copairs' tie rule).
    """
    pos = np.sort(pos_keys)
    neg = np.sort(neg_keys)
    ranks = np.arange(1, pos.size + 1) + np.searchsorted(neg, pos, side="left")
    precision = np.arange(1, pos.size + 1, dtype=np.float64) / ranks
    return float(precision.sum() / pos.size)


def average_precision(
    meta: pl.DataFrame,
    features: np.ndarray,
    *,
    pos_sameby: Sequence[str],
    pos_diffby: Sequence[str] = (),
    neg_sameby: Sequence[str] = (),
    neg_diffby: Sequence[str] = (),
    pos_filter: PairFilter | None = None,
    neg_filter: PairFilter | None = None,
    block_size: int = 256,
) -> pl.DataFrame:
    """Average precision of every profile, with copairs 0.5.5 semantics.

    Parameters
    ----------
    meta : pl.DataFrame
        One row per profile; must hold every column named in the rules
        (no nulls).
    features : np.ndarray
        ``len(meta) x n_features`` finite profile matrix (cosine similarity is used). Zero-norm
        rows are left out of the ranking (see the module notes and :func:`zero_norm_rows`).
    pos_sameby, pos_diffby : sequence of str
        Positive pairs: equal in every ``pos_sameby`` column and different in
        every ``pos_diffby`` column.
    neg_sameby, neg_diffby : sequence of str
        Negative pairs, same convention.
    pos_filter : callable, optional
        Extra condition on positive pairs beyond equality rules: called with an array of query
        row indices, returns a ``len(rows) x n_rows`` boolean mask ANDed with the positive rule
        (used for the study's distance-based well-position split).
    neg_filter : callable, optional
        The same for negative pairs (used by sister-compound retrieval: a negative shares no
        target with the query, and a compound listed once per target counts once).
    block_size : int, default 256
        Queries handled per matrix product; memory is
        ``O(block_size x n_rows)``.

    Returns
    -------
    pl.DataFrame
        ``meta`` plus ``average_precision`` (Float64, null where the profile
        has no positive pair, has zero norm, or lost every negative to the
        zero-norm rule), ``n_pos_pairs`` and ``n_total_pairs`` (positives +
        negatives of the profile, zero-norm partners not counted), in input
        row order.

    Raises
    ------
    ValueError
        If shapes disagree, a feature is NaN or infinite (:func:`checked_features`), a rule is
        empty or names a missing column, or ``block_size`` < 1.
    UnpairedError
        If no positive or no negative pair exists (copairs raises ``UnpairedException`` there).
    """
    n = meta.height
    x = checked_features(features, n)
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    pos_rule = _Rule(meta, pos_sameby, pos_diffby, pos_filter)
    neg_rule = _Rule(meta, neg_sameby, neg_diffby, neg_filter)
    zero = zero_norm_rows(x)
    xn = _unit_rows(x, zero)

    ap = np.full(n, np.nan)
    n_pos = np.zeros(n, dtype=np.int64)
    n_neg = np.zeros(n, dtype=np.int64)
    # Queries sorted by positive group so that a block shares its partners.
    order = np.argsort(pos_rule.same, kind="stable") if pos_rule.same is not None else np.arange(n)
    for start in range(0, n, block_size):
        rows = order[start : start + block_size]
        pmask = pos_rule.mask(rows)
        nmask = neg_rule.mask(rows)
        had_negatives = nmask.any(axis=1)
        # The zero-norm rule: such profiles are neither queries nor partners.
        for mask in (pmask, nmask):
            mask[:, zero] = False
            mask[zero[rows]] = False
        n_pos[rows] = pmask.sum(axis=1)
        n_neg[rows] = nmask.sum(axis=1)
        # AP undefined without positives; a query whose negatives were all zero-norm would
        # rank its positives alone and score 1.0 by construction, so it is not scored either.
        active = (n_pos[rows] > 0) & ~(had_negatives & (n_neg[rows] == 0))
        if not active.any():
            continue
        rows, pmask, nmask = rows[active], pmask[active], nmask[active]
        cols = np.flatnonzero(pmask.any(axis=0) | nmask.any(axis=0))
        # copairs stores similarities as float32 and ranks by float32 ``1 - sim``;
        # doing the same reproduces its ties (near-equal similarities) exactly.
        keys = np.float32(1.0) - (xn[rows] @ xn[cols].T).astype(np.float32)
        pmask, nmask = pmask[:, cols], nmask[:, cols]
        for i, row in enumerate(rows):
            ap[row] = _ap_from_keys(keys[i, pmask[i]], keys[i, nmask[i]])

    detail = f"{int(zero.sum())} of them have zero norm and are not ranked" if zero.any() else ""
    if not n_pos.any():
        raise UnpairedError("positive", n, detail)
    if not n_neg.any():
        raise UnpairedError("negative", n, detail)
    return meta.with_columns(
        pl.Series("average_precision", ap, dtype=pl.Float64).fill_nan(None),
        pl.Series("n_pos_pairs", n_pos),
        pl.Series("n_total_pairs", n_pos + n_neg),
    )


def null_distribution(
    n_pos: int, n_total: int, null_size: int, seed: int, *, chunk: int = 1024
) -> np.ndarray:
    """APs of ``null_size`` random rankings with ``n_pos`` positives among ``n_total``.

    Reproduces copairs 0.5.5's draw exactly (``default_rng(seed)``, row-wise
    ``permuted`` of ``0..n_total-1``, first ``n_pos`` positions, float32 AP),
    generated in row chunks to bound memory.

    Parameters
    ----------
    n_pos, n_total : int
        Number of positives and of ranked items.
    null_size : int
        Number of random APs.
    seed : int
        Seed of the generator.
    chunk : int, default 1024
        Rows permuted at a time.

    Returns
    -------
    np.ndarray
        ``null_size`` float32 APs.
    """
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if n_total < 2**16 else np.uint32
    base = np.arange(n_total, dtype=dtype)
    numer = np.arange(1, n_pos + 1, dtype=np.float32)
    out = np.empty(null_size, dtype=np.float32)
    for start in range(0, null_size, chunk):
        m = min(chunk, null_size - start)
        idx = np.tile(base, (m, 1))
        rng.permuted(idx, axis=1, out=idx)
        pos_ranks = np.sort(idx[:, :n_pos], axis=1)
        out[start : start + m] = ((numer / (pos_ranks + 1)).sum(axis=1) / n_pos).astype(np.float32)
    return out


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), clipped to 1.

    Parameters
    ----------
    p_values : np.ndarray
        1-D array of p-values.

    Returns
    -------
    np.ndarray
        Adjusted p-values in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def _check_ap_table(ap_table: pl.DataFrame, sameby: Sequence[str]) -> None:
    """Raise one clear ``ValueError`` when an AP table cannot be summarised honestly."""
    missing = [c for c in ("average_precision", "n_pos_pairs", "n_total_pairs", *sameby) if c not in ap_table.columns]
    if missing:
        raise ValueError(f"AP table lacks column(s) {missing}; pass the output of average_precision")
    if not sameby:
        raise ValueError("sameby must name at least one grouping column")
    ap = ap_table["average_precision"].cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
    bad = ap[~((ap >= 0) & (ap <= 1))]
    if bad.size:
        raise ValueError(f"average_precision must lie in [0, 1] (null or NaN for an unscored profile); "
                         f"got {bad.size} value(s) such as {bad[0]}")
    pos, total = ap_table["n_pos_pairs"].to_numpy(), ap_table["n_total_pairs"].to_numpy()
    if (pos < 0).any() or (pos > total).any():
        raise ValueError("pair counts must satisfy 0 <= n_pos_pairs <= n_total_pairs; "
                         "pass the output of average_precision")


def mean_average_precision(
    ap_table: pl.DataFrame,
    sameby: Sequence[str],
    *,
    null_size: int = 10000,
    threshold: float = 0.05,
    seed: int = 0,
) -> pl.DataFrame:
    """Mean AP per group with permutation p-values and BH q-values (copairs method).

    Rows with a null (or NaN, copairs' marker) AP or no positive pair are dropped. Each distinct
    ``(n_pos_pairs, n_total_pairs)`` configuration (sorted) gets a null of
    ``null_size`` random APs, seeded from ``default_rng(seed).integers(8096)``
    in that order, as copairs does; a group's null is the element-wise mean of
    its members' nulls and ``p = (#{null > mAP} + 1) / (null_size + 1)``.

    Parameters
    ----------
    ap_table : pl.DataFrame
        Output of :func:`average_precision`.
    sameby : sequence of str
        Grouping columns.
    null_size : int, default 10000
        Size of each null distribution.
    threshold : float, default 0.05
        Significance level for ``below_p`` / ``below_corrected_p``.
    seed : int, default 0
        Seed of the null distributions.

    Returns
    -------
    pl.DataFrame
        ``sameby`` columns, ``n_profiles``, ``mean_average_precision``,
        ``p_value``, ``corrected_p_value``, ``below_p``, ``below_corrected_p``,
        sorted by ``sameby`` (no row when no profile has a positive pair).

    Raises
    ------
    ValueError
        If a column is missing, an AP is infinite or outside [0, 1], a pair count is negative or
        ``n_pos_pairs`` exceeds ``n_total_pairs``, or ``null_size`` < 1 or ``threshold`` is
        outside (0, 1].
    """
    sameby = list(sameby)
    _check_ap_table(ap_table, sameby)
    if null_size < 1:
        raise ValueError(f"null_size must be at least 1, got {null_size}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    valid = ap_table.with_columns(pl.col("average_precision").cast(pl.Float64).fill_nan(None)).filter(
        pl.col("average_precision").is_not_null() & (pl.col("n_pos_pairs") > 0)
    ).with_row_index("_row")
    confs = valid.select("n_pos_pairs", "n_total_pairs").to_numpy().astype(np.int64)
    uniq, inverse = np.unique(confs, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    seeds = np.random.default_rng(seed).integers(8096, size=len(uniq))
    nulls = np.empty((len(uniq), null_size), dtype=np.float32)
    for i, (k, total) in enumerate(uniq):
        nulls[i] = null_distribution(int(k), int(total), null_size, int(seeds[i]))

    groups = (
        valid.group_by(sameby, maintain_order=True)
        .agg(
            pl.len().alias("n_profiles"),
            pl.col("average_precision").mean().alias("mean_average_precision"),
            pl.col("_row"),
        )
        .sort(sameby)
    )
    p_values = np.empty(groups.height)
    for g, (score, members) in enumerate(
        zip(groups["mean_average_precision"].to_list(), groups["_row"].to_list(), strict=True)
    ):
        null = nulls[inverse[np.asarray(members)]].mean(axis=0)
        p_values[g] = (np.count_nonzero(null > score) + 1) / (null_size + 1)
    q_values = benjamini_hochberg(p_values)
    return groups.drop("_row").with_columns(
        pl.Series("p_value", p_values),
        pl.Series("corrected_p_value", q_values),
        pl.Series("below_p", p_values < threshold),
        pl.Series("below_corrected_p", q_values < threshold),
    )


def fraction_retrieved(map_table: pl.DataFrame) -> float:
    """Fraction of groups whose mAP is significant (``below_corrected_p``).

    Parameters
    ----------
    map_table : pl.DataFrame
        Output of :func:`mean_average_precision`.

    Returns
    -------
    float
        Mean of ``below_corrected_p`` (NaN for an empty table).
    """
    if map_table.height == 0:
        return float("nan")
    return float(map_table["below_corrected_p"].cast(pl.Float64).mean())
