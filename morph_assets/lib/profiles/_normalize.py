"""Well-level profiles: aggregation, per-plate normalisation, inverse-normal transform, selection.

Plain polars/numpy functions (no Dagster, no pandas, no pycytominer at run time) that follow the
field's profiling recipe (pycytominer's ``aggregate`` / ``normalize`` / ``feature_select`` and
JUMP's "int" step). ``normalize`` and ``select_features`` reproduce pycytominer 1.7's numbers and
choices (see ``morph_assets_tests/lib/profiles/test_normalize.py``), vectorised over one matrix per plate.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import permutations
from typing import Literal

import numpy as np
import polars as pl
from scipy.linalg.blas import dsyrk
from scipy.special import ndtri
from scipy.stats import rankdata

METADATA_PREFIX = "Metadata_"
PLATE = "Metadata_Plate"
WELL = "Metadata_Well"

NormalizeMethod = Literal["mad_robustize", "robustize", "standardize"]

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


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """Numeric columns that are not metadata (do not start with ``Metadata_``).

    Parameters
    ----------
    frame : pl.DataFrame
        A profile table.

    Returns
    -------
    list of str
        Feature column names, in frame order.
    """
    return [
        name
        for name, dtype in frame.schema.items()
        if not name.startswith(METADATA_PREFIX) and dtype.is_numeric()
    ]


def _matrix(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Features as a float64 (rows x features) array, nulls as NaN."""
    if not features:
        return np.empty((frame.height, 0))
    values = frame.select(pl.col(list(features)).cast(pl.Float64)).to_numpy()
    return values.astype(np.float64, copy=False)


def _replace(frame: pl.DataFrame, features: Sequence[str], values: np.ndarray) -> pl.DataFrame:
    """``frame`` with ``features`` replaced by the columns of ``values`` (NaN becomes null)."""
    return _replace_transposed(frame, features, np.asarray(values, dtype=np.float64).T)


def _replace_transposed(
    frame: pl.DataFrame, features: Sequence[str], values_t: np.ndarray
) -> pl.DataFrame:
    """``frame`` with ``features`` replaced by the rows of ``values_t`` (features x rows)."""
    # C-ordered rows become polars columns without a copy (the Series keep ``values_t`` alive)
    values_t = np.ascontiguousarray(values_t, dtype=np.float64)
    columns = [pl.Series(name, values_t[i]) for i, name in enumerate(features)]
    if np.isnan(values_t).any():
        columns = [column.fill_nan(None) for column in columns]
    return frame.with_columns(columns)


def aggregate_wells(
    per_image: pl.DataFrame,
    *,
    features: list[str] | None = None,
    method: Literal["median", "mean"] = "median",
) -> pl.DataFrame:
    """Well-level profiles from per-image (or per-object) rows.

    Parameters
    ----------
    per_image : pl.DataFrame
        Rows with ``Metadata_Plate`` and ``Metadata_Well`` and feature columns.
    features : list of str, optional
        Columns to aggregate; default :func:`feature_columns`.
    method : {"median", "mean"}
        Per-feature statistic over a well's rows (nulls ignored).

    Returns
    -------
    pl.DataFrame
        One row per (plate, well), sorted, with the group keys, every other ``Metadata_`` column
        that is constant within each well, ``Metadata_n_rows`` (rows aggregated, e.g. sites), and
        when a ``Count_Cells`` column exists its well sum as ``Metadata_Count_Cells``, then the
        features.
    """
    if method not in ("median", "mean"):
        raise ValueError(f"method must be 'median' or 'mean', not {method!r}")
    missing = [key for key in (PLATE, WELL) if key not in per_image.columns]
    if missing:
        raise ValueError(f"per_image lacks the grouping column(s) {missing}")
    keys = [PLATE, WELL]
    features = feature_columns(per_image) if features is None else list(features)
    metadata = [
        name
        for name in per_image.columns
        if name.startswith(METADATA_PREFIX) and name not in keys and name not in features
        and name not in ("Metadata_n_rows", "Metadata_Count_Cells")
    ]
    constant: list[str] = []
    if metadata and per_image.height:
        counts = (
            per_image.group_by(keys)
            .agg(pl.col(metadata).n_unique())
            .select(pl.col(metadata).max())
        )
        constant = [name for name in metadata if counts[name][0] == 1]
    statistic = pl.col(features).median() if method == "median" else pl.col(features).mean()
    extra = [pl.len().cast(pl.Int64).alias("Metadata_n_rows")]
    if "Count_Cells" in per_image.columns:
        extra.append(pl.col("Count_Cells").sum().alias("Metadata_Count_Cells"))
    aggregations = [pl.col(constant).first(), *extra] if constant else extra
    if features:
        aggregations.append(statistic)
    return per_image.group_by(keys, maintain_order=True).agg(aggregations).sort(keys)


