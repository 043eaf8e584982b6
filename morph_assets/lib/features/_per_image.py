"""The project's one aggregation of per-object rows to one row per image (site): counts and means.

The study's regionprops features, CellProfiler measurements made here and CellProfiler's own
``ExportToSpreadsheet`` CSVs all reduce to per-image means this way; they differ only in which
values a mean passes over (the ``skip`` argument), which each keeps as it was so that no number
moves: regionprops means include NaN (a NaN feature makes the image's mean NaN), CellProfiler's
measurements skip NaN as ``ExportToSpreadsheet`` does, and the CSV reader also skips +-inf
(a ratio over a zero area), which would make a mean infinite and say nothing of the other objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl

#: What a per-image mean passes over besides null (see :func:`per_image_means`).
SKIPPED_VALUES: tuple[str, ...] = ("null", "nan", "non-finite")


def image_keys_and_features(objects: pl.DataFrame, by: str | list[str] | None = None) -> tuple[list[str], list[str]]:
    """Split a per-object table's columns into image keys and numeric feature columns.

    Parameters
    ----------
    objects : polars.DataFrame
        A per-object table.
    by : str or list of str, optional
        The key columns; by default ``ImageNumber`` and every ``Metadata_*`` column present.

    Returns
    -------
    keys, features : list of str
        The key columns, and the other numeric columns except ``ObjectNumber``.
    """
    if by is None:
        keys = [c for c in objects.columns if c == "ImageNumber" or c.startswith("Metadata_")]
    else:
        keys = [by] if isinstance(by, str) else list(by)
    skip = set(keys) | {"ObjectNumber"}
    schema = objects.schema  # built once: each .schema call walks every column
    return keys, [c for c in objects.columns if c not in skip and schema[c].is_numeric()]


def _value(column: str, skip: str) -> pl.Expr:
    value = pl.col(column).cast(pl.Float64)
    if skip == "nan":
        return value.fill_nan(None)
    if skip == "non-finite":
        return pl.when(value.is_finite()).then(value)  # NaN and +-inf become null, which mean() skips
    return value


def per_image_means(
    objects: pl.DataFrame,
    keys: Sequence[str],
    features: Sequence[str],
    *,
    counts: Sequence[pl.Expr] = (),
    skip: Literal["null", "nan", "non-finite"] = "null",
    prefix: str = "Mean_",
) -> pl.DataFrame:
    """Aggregate per-object rows to one row per image: the given counts, then each feature's mean.

    Parameters
    ----------
    objects : polars.DataFrame
        Per-object rows with the key and feature columns.
    keys : sequence of str
        Image key columns (see :func:`image_keys_and_features`); empty makes the whole table
        one image.
    features : sequence of str
        Numeric columns to average, each as Float64.
    counts : sequence of polars.Expr, optional
        Aggregations placed before the means (object counts, named by the caller).
    skip : {"null", "nan", "non-finite"}, optional
        What the mean passes over: nulls only (a NaN makes the mean NaN), NaN too, or NaN and
        +-inf too.
    prefix : str, optional
        Name of a mean column: ``prefix`` followed by the feature's name.

    Returns
    -------
    polars.DataFrame
        With keys, one row per key value present (an image without objects has no row), in
        key order, with the key columns first; without keys, always one row (no objects: counts
        as the expressions give them for an empty table, null means).

    Raises
    ------
    ValueError
        If ``skip`` is not one of :data:`SKIPPED_VALUES`.
    """
    if skip not in SKIPPED_VALUES:
        raise ValueError(f"skip must be one of {SKIPPED_VALUES}, not {skip!r}")
    aggregations = [*counts, *(_value(column, skip).mean().alias(f"{prefix}{column}") for column in features)]
    keys = list(keys)
    if keys:
        return objects.group_by(keys, maintain_order=True).agg(aggregations).sort(keys)
    return objects.select(aggregations)
