"""Tests for ``morph_assets.lib.profiles`` against hand computations and pycytominer 1.7."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from morph_assets.lib.profiles import (
    DEFAULT_BLOCKLIST,
    NORMALIZATION,
    TREATMENT,
    drop_incomplete_rows,
    feature_columns,
    plate_profiles,
    selected_features,
    treatment_consensus,
    usable_features,
    with_treatment,
)

pycytominer = pytest.importorskip("pycytominer")

FEATURES = [f"f{i}" for i in range(5)]
WELLS = [f"{row}{col:02d}" for row in "AB" for col in range(1, 7)]  # 12 wells, the first 4 DMSO
SITES = 3


def _per_image(seed: int = 0) -> pl.DataFrame:
    """Annotated per-image rows: 2 plates x 12 wells x 3 sites, plate offsets and compound signals."""
    rng = np.random.default_rng(seed)
    rows = []
    for plate_index, plate in enumerate(("P2", "P1")):  # unsorted: outputs are sorted by plate/well
        offset = rng.normal(scale=3.0, size=len(FEATURES)) * (plate_index + 1)
        for well_index, well in enumerate(WELLS):
            control = well_index < 4
            signal = np.zeros(len(FEATURES)) if control else rng.normal(size=len(FEATURES))
            for site in range(1, SITES + 1):
                values = 10 + offset + signal + rng.normal(scale=0.5, size=len(FEATURES))
                rows.append({
                    "Metadata_Plate": plate, "Metadata_Well": well, "Metadata_Site": site,
                    "Metadata_broad_sample": None if control else f"BRD-{well_index % 6}",
                    "Metadata_pert_iname": "DMSO" if control else f"cpd-{well_index % 6}",
                    "Metadata_target_list": None if control else "T1|T2",
                    "Metadata_pert_type": "control" if control else "trt",
                    "Metadata_control_type": "negcon" if control else None,
                    **dict(zip(FEATURES, values.tolist(), strict=True)),
                })
    return pl.DataFrame(rows)


def test_with_treatment_labels_controls_by_name() -> None:
    frame = pl.DataFrame({
        "Metadata_Well": ["A01", "A02", "A03"],
        "f0": [1.0, 2.0, 3.0],
        "Metadata_broad_sample": [None, "BRD-1", "BRD-2"],
        "Metadata_pert_iname": ["DMSO", "aspirin", None],
    })
    out = with_treatment(frame)
    assert out[TREATMENT].to_list() == ["DMSO", "BRD-1", "BRD-2"]
    # treatment goes after every other metadata column, before the features
    assert out.columns == ["Metadata_Well", "Metadata_broad_sample", "Metadata_pert_iname", TREATMENT, "f0"]
    assert with_treatment(out).columns == out.columns  # idempotent


def test_plate_profiles_well_level_is_median_per_well() -> None:
    per_image = _per_image()
    out = plate_profiles(per_image, level="well")
    assert out[NORMALIZATION].unique(maintain_order=True).to_list() == ["none", "mad_robustize"]
    raw = out.filter(pl.col(NORMALIZATION) == "none")
    assert raw.height == 2 * len(WELLS)
    assert feature_columns(raw) == FEATURES
    hand = per_image.group_by("Metadata_Plate", "Metadata_Well").agg(
        [pl.col(f).map_batches(lambda s: pl.Series([float(np.median(s.to_numpy()))]), returns_scalar=True)
         for f in FEATURES]
    ).sort("Metadata_Plate", "Metadata_Well")
    assert raw.select("Metadata_Plate", "Metadata_Well").rows() == hand.select(
        "Metadata_Plate", "Metadata_Well").rows()
    np.testing.assert_allclose(raw.select(FEATURES).to_numpy(), hand.select(FEATURES).to_numpy(), rtol=0, atol=1e-12)
    assert raw.filter(pl.col("Metadata_Well") == "A01")[TREATMENT].unique().to_list() == ["DMSO"]
    assert raw.filter(pl.col("Metadata_Well") == "A05")[TREATMENT].unique().to_list() == ["BRD-4"]


def test_plate_profiles_mad_robustize_matches_pycytominer() -> None:
    out = plate_profiles(_per_image(), level="well")
    aggregated = out.filter(pl.col(NORMALIZATION) == "none").drop(NORMALIZATION)
    ours = out.filter(pl.col(NORMALIZATION) == "mad_robustize").drop(NORMALIZATION)
    data = aggregated.to_pandas()
    meta = [c for c in data.columns if c not in FEATURES]
    theirs = pd.concat([
        pycytominer.normalize(group, features=FEATURES, meta_features=meta, method="mad_robustize",
                              samples="Metadata_control_type == 'negcon'")
        for _, group in data.groupby("Metadata_Plate", sort=False)
    ]).loc[data.index]
    assert ours.select("Metadata_Plate", "Metadata_Well").rows() == list(
        theirs[["Metadata_Plate", "Metadata_Well"]].itertuples(index=False, name=None))
    np.testing.assert_allclose(ours.select(FEATURES).to_numpy(), theirs[FEATURES].to_numpy(), rtol=1e-10, atol=1e-10)
    # the DMSO wells of each plate are centred: their per-plate median is 0
    controls = ours.filter(pl.col("Metadata_control_type") == "negcon")
    medians = controls.group_by("Metadata_Plate").agg(pl.col(FEATURES).median()).select(FEATURES).to_numpy()
    np.testing.assert_allclose(medians, 0.0, atol=1e-12)


def test_plate_profiles_image_level_and_bad_level() -> None:
    per_image = _per_image()
    out = plate_profiles(per_image, level="image", normalizations=("none",))
    assert out.height == per_image.height
    np.testing.assert_array_equal(out.select(FEATURES).to_numpy(), per_image.select(FEATURES).to_numpy())
    with pytest.raises(ValueError, match="level"):
        plate_profiles(per_image, level="plate")  # type: ignore[arg-type]


def test_usable_features() -> None:
    n = 40
    rng = np.random.default_rng(1)
    one_missing = rng.normal(size=n)
    one_missing[7] = np.nan
    mostly_missing = rng.normal(size=n)
    mostly_missing[:5] = np.nan  # 12.5% > 5%
    with_infinity = rng.normal(size=n)
    with_infinity[:3] = np.inf  # 7.5% non-finite
    frame = pl.DataFrame({
        "Metadata_Well": [f"W{i}" for i in range(n)],
        "good": rng.normal(size=n),
        "constant": np.full(n, 3.0),
        "one_missing": one_missing,
        "mostly_missing": mostly_missing,
        "with_infinity": with_infinity,
        "all_missing": np.full(n, np.nan),
        "integer": rng.integers(0, 5, n),
    })
    assert usable_features(frame) == ["good", "one_missing", "integer"]
    assert usable_features(frame, ["constant", "good"]) == ["good"]
    assert usable_features(frame, max_missing=0.2) == ["good", "one_missing", "mostly_missing", "with_infinity",
                                                       "integer"]
    assert usable_features(frame.head(0)) == []


def test_usable_features_ignore_cell_less_rows() -> None:
    # 30 measured wells and 10 wells where a toxic compound left no cells (every feature null).
    # Counted over all 40 rows each feature would be 25 % missing and none would survive; over the
    # 30 measured rows, "a" misses 1/30 (3.3 %, kept) and "b" misses 3/30 (10 %, dropped).
    rng = np.random.default_rng(3)
    a, b, c = (rng.normal(size=40) for _ in range(3))
    a[30:], b[30:], c[30:] = np.nan, np.nan, np.nan
    a[0] = np.nan
    b[:3] = np.nan
    frame = pl.DataFrame({"Metadata_Well": [f"W{i}" for i in range(40)], "a": a, "b": b, "c": c})
    assert usable_features(frame) == ["a", "c"]
    assert usable_features(frame.filter(pl.col("Metadata_Well").is_in(["W30", "W31"]))) == []


def test_selected_features_matches_pycytominer_and_is_finite() -> None:
    rng = np.random.default_rng(2)
    n = 60
    base = rng.normal(size=(n, 6))
    columns = {f"g{i}": base[:, i] for i in range(6)}
    columns["copy_of_g0"] = base[:, 0] * 2 + rng.normal(scale=0.01, size=n)  # correlated with g0
    columns["constant"] = np.full(n, 1.0)
    exploding = rng.normal(size=n)
    exploding[3] = 1e4  # beyond drop_outliers' 500
    columns["exploding"] = exploding
    columns[DEFAULT_BLOCKLIST[0]] = rng.normal(size=n)
    with_nan = rng.normal(size=n)
    with_nan[10] = np.nan  # 1/60 missing: kept by drop_na_columns and by usable_features
    columns["with_nan"] = with_nan
    frame = pl.DataFrame({"Metadata_Plate": ["P1"] * n, **columns})
    kept = selected_features(frame)
    names = [c for c in frame.columns if c != "Metadata_Plate"]
    reference = pycytominer.feature_select(
        frame.to_pandas(), features=names,
        operation=["drop_na_columns", "variance_threshold", "correlation_threshold", "blocklist", "drop_outliers"],
    )
    assert kept == [c for c in reference.columns if c in names]
    assert "constant" not in kept and "exploding" not in kept and DEFAULT_BLOCKLIST[0] not in kept
    assert ("g0" in kept) != ("copy_of_g0" in kept)
    assert "with_nan" in kept and {"g1", "g2", "g3", "g4", "g5"} <= set(kept)


def test_treatment_consensus_is_median_over_wells() -> None:
    wells = with_treatment(plate_profiles(_per_image(), level="well", normalizations=("mad_robustize",)))
    wells = wells.with_columns(pl.int_range(pl.len()).cast(pl.Int64).alias("Metadata_Count_Cells"))
    out = treatment_consensus(wells, FEATURES[:3])
    assert out[TREATMENT].to_list() == sorted(wells[TREATMENT].unique().to_list())
    assert out.columns == [TREATMENT, "Metadata_broad_sample", "Metadata_pert_iname", "Metadata_target_list",
                           "Metadata_pert_type", "Metadata_control_type", "Metadata_n_wells", "Metadata_n_plates",
                           "Metadata_median_cells_per_well", *FEATURES[:3]]
    treatments = wells[TREATMENT].to_numpy()
    x = wells.select(FEATURES[:3]).to_numpy()
    cells = wells["Metadata_Count_Cells"].to_numpy()
    for row in out.iter_rows(named=True):
        members = treatments == row[TREATMENT]
        np.testing.assert_allclose([row[f] for f in FEATURES[:3]], np.median(x[members], axis=0), atol=1e-12)
        assert row["Metadata_n_wells"] == members.sum()
        assert row["Metadata_n_plates"] == 2
        assert row["Metadata_median_cells_per_well"] == pytest.approx(np.median(cells[members]))
    dmso = out.filter(pl.col(TREATMENT) == "DMSO").row(0, named=True)
    assert dmso["Metadata_n_wells"] == 8 and dmso["Metadata_control_type"] == "negcon"
    # BRD-4 and BRD-5 sit in 2 wells per plate (well indices 4, 10 and 5, 11), BRD-0..3 in one
    counts = dict(out.select(TREATMENT, "Metadata_n_wells").iter_rows())
    assert counts["BRD-4"] == 4 and counts["BRD-5"] == 4 and counts["BRD-0"] == 2
    assert "Metadata_median_cells_per_well" not in treatment_consensus(
        wells.drop("Metadata_Count_Cells"), FEATURES).columns


def test_drop_incomplete_rows() -> None:
    frame = pl.DataFrame({
        "Metadata_Well": ["A", "B", "C", "D", "E"],
        "f0": [1.0, np.nan, 3.0, 4.0, 5.0],
        "f1": [1.0, 2.0, np.inf, None, 5.0],
        "ignored": [np.nan] * 5,
    })
    kept, dropped = drop_incomplete_rows(frame, ["f0", "f1"])
    assert kept["Metadata_Well"].to_list() == ["A", "E"] and dropped == 3
    kept, dropped = drop_incomplete_rows(frame, ["f0"])
    assert kept["Metadata_Well"].to_list() == ["A", "C", "D", "E"] and dropped == 1
    kept, dropped = drop_incomplete_rows(frame, [])
    assert kept.equals(frame) and dropped == 0
