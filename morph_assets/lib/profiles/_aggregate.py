"""Metadata and feature columns of a profile table, and aggregation of per-image rows to wells.

The column conventions every profile step shares (``Metadata_`` columns describe, every other
column is a feature) and the one median the aggregation uses, so that wells are summarised the
same way everywhere (pycytominer's ``aggregate`` with ``operation="median"``).

Plain polars/numpy functions (no Dagster, no pandas, no pycytominer at run time) that follow the
field's profiling recipe; ``normalize`` and ``select_features`` (the sibling modules) reproduce
pycytominer 1.7's numbers and choices (see ``morph_assets_tests/lib/profiles/``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import polars as pl

from morph_assets.lib.schema import AGGREGATED_ROWS, CELL_COUNT, COUNT_CELLS, METADATA_PREFIX, PLATE, WELL


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
    constant = constant_metadata(per_image, keys, exclude=[*features, AGGREGATED_ROWS, CELL_COUNT])
    extra = [pl.len().cast(pl.Int64).alias(AGGREGATED_ROWS)]
    if COUNT_CELLS in per_image.columns:
        extra.append(pl.col(COUNT_CELLS).sum().alias(CELL_COUNT))
    aggregations = [pl.col(constant).first(), *extra] if constant else extra
    if features:
        aggregations.append(feature_statistic(features, method))
    return per_image.group_by(keys, maintain_order=True).agg(aggregations).sort(keys)


def constant_metadata(frame: pl.DataFrame, keys: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Return the ``Metadata_`` columns that take a single value within every group of ``keys``.

    Such a column can be carried to the group's row by its first value without losing anything.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows to be grouped.
    keys : sequence of str
        The grouping columns (never returned).
    exclude : sequence of str, optional
        Other columns never to return (the features, counts the caller computes itself).

    Returns
    -------
    list of str
        The constant metadata columns, in table order.
    """
    skip = {*keys, *exclude}
    metadata = [name for name in frame.columns if name.startswith(METADATA_PREFIX) and name not in skip]
    if not metadata or not frame.height:
        return []
    most_values = frame.group_by(list(keys)).agg(pl.col(metadata).n_unique()).select(pl.col(metadata).max())
    return [name for name in metadata if most_values[name][0] == 1]


def feature_statistic(features: Sequence[str], method: str = "median") -> pl.Expr:
    """Return the per-group statistic of the features: the one group median (or mean) of the project.

    Parameters
    ----------
    features : sequence of str
        Feature columns.
    method : {"median", "mean"}
        The statistic; nulls are ignored either way.

    Returns
    -------
    polars.Expr
        One aggregation expression over every feature column, keeping their names.
    """
    if method not in ("median", "mean"):
        raise ValueError(f"method must be 'median' or 'mean', not {method!r}")
    return pl.col(list(features)).median() if method == "median" else pl.col(list(features)).mean()


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
