"""From annotated per-image features to the profile tables the lake keeps and the reports score.

Per plate: image-level and well-level profiles, each un-normalised and normalised against the
plate's DMSO wells (stacked, told apart by ``Metadata_Normalization``). Across plates: one
feature selection fitted on every plate's normalised well profiles (per-plate selections would
give each plate different columns), and the consensus profile of each treatment.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import polars as pl

from morph_assets.lib.io import Lake
from morph_assets.lib.profiles._aggregate import aggregate_wells, feature_columns, feature_statistic
from morph_assets.lib.profiles._normalize import normalize
from morph_assets.lib.profiles._select import DEFAULT_OPERATIONS, select_features
from morph_assets.lib.schema import (
    BROAD_SAMPLE,
    CELL_COUNT,
    CONTROL_TYPE,
    MEDIAN_CELLS_PER_WELL,
    METADATA_PREFIX,
    NORMALIZATION,
    N_PLATES,
    N_WELLS,
    PERT_INAME,
    PERT_TYPE,
    PLATE,
    SELECTED_FEATURES,
    TARGET_LIST,
    TREATMENT,
)

Level = Literal["image", "well"]
NORMALIZATIONS = ("none", "mad_robustize")
#: pycytominer's default operations plus JUMP's outlier drop (features exploding under MAD scaling).
SELECTION_OPERATIONS = (*DEFAULT_OPERATIONS, "drop_outliers")


def with_treatment(profiles: pl.DataFrame) -> pl.DataFrame:
    """Add ``Metadata_treatment``: the compound (``broad_sample``), or the control's name (DMSO).

    Parameters
    ----------
    profiles : pl.DataFrame
        Annotated rows with ``Metadata_broad_sample`` and ``Metadata_pert_iname``.

    Returns
    -------
    pl.DataFrame
        ``profiles`` with the treatment label after the other metadata.
    """
    label = pl.coalesce(pl.col(BROAD_SAMPLE), pl.col(PERT_INAME)).alias(TREATMENT)
    metadata = [c for c in profiles.columns if c.startswith(METADATA_PREFIX) and c != TREATMENT]
    rest = [c for c in profiles.columns if c not in metadata and c != TREATMENT]
    return profiles.with_columns(label).select([*metadata, TREATMENT, *rest])


def plate_profiles(
    per_image: pl.DataFrame,
    *,
    level: Level,
    normalizations: Sequence[str] = NORMALIZATIONS,
) -> pl.DataFrame:
    """One plate's (or several plates') profiles at one level, in each normalisation.

    Parameters
    ----------
    per_image : pl.DataFrame
        Annotated per-image features (see :func:`morph_assets.lib.profiles.annotate`).
    level : {"image", "well"}
        Keep one row per site, or take the median per well.
    normalizations : sequence of str
        ``"none"`` and/or a :func:`morph_assets.lib.profiles.normalize` method; normalisation
        is fitted per plate on its DMSO (``negcon``) rows.

    Returns
    -------
    pl.DataFrame
        The profile sets stacked, ``Metadata_Normalization`` naming each.
    """
    if level not in ("image", "well"):
        raise ValueError(f"level must be 'image' or 'well', not {level!r}")
    base = with_treatment(per_image) if level == "image" else with_treatment(aggregate_wells(per_image))
    features = feature_columns(base)
    sets = []
    for method in normalizations:
        frame = base if method == "none" else normalize(base, features=features, method=method)  # type: ignore[arg-type]
        sets.append(frame.with_columns(pl.lit(method).alias(NORMALIZATION)))
    stacked = pl.concat(sets, how="vertical_relaxed")
    metadata = [c for c in stacked.columns if c.startswith(METADATA_PREFIX)]
    return stacked.select([*metadata, *[c for c in stacked.columns if c not in metadata]])


def usable_features(
    profiles: pl.DataFrame, features: Sequence[str] | None = None, *, max_missing: float = 0.05
) -> list[str]:
    """Features a cosine similarity can use: finite in nearly every row, and not constant.

    A row missing a usable feature (a site without cells) is dropped later by
    :func:`drop_incomplete_rows`, rather than one bad well removing every feature. For the same
    reason the missing fraction is counted over the rows that hold at least one finite candidate:
    a cell-less well (zero counts, every per-cell feature null) is a result, not a sign that a
    feature is unreliable, so twenty toxic wells on a plate cannot empty the feature set.

    Parameters
    ----------
    profiles : pl.DataFrame
        Profiles.
    features : sequence of str, optional
        Candidates; default every feature column.
    max_missing : float, default 0.05
        Largest fraction of rows with a missing or infinite value a feature may have, among the
        rows where any candidate is finite.

    Returns
    -------
    list of str
        The usable columns, in order.
    """
    names = feature_columns(profiles) if features is None else list(features)
    if not names or profiles.height == 0:
        return []
    x = profiles.select(pl.col(names).cast(pl.Float64)).to_numpy()
    finite = np.isfinite(x)
    measured = finite.any(axis=1)  # rows of cell-less sites/wells hold no finite candidate at all
    if not measured.any():
        return []
    enough = finite[measured].mean(axis=0) >= 1 - max_missing
    masked = np.where(finite, x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are not `enough` anyway
        spread = np.nanmax(masked, axis=0) - np.nanmin(masked, axis=0) > 0
    return [name for name, ok in zip(names, enough & spread, strict=True) if ok]


def selected_features(normalized_wells: pl.DataFrame, operations: Sequence[str] = SELECTION_OPERATIONS) -> list[str]:
    """Feature selection fitted on the normalised well profiles of every plate.

    Parameters
    ----------
    normalized_wells : pl.DataFrame
        Normalised well-level profiles of all plates (one normalisation).
    operations : sequence of str
        :func:`morph_assets.lib.profiles.select_features` operations.

    Returns
    -------
    list of str
        Features kept, finite everywhere.
    """
    kept = feature_columns(select_features(normalized_wells, operations=operations))
    return usable_features(normalized_wells, kept)


def treatment_consensus(well_profiles: pl.DataFrame, features: Sequence[str]) -> pl.DataFrame:
    """The median profile of each treatment over its wells and replicate plates.

    Parameters
    ----------
    well_profiles : pl.DataFrame
        Normalised, feature-selected well profiles with ``Metadata_treatment``.
    features : sequence of str
        Feature columns to aggregate.

    Returns
    -------
    pl.DataFrame
        One row per treatment: its compound, name, targets, control type, ``Metadata_n_wells``,
        ``Metadata_n_plates``, ``Metadata_median_cells_per_well`` (when counts exist), features.
    """
    carried = [c for c in (BROAD_SAMPLE, PERT_INAME, TARGET_LIST, PERT_TYPE, CONTROL_TYPE)
               if c in well_profiles.columns]
    extra = [pl.len().alias(N_WELLS), pl.col(PLATE).n_unique().alias(N_PLATES)]
    if CELL_COUNT in well_profiles.columns:
        extra.append(pl.col(CELL_COUNT).median().alias(MEDIAN_CELLS_PER_WELL))
    return (
        well_profiles.group_by(TREATMENT)
        .agg([pl.col(carried).first(), *extra, feature_statistic(features, "median")])
        .sort(TREATMENT)
        .select([TREATMENT, *carried, *[e.meta.output_name() for e in extra], *features])
    )


def drop_incomplete_rows(profiles: pl.DataFrame, features: Sequence[str]) -> tuple[pl.DataFrame, int]:
    """Rows with a missing or infinite value in ``features`` removed (e.g. a site with no cells).

    Parameters
    ----------
    profiles : pl.DataFrame
        Profiles.
    features : sequence of str
        Columns that must be finite.

    Returns
    -------
    tuple of (pl.DataFrame, int)
        The complete rows and how many rows were dropped.
    """
    if not features:
        return profiles, 0
    finite = np.isfinite(profiles.select(pl.col(list(features)).cast(pl.Float64)).to_numpy()).all(axis=1)
    return profiles.filter(pl.Series(finite)), int((~finite).sum())


def selected_feature_names(lake: Lake, representation: str, normalized_wells: pl.DataFrame | None = None) -> list[str]:
    """Return the study-wide feature selection of a representation (the ``selected_features`` table).

    Parameters
    ----------
    lake : Lake
        The lake holding ``selected_features``.
    representation : str
        The representation's name.
    normalized_wells : polars.DataFrame, optional
        Normalised well profiles to fit a selection on, for a representation the study-wide
        selection did not cover (embeddings).

    Returns
    -------
    list of str
        The selected features; fitted on ``normalized_wells`` when the table has none for this
        representation, else empty.
    """
    if lake.has_table(SELECTED_FEATURES):
        chosen = pl.read_parquet(lake.study_file(SELECTED_FEATURES))
        kept = chosen.filter(pl.col("representation") == representation)["feature"].to_list()
        if kept:
            return kept
    return selected_features(normalized_wells) if normalized_wells is not None else []