def _median(values: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Medians of the rows of ``values`` ignoring NaN, as ``np.median`` / ``np.nanmedian`` (bit for bit).

    ``np.nanmedian`` only when there is a NaN (it is slow); ``overwrite`` partitions ``values`` in
    place instead of a copy.
    """
    if np.isnan(values).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN feature (no cells) stays NaN
            return np.nanmedian(values, axis=1)
    n = values.shape[1]
    if n == 0:
        return np.full(values.shape[0], np.nan)
    half = n // 2
    if overwrite:
        values.partition(half, axis=1)
        part = values
    else:
        part = np.partition(values, half, axis=1)
    if n % 2:
        return part[:, half].copy()
    # the lower middle value is the largest of the left part; np.median averages the two as (a + b) / 2
    return (part[:, :half].max(axis=1) + part[:, half]) / 2


def _fit_transform_into(
    x: np.ndarray, reference: np.ndarray, method: NormalizeMethod, epsilon: float, out: np.ndarray
) -> None:
    """Write ``x`` scaled with statistics of ``reference`` into ``out``; rows are features, NaN ignored."""
    if method == "mad_robustize":
        center = _median(reference)
        mad = 1.4826 * _median(np.abs(reference - center[:, None]), overwrite=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.subtract(x, center[:, None], out=out)
            np.divide(out, (mad + epsilon)[:, None], out=out)
        return
    if method == "robustize":
        center = _median(reference)
        q25, q75 = np.nanpercentile(reference, [25.0, 75.0], axis=1)
        scale = q75 - q25
        scale[scale < 10 * np.finfo(np.float64).eps] = 1.0  # as sklearn's RobustScaler
        np.subtract(x, center[:, None], out=out)
        np.divide(out, scale[:, None], out=out)
        return
    if method == "standardize":
        n = np.sum(~np.isnan(reference), axis=1)
        mean = np.nanmean(reference, axis=1)
        var = np.nanvar(reference, axis=1)  # population variance, as StandardScaler
        eps = np.finfo(np.float64).eps
        constant = var <= n * eps * var + (n * mean * eps) ** 2  # sklearn's constant-feature rule
        scale = np.sqrt(var)
        scale[constant] = 1.0
        np.subtract(x, mean[:, None], out=out)
        np.divide(out, scale[:, None], out=out)
        return
    raise ValueError(f"unknown normalisation method {method!r}")


def normalize(
    profiles: pl.DataFrame,
    *,
    features: list[str] | None = None,
    method: NormalizeMethod = "mad_robustize",
    control_query: pl.Expr | None = pl.col("Metadata_control_type") == "negcon",
    by_plate: bool = True,
    epsilon: float = 1e-18,
) -> pl.DataFrame:
    """Normalise features per plate against the plate's negative-control wells.

    Parameters
    ----------
    profiles : pl.DataFrame
        Well-level profiles (``Metadata_Plate`` needed when ``by_plate``).
    features : list of str, optional
        Columns to normalise; default :func:`feature_columns`. Other columns pass through.
    method : {"mad_robustize", "robustize", "standardize"}
        ``mad_robustize``: ``(x - median) / (1.4826 * MAD + epsilon)`` (pycytominer's
        ``RobustMAD``);
        ``robustize``: ``(x - median) / IQR`` (sklearn's ``RobustScaler``; a zero IQR scales by 1);
        ``standardize``: ``(x - mean) / std``, population std (sklearn's ``StandardScaler``; a
        constant feature scales by 1).
    control_query : pl.Expr or None
        Boolean expression picking the rows the statistics are fitted on (default DMSO,
        ``Metadata_control_type == "negcon"``); ``None`` fits on all rows.
    by_plate : bool
        Fit and apply per ``Metadata_Plate`` (otherwise once over all rows).
    epsilon : float
        Added to the MAD (``mad_robustize`` only).

    Returns
    -------
    pl.DataFrame
        ``profiles`` with the features replaced by Float64 normalised values (missing stays null).

    Raises
    ------
    ValueError
        If a plate (or the table) has no control rows, or ``method`` is unknown.
    """
    if method not in ("mad_robustize", "robustize", "standardize"):
        raise ValueError(f"unknown normalisation method {method!r}")
    features = feature_columns(profiles) if features is None else list(features)
    x = _matrix(profiles, features)
    if control_query is None:
        control = np.ones(profiles.height, dtype=bool)
    else:
        chosen = profiles.select(control_query.fill_null(False)).to_series()
        control = chosen.to_numpy().astype(bool)
    if by_plate:
        if PLATE not in profiles.columns:
            raise ValueError(f"by_plate needs a {PLATE} column")
        codes = profiles.select(pl.col(PLATE).rank("dense").cast(pl.Int64) - 1).to_series().to_numpy()
    else:
        codes = np.zeros(profiles.height, dtype=np.int64)
    # work on the (features x rows) transpose, C-ordered without a copy as polars hands out F-ordered
    # arrays; each plate is one run of columns, so blocks are views (rows are permuted only if plates
    # interleave)
    xt = np.ascontiguousarray(x.T)
    order, runs = _plate_runs(codes)
    if order is not None:
        xt, control = xt[:, order], control[order]
    # polars hands out read-only views of its own memory and writable copies: scale a copy in place
    out = xt if xt.flags.writeable else np.empty_like(xt)
    for start, stop in runs:
        if not control[start:stop].any():
            row = start if order is None else int(order[start])
            plate = profiles[PLATE][row] if by_plate else "all rows"
            raise ValueError(
                f"plate {plate!r} has no control rows ({control_query}) to normalise against"
            )

    def scale(run: tuple[int, int]) -> None:
        start, stop = run
        reference = xt[:, start:stop][:, control[start:stop]]
        _fit_transform_into(xt[:, start:stop], reference, method, epsilon, out[:, start:stop])

    # plates are independent and numpy releases the GIL in partition and ufuncs: two threads
    if len(runs) > 1 and xt.size >= 1_000_000:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(scale, runs))
    else:
        for run in runs:
            scale(run)
    if order is not None:
        unpermuted = np.empty_like(out)
        unpermuted[:, order] = out
        out = unpermuted
    return _replace_transposed(profiles, features, out)


def _plate_runs(codes: np.ndarray) -> tuple[np.ndarray | None, list[tuple[int, int]]]:
    """Row permutation (``None`` when each plate is already one contiguous run) and the runs."""
    if codes.size == 0:
        return None, []
    boundaries = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    order = None
    if boundaries.size + 1 != np.unique(codes).size:
        order = np.argsort(codes, kind="stable")
        boundaries = np.flatnonzero(np.diff(codes[order])) + 1
    edges = [0, *boundaries.tolist(), codes.size]
    return order, list(zip(edges[:-1], edges[1:], strict=True))


def rank_inverse_normal(profiles: pl.DataFrame, features: list[str] | None = None) -> pl.DataFrame:
    """Rank-based inverse normal transform of each feature (JUMP's "int" step).

    Parameters
    ----------
    profiles : pl.DataFrame
        Profiles (usually already normalised).
    features : list of str, optional
        Columns to transform; default :func:`feature_columns`.

    Returns
    -------
    pl.DataFrame
        ``profiles`` with each feature replaced by ``Phi^-1((r - 3/8) / (n + 1/4))``, where ``r`` is
        the value's rank among the column's ``n`` non-missing values (Blom; ties get their average
        rank). Missing values stay null.
    """
    features = feature_columns(profiles) if features is None else list(features)
    x = _matrix(profiles, features)
    ranks = rankdata(x, method="average", axis=0, nan_policy="omit")
    n = np.sum(~np.isnan(x), axis=0)
    return _replace(profiles, features, ndtri((ranks - 0.375) / (n + 0.25)))


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
    """Pearson correlation between the columns of ``x``.

    Without missing values this is ``np.corrcoef``; with them, each pair uses the rows where both
    are present (as pandas' ``DataFrame.corr``), from masked matrix products.
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
    """Indices of columns pycytominer's ``correlation_threshold`` drops.

    Columns are ranked by the sum of their absolute correlations with all columns (ascending,
    numpy quicksort as pandas' ``sort_values``). For every pair whose (signed) correlation exceeds
    ``threshold``, the member ranked later (more correlated with everything) is dropped; each pair
    is decided independently, so both members of a chain can go.

    Without missing values the matrix comes from one ``dsyrk`` (about twice as fast as
    ``np.corrcoef``); when any decision is within 1e-9 of flipping (a correlation at the threshold,
    tied absolute-correlation sums, e.g. duplicated columns) it is redone on ``np.corrcoef``'s
    matrix, the one pycytominer uses, so the outcome is pycytominer's.
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
