"""Feature selection as pycytominer 1.7's ``feature_select`` does it, on one matrix per call.

Missing values, low variance (frequency cut and unique-value cut), correlation (pycytominer's
greedy rule, with a BLAS path that is exact where it decides and falls back where it cannot) and
the blocklist; the same features are dropped as pycytominer drops.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from itertools import permutations

import numpy as np
import polars as pl
from scipy.linalg.blas import dsyrk

from morph_assets.lib.profiles._aggregate import _matrix, feature_columns


_CHANNELS = ("AGP", "DNA", "ER", "Mito", "RNA")

#: Default blocklist: CellProfiler features the field excludes as noisy (Way 2019, figshare
#: doi:10.6084/m9.figshare.10255811; the same 55 names pycytominer ships as its default list):
#: nuclear Manders and RWC colocalisation of every ordered channel pair, and nuclear granularity
#: at scales 14-16.
DEFAULT_BLOCKLIST: tuple[str, ...] = tuple(
    f"Nuclei_Correlation_{measure}_{a}_{b}"
    for measure in ("Manders", "RWC")
    for a, b in permutations(_CHANNELS, 2)
) + tuple(
    f"Nuclei_Granularity_{scale}_{channel}" for scale in (14, 15, 16) for channel in _CHANNELS
)

DEFAULT_OPERATIONS = ("drop_na_columns", "variance_threshold", "correlation_threshold", "blocklist")


def _missing_fraction(x: np.ndarray) -> np.ndarray:
    return np.isnan(x).sum(axis=0) / x.shape[0] if x.shape[0] else np.zeros(x.shape[1])


def _beyond(x: np.ndarray, cutoff: float) -> np.ndarray:
    """Columns whose largest or smallest value (NaN skipped) exceeds ``cutoff`` in absolute value."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: kept, as pycytominer
        return (np.abs(np.nanmax(x, axis=0)) > cutoff) | (np.abs(np.nanmin(x, axis=0)) > cutoff)


def _low_variance(x: np.ndarray, threshold: float) -> np.ndarray:
    """Mask of columns sklearn's ``VarianceThreshold(threshold)`` would drop."""
    with np.errstate(invalid="ignore"):
        variance = np.nanvar(x, axis=0) if x.shape[0] else np.full(x.shape[1], np.nan)
    if threshold == 0 and x.shape[0]:
        variance = np.fmin(variance, np.nanmax(x, axis=0) - np.nanmin(x, axis=0))
    return ~(variance > threshold)


def _low_variance_fast(x: np.ndarray, cols: np.ndarray, variance: np.ndarray, threshold: float) -> np.ndarray:
    """:func:`_low_variance` of ``x[:, cols]`` (``threshold > 0``, complete) from ``variance`` known to rounding.

    Only columns whose ``variance`` is within 1e-9 (relative) of ``threshold`` are recomputed
    exactly, so the choices are ``np.nanvar``'s.
    """
    drop = ~(variance > threshold)
    close = np.flatnonzero(np.abs(variance - threshold) <= 1e-9 * np.maximum(variance, threshold))
    if close.size:
        drop[close] = _low_variance(x[:, cols[close]], threshold)
    return drop


def correlation_matrix(x: np.ndarray) -> np.ndarray:
    """Return the Pearson correlation between the columns of ``x``.

    Without missing values this is ``np.corrcoef``; with them, each pair uses the rows where both
    are present (as pandas' ``DataFrame.corr``), from masked matrix products.

    Parameters
    ----------
    x : numpy.ndarray
        (samples, features) matrix, NaN where a value is missing.

    Returns
    -------
    numpy.ndarray
        (features, features) correlations.
    """
    missing = ~np.isfinite(x)
    if not missing.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.atleast_2d(np.corrcoef(x.T))
    present = (~missing).astype(np.float64)
    centred = np.where(missing, 0.0, x - np.nanmean(np.where(missing, np.nan, x), axis=0))
    n = present.T @ present
    with np.errstate(invalid="ignore", divide="ignore"):
        sums = centred.T @ present  # [i, j]: sum of column i over rows where i and j are present
        squares = (centred**2).T @ present
        cov = centred.T @ centred - sums * sums.T / n
        var_i = squares - sums**2 / n
        corr = cov / np.sqrt(var_i * var_i.T)
    corr[n < 2] = np.nan
    return np.clip(corr, -1.0, 1.0)


