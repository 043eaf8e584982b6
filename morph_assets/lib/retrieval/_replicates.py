"""Replicate retrieval as the study scores it: mAP of replicates with positional controls.

Well coordinates on the plate, the distance under which two wells count as near (so that
replicates sharing a position do not inflate retrieval), and :func:`replicate_retrieval`, which
puts :func:`~morph_assets.lib.retrieval.average_precision` and
:func:`~morph_assets.lib.retrieval.mean_average_precision` together for one profile table.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from morph_assets.lib.retrieval._average_precision import (
    UnpairedError,
    average_precision,
    checked_features,
    mean_average_precision,
)
from morph_assets.lib.schema import BROAD_SAMPLE, CONTROL_TYPE, NEGATIVE_CONTROL, PLATE, WELL


def well_coordinates(wells: pl.Series) -> np.ndarray:
    """(row, column) of each well name such as ``"B07"`` as float coordinates (row A = 0).

    Parameters
    ----------
    wells : pl.Series
        Well names: one letter row, then the column number.

    Returns
    -------
    np.ndarray
        ``len(wells) x 2`` array.
    """
    names = wells.cast(pl.String)
    rows = names.str.slice(0, 1).str.to_uppercase()
    columns = names.str.slice(1).cast(pl.Int64, strict=False)
    if rows.null_count() or columns.null_count() or not rows.str.contains("^[A-Z]$").all():
        raise ValueError(f"well names must look like 'A01'; got e.g. {names.head(3).to_list()}")
    row_index = rows.to_numpy().astype("U1").view(np.int32) - ord("A")
    return np.stack([row_index, columns.to_numpy() - 1], axis=1).astype(np.float64)


def near_position_threshold(coordinates: np.ndarray, percentile: float = 10.0) -> float:
    """The study's split of well positions: a percentile of non-zero distances between positions.

    Distances are taken between the distinct well positions present, so replicate plates do
    not weight the percentile.

    Parameters
    ----------
    coordinates : np.ndarray
        ``n x 2`` well coordinates (:func:`well_coordinates`).
    percentile : float, default 10
        The study's 10th percentile.

    Returns
    -------
    float
        Distances at or below it count as "same position".
    """
    distinct = np.unique(coordinates, axis=0)
    if len(distinct) < 2:
        return 0.0
    i, j = np.triu_indices(len(distinct), k=1)
    distances = np.linalg.norm(distinct[i] - distinct[j], axis=1)
    return float(np.percentile(distances[distances > 0], percentile))


def replicate_retrieval(
    profiles: pl.DataFrame,
    features: list[str],
    *,
    compound_col: str = BROAD_SAMPLE,
    control_query: pl.Expr | None = None,
    same_plate_negatives: bool = True,
    position_filter: str | None = None,
    position_definition: str = "cpjump1",
    plate_col: str = PLATE,
    well_col: str = WELL,
    null_size: int = 10000,
    threshold: float = 0.05,
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CPJUMP1 replicate retrieval against negative controls.

    Each treated profile is a query; its positives are the other treated
    profiles of the same compound, its negatives the control profiles (on the
    same plate when ``same_plate_negatives``).

    Parameters
    ----------
    profiles : pl.DataFrame
        Well-level profiles with metadata and feature columns.
    features : list of str
        Feature columns.
    compound_col : str, default "Metadata_broad_sample"
        Compound identifier.
    control_query : pl.Expr, optional
        Boolean expression marking negative-control rows; default
        ``Metadata_control_type == "negcon"``.
    same_plate_negatives : bool, default True
        Restrict negatives to controls on the query's plate (JUMP-style).
    position_filter : {"same", "different", None}
        ``"same"``: positives only at the same well position on other plates;
        ``"different"``: only at a different well position; ``None``: any
        other replicate.
    position_definition : {"cpjump1", "study"}
        Meaning of "same position": ``"cpjump1"`` the same well on another plate (replicate
        plates share the layout); ``"study"`` wells closer than the 10th percentile of the
        non-zero distances between the well positions present (see :func:`near_position_threshold`),
        the same plate included.
    plate_col, well_col : str
        Plate and well columns.
    null_size, threshold, seed
        Passed to :func:`mean_average_precision`.

    Returns
    -------
    tuple of pl.DataFrame
        ``(ap_table, map_table)``: per treated profile APs, and per-compound
        mAP with p/q-values. A treated profile with replicates but no control
        to rank them against (a plate without DMSO, with
        ``same_plate_negatives``) gets a null AP: its positives alone would
        score 1.0 and so would every permutation, which copairs reports as
        significant.

    Raises
    ------
    ValueError
        If ``features`` is empty, a named column is missing, a feature value is NaN or infinite
        (:func:`checked_features`), or an option is unknown.
    UnpairedError
        If no treated profile has a replicate under this setting (``kind`` ``"positive"``), or
        no profile is a control (``"negative"``).
    """
    if not features:
        raise ValueError("no feature column given: pass the profile columns to compare")
    needed = [*features, compound_col, plate_col] + ([well_col] if position_filter is not None else [])
    if control_query is None:
        needed.append(CONTROL_TYPE)
    missing = [c for c in dict.fromkeys(needed) if c not in profiles.columns]
    if missing:
        raise ValueError(f"profiles lack column(s) {missing[:5]}; columns present include {profiles.columns[:8]}")
    if control_query is None:
        control_query = pl.col(CONTROL_TYPE) == NEGATIVE_CONTROL
    meta = profiles.with_columns(
        control_query.fill_null(False).alias("_is_control")
    ).with_columns(
        # Controls get a unique reference index so they are never positives.
        pl.when(pl.col("_is_control"))
        .then(pl.int_range(pl.len(), dtype=pl.Int64))
        .otherwise(-1)
        .alias("_reference"),
        pl.col(compound_col).fill_null("<none>").alias("_compound"),
    )
    pos_filter = None
    if position_filter not in (None, "same", "different"):
        raise ValueError(f"position_filter must be 'same', 'different' or None, got {position_filter!r}")
    if position_definition not in ("cpjump1", "study"):
        raise ValueError(f"position_definition must be 'cpjump1' or 'study', got {position_definition!r}")
    pos_sameby, pos_diffby = ["_compound", "_reference"], []
    if position_filter is not None and position_definition == "cpjump1":
        if position_filter == "same":
            pos_sameby, pos_diffby = ["_compound", "_reference", well_col], [plate_col]
        else:
            pos_diffby = [well_col]
    elif position_filter is not None:
        coordinates = well_coordinates(profiles[well_col])
        limit = near_position_threshold(coordinates)
        want_near = position_filter == "same"

        def pos_filter(rows: np.ndarray) -> np.ndarray:
            distance = np.linalg.norm(coordinates[rows, None, :] - coordinates[None, :, :], axis=2)
            return (distance <= limit) if want_near else (distance > limit)

    x = checked_features(profiles.select(pl.col(features).cast(pl.Float64)).to_numpy(), profiles.height, features)
    if not meta["_is_control"].any():
        raise UnpairedError("negative", meta.height, "no profile is a negative control (e.g. a DMSO well)")
    neg_sameby = [plate_col] if same_plate_negatives else []
    ap_table = average_precision(
        meta.drop(features),
        x,
        pos_sameby=pos_sameby,
        pos_diffby=pos_diffby,
        neg_sameby=neg_sameby,
        neg_diffby=["_is_control"],
        pos_filter=pos_filter,
    )
    without_negatives = pl.col("n_total_pairs") == pl.col("n_pos_pairs")
    ap_table = ap_table.filter(~pl.col("_is_control")).drop("_is_control", "_reference", "_compound").with_columns(
        pl.when(without_negatives).then(None).otherwise(pl.col("average_precision")).alias("average_precision"))
    map_table = mean_average_precision(
        ap_table, [compound_col], null_size=null_size, threshold=threshold, seed=seed
    )
    return ap_table, map_table
