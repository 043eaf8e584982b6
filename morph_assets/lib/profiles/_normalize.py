"""Per-plate normalisation of profiles (pycytominer's ``normalize``) and JUMP's inverse-normal step.

``normalize`` fits each method on the negative controls (or all wells) of each plate and applies
it to every well of that plate, reproducing pycytominer 1.7's numbers; ``rank_inverse_normal``
maps each feature's ranks to normal quantiles.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import polars as pl
from scipy.special import ndtri
from scipy.stats import rankdata

from morph_assets.lib.profiles._aggregate import _matrix, _median, _replace, _replace_transposed, feature_columns
from morph_assets.lib.schema import CONTROL_TYPE, NEGATIVE_CONTROL, PLATE


NormalizeMethod = Literal["mad_robustize", "robustize", "standardize"]


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
    control_query: pl.Expr | None = pl.col(CONTROL_TYPE) == NEGATIVE_CONTROL,
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