def _correlation_syrk(x: np.ndarray) -> np.ndarray | None:
    """Pearson correlation of complete columns from one symmetric rank-k update (half a product).

    Agrees with ``np.corrcoef`` to rounding only; ``None`` when a column is (nearly) constant
    without being exactly so, where rounding decides.
    """
    mean = x.mean(axis=0)
    return _syrk_correlation(np.asfortranarray(x - mean), mean, centred=True)[0]

#: A column whose raw sum of squares is at most this multiple of its centred one (mean^2 <= 10 var)
#: has its Gram entries taken from raw products: rounding then stays below 11 * n * 2^-53 of the
#: centred scale (2.4e-11 for 20,000 rows), far inside the 1e-9 margin the decisions keep.
_RAW_GRAM_RATIO = 11.0


def _raw_products_safe(n_rows: int) -> bool:
    """Whether the worst-case rounding of raw products (see ``_RAW_GRAM_RATIO``) stays below 1e-10."""
    return n_rows * _RAW_GRAM_RATIO * 2.0**-53 <= 1e-10


def _syrk_correlation(
    data: np.ndarray, mean: np.ndarray, *, centred: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """:func:`_correlation_syrk` and the centred sums of squares, from ``data`` (rows x columns).

    ``data`` is the mean-centred columns (``centred``) or the raw ones, whose Gram matrix is
    centred afterwards (``G - n mean mean^T``, which saves a pass over the data); with raw columns
    far from centred (see ``_RAW_GRAM_RATIO``) both results are ``None``: centre and call again.
    """
    n_rows = data.shape[0]
    gram = dsyrk(1.0, data, trans=1, lower=1)
    if centred:
        sums_of_squares = np.diag(gram).copy()
        raw = sums_of_squares + n_rows * mean**2
    else:
        raw = np.diag(gram).copy()
        gram -= n_rows * np.outer(mean, mean)
        sums_of_squares = np.diag(gram).copy()
        if np.any(raw > _RAW_GRAM_RATIO * sums_of_squares):
            return None, None
    if np.any((sums_of_squares > 0) & (sums_of_squares <= 1e-8 * raw)):
        return None, sums_of_squares
    gram = np.tril(gram, -1)
    gram += gram.T  # numpy buffers the overlapping transpose
    np.fill_diagonal(gram, sums_of_squares)
    std = np.sqrt(sums_of_squares)
    with np.errstate(invalid="ignore", divide="ignore"):
        gram /= std[:, None]
        gram /= std[None, :]
    return np.clip(gram, -1.0, 1.0, out=gram), sums_of_squares


def _sums_of_squares(x: np.ndarray, cols: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Centred sums of squares of the complete columns ``x[:, cols]`` (to rounding; see ``_RAW_GRAM_RATIO``)."""
    part = x if cols.size == x.shape[1] else x[:, cols]
    raw = np.einsum("ij,ij->j", part, part)
    sums = raw - x.shape[0] * mean[cols] ** 2
    far = np.flatnonzero((raw > _RAW_GRAM_RATIO * sums) | (not _raw_products_safe(x.shape[0])))
    if far.size:
        centred = part[:, far] - mean[cols[far]]
        sums[far] = np.einsum("ij,ij->j", centred, centred)
    return sums


def _decide(corr: np.ndarray, threshold: float, margin: float) -> np.ndarray | None:
    """pycytominer's rule on ``corr``; ``None`` when a decision is within ``margin`` of flipping."""
    sums = np.nansum(np.abs(corr), axis=0)
    with np.errstate(invalid="ignore"):
        if margin:
            near = (corr >= threshold - margin) & (corr <= threshold + margin)
            if near.any() and np.tril(near, k=-1).any():
                return None
        rows, cols = np.nonzero(corr > threshold)
    below = rows > cols  # each pair once, from the lower triangle
    rows, cols = rows[below], cols[below]
    if margin and np.any(np.abs(sums[rows] - sums[cols]) <= margin * corr.shape[0]):
        return None  # near-ties in the ranking: let the exact matrix (and its sort) decide
    rank = np.empty(corr.shape[1], dtype=np.int64)
    rank[np.argsort(sums, kind="quicksort")] = np.arange(corr.shape[1])
    return np.unique(np.where(rank[rows] > rank[cols], rows, cols))


def correlated_features(x: np.ndarray, threshold: float = 0.9) -> np.ndarray:
    """Return the indices of the columns pycytominer's ``correlation_threshold`` drops.

    Columns are ranked by the sum of their absolute correlations with all columns (ascending,
    numpy quicksort as pandas' ``sort_values``). For every pair whose (signed) correlation exceeds
    ``threshold``, the member ranked later (more correlated with everything) is dropped; each pair
    is decided independently, so both members of a chain can go.

    Without missing values the matrix comes from one ``dsyrk`` (about twice as fast as
    ``np.corrcoef``); when any decision is within 1e-9 of flipping (a correlation at the threshold,
    tied absolute-correlation sums, e.g. duplicated columns) it is redone on ``np.corrcoef``'s
    matrix, the one pycytominer uses, so the outcome is pycytominer's.

    Parameters
    ----------
    x : numpy.ndarray
        (samples, features) matrix, NaN where a value is missing.
    threshold : float, optional
        Correlation above which one of a pair is dropped, 0.9 by default.

    Returns
    -------
    numpy.ndarray
        Sorted column indices to drop.
    """
    if not 0 <= threshold <= 1:
        raise ValueError("threshold must be between 0 and 1")
    finite = x.shape[0] > 1 and bool(np.isfinite(x).all())
    return _correlated(lambda: x, x.mean(axis=0) if finite else None, threshold)[0]


def _correlated(
    columns: Callable[[], np.ndarray], mean: np.ndarray | None, threshold: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`correlated_features` of ``columns()``, whose column ``mean`` is given when complete.

    Also returns the centred sums of squares when the fast path computed them.
    """
    sums_of_squares = None
    if mean is not None:
        data = columns()
        fast = None
        if data.flags.f_contiguous and _raw_products_safe(data.shape[0]):
            fast, sums_of_squares = _syrk_correlation(data, mean, centred=False)
        if sums_of_squares is None:
            fast, sums_of_squares = _syrk_correlation(np.asfortranarray(data - mean), mean, centred=True)
        if fast is not None:
            decided = _decide(fast, threshold, margin=1e-9)
            if decided is not None:
                return decided, sums_of_squares
    decided = _decide(correlation_matrix(columns()), threshold, margin=0.0)
    assert decided is not None
    return decided, sums_of_squares


def select_features(
    profiles: pl.DataFrame,
    *,
    features: list[str] | None = None,
    operations: Sequence[str] = DEFAULT_OPERATIONS,
    na_cutoff: float = 0.05,
    variance_threshold: float = 1e-6,
    correlation_threshold: float = 0.9,
    blocklist: Sequence[str] = DEFAULT_BLOCKLIST,
    outlier_cutoff: float = 500.0,
) -> pl.DataFrame:
    """Drop uninformative or redundant features, as pycytominer's ``feature_select``.

    Operations run in the order given, each on the features the previous ones kept.

    Parameters
    ----------
    profiles : pl.DataFrame
        Profiles (usually normalised).
    features : list of str, optional
        Candidate features; default :func:`feature_columns`. Other columns are kept untouched.
    operations : sequence of str
        Any of ``"drop_na_columns"`` (missing fraction above ``na_cutoff``),
        ``"variance_threshold"`` (population variance not above ``variance_threshold``, as
        sklearn's ``VarianceThreshold`` used by pycytominer 1.7), ``"correlation_threshold"``
        (see :func:`correlated_features`), ``"blocklist"`` (names in ``blocklist``) and
        ``"drop_outliers"`` (a normalised value beyond ``outlier_cutoff`` in absolute value: a
        feature nearly constant in the controls explodes under MAD scaling; JUMP's recipe drops them).
    na_cutoff, variance_threshold, correlation_threshold : float
        Settings of the operations (pycytominer's defaults).
    blocklist : sequence of str
        Feature names to drop; default :data:`DEFAULT_BLOCKLIST`.
    outlier_cutoff : float
        Threshold of ``"drop_outliers"`` (pycytominer's default 500).

    Returns
    -------
    pl.DataFrame
        ``profiles`` without the dropped feature columns.
    """
    known = {"drop_na_columns", "variance_threshold", "correlation_threshold", "blocklist", "drop_outliers"}
    unknown = [op for op in operations if op not in known]
    if unknown:
        raise ValueError(f"unsupported operation(s) {unknown}; choose from {sorted(known)}")
    if not 0 <= na_cutoff <= 1:
        raise ValueError("na_cutoff must be between 0 and 1")
    if variance_threshold < 0:
        raise ValueError("variance_threshold must be non-negative")
    candidates = feature_columns(profiles) if features is None else list(features)
    # x keeps every candidate (F-ordered); drops only shrink ``cols``, so no operation copies the
    # table except the correlation, which needs its columns contiguous
    x = _matrix(profiles, candidates)
    cols = np.arange(len(candidates))
    blocked = set(blocklist)
    n_rows = x.shape[0]
    mean: np.ndarray | None = None
    if n_rows > 1 and {"variance_threshold", "correlation_threshold"} & set(operations):
        mean = x.mean(axis=0)
        if not np.isfinite(mean).all():  # a finite mean means no NaN or infinity in the column
            mean = None
    sums_of_squares = np.full(len(candidates), np.nan)  # centred, per candidate, once known
    for op in operations:
        current = x if cols.size == len(candidates) else None  # a subset is copied only if needed
        if op == "variance_threshold" and mean is not None and variance_threshold > 0:
            unknown = cols[np.isnan(sums_of_squares[cols])]
            if unknown.size:
                sums_of_squares[unknown] = _sums_of_squares(x, unknown, mean)
            drop = _low_variance_fast(x, cols, sums_of_squares[cols] / n_rows, variance_threshold)
        elif op == "correlation_threshold" and mean is not None:
            subset = cols  # bound now: the lambda may run twice (fast path, then exact fallback)
            correlated, squares = _correlated(
                lambda: x if subset.size == len(candidates) else x[:, subset], mean[cols], correlation_threshold
            )
            if squares is not None:
                sums_of_squares[cols] = squares
            drop = np.zeros(cols.size, dtype=bool)
            drop[correlated] = True
        elif op == "blocklist":
            drop = np.array([candidates[i] in blocked for i in cols], dtype=bool)
        else:
            current = x[:, cols] if current is None else current
            if op == "drop_na_columns":
                drop = _missing_fraction(current) > na_cutoff
            elif op == "variance_threshold":
                drop = _low_variance(current, variance_threshold)
            elif op == "correlation_threshold":
                drop = np.zeros(cols.size, dtype=bool)
                drop[correlated_features(current, correlation_threshold)] = True
            else:
                drop = _beyond(current, outlier_cutoff)
        cols = cols[~drop]
    dropped = set(candidates) - {candidates[i] for i in cols}
    return profiles.select([name for name in profiles.columns if name not in dropped])
