"""Tests for ``morph_assets.lib.profiles`` against pycytominer on real Cell Painting profiles.

Data (copied into ``morph_assets_tests/data``, see the SOURCES.md there): one compound plate of
cytominer-eval (384 wells x 454 features, 24 DMSO wells) and one pycytominer collate output
(2 wells x 5,790 CellProfiler features).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from morph_assets.lib import profiles as pr
from morph_assets.lib.profiles import _select  # the BLAS correlation path is private, tested directly

pycytominer = pytest.importorskip("pycytominer")

DATA = Path(__file__).resolve().parents[2] / "data"
COMPOUND = DATA / "cytominer_eval" / "SQ00015054_normalized_feature_select.csv.gz"
COLLATE = DATA / "pycytominer" / "BR00121431_main.csv"
NEGCON = pl.col("Metadata_broad_sample_type") == "control"


@pytest.fixture(scope="module")
def compound() -> pl.DataFrame:
    """The compound plate split in two pseudo-plates (rows 0-127, 128-383), each with DMSO wells."""
    frame = pl.read_csv(COMPOUND, infer_schema_length=None)
    plate = pl.when(pl.int_range(pl.len()) < 128).then(pl.lit("P1")).otherwise(pl.lit("P2"))
    return frame.with_columns(plate.alias("Metadata_Plate"))


@pytest.fixture(scope="module")
def features(compound: pl.DataFrame) -> list[str]:
    return pr.feature_columns(compound)


@pytest.fixture(scope="module")
def with_missing(compound: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    """The compound plate with values missing in 30 features (15 above the 5% NA cutoff)."""
    rng = np.random.default_rng(11)
    x = compound.select(features).to_numpy().copy()
    cols = rng.choice(len(features), 30, replace=False)
    for k, col in enumerate(cols):
        rows = rng.choice(x.shape[0], 4 if k % 2 else 30, replace=False)
        x[rows, col] = np.nan
    return compound.with_columns(pl.DataFrame(x, schema=features).get_columns())


def _pandas(frame: pl.DataFrame) -> pd.DataFrame:
    return frame.to_pandas()


def _pyc_normalize(frame: pl.DataFrame, features: list[str], method: str) -> pd.DataFrame:
    data = _pandas(frame)
    meta = [c for c in data.columns if c not in features]
    parts = [
        pycytominer.normalize(
            group, features=features, meta_features=meta, method=method,
            samples="Metadata_broad_sample_type == 'control'",
        )
        for _, group in data.groupby("Metadata_Plate", sort=False)
    ]
    return pd.concat(parts).loc[data.index]


def test_feature_columns(compound: pl.DataFrame, features: list[str]) -> None:
    assert len(features) == 454
    assert all(not f.startswith("Metadata_") for f in features)
    assert "Metadata_mg_per_ml" not in features


def test_default_blocklist_matches_pycytominer() -> None:
    shipped = Path(pycytominer.__file__).parent / "data" / "blocklist_features.txt"
    names = shipped.read_text().split()[1:]
    assert sorted(pr.DEFAULT_BLOCKLIST) == sorted(names)


@pytest.mark.parametrize("method", ["mad_robustize", "robustize", "standardize"])
def test_normalize_matches_pycytominer(
    compound: pl.DataFrame, features: list[str], method: str
) -> None:
    ours = pr.normalize(compound, features=features, method=method, control_query=NEGCON)
    theirs = _pyc_normalize(compound, features, method)
    np.testing.assert_allclose(
        ours.select(features).to_numpy(), theirs[features].to_numpy(), rtol=1e-9, atol=1e-12
    )
    assert ours.columns == compound.columns
    assert ours.drop(features).equals(compound.drop(features))


def test_normalize_with_missing_values(with_missing: pl.DataFrame, features: list[str]) -> None:
    ours = pr.normalize(with_missing, features=features, control_query=NEGCON)
    theirs = _pyc_normalize(with_missing, features, "mad_robustize")
    np.testing.assert_allclose(
        ours.select(features).to_numpy(), theirs[features].to_numpy(), rtol=1e-9, atol=1e-12
    )


def test_normalize_hand_checked() -> None:
    frame = pl.DataFrame({
        "Metadata_Plate": ["a"] * 4 + ["b"] * 3,
        "Metadata_control_type": ["negcon", "negcon", "negcon", "trt", "negcon", "negcon", "trt"],
        "f": [1.0, 2.0, 4.0, 10.0, 5.0, 5.0, 6.0],
    })
    out = pr.normalize(frame, epsilon=0.0)["f"].to_list()
    # plate a: median 2, MAD median(|1-2|, 0, 2) = 1 -> scale 1.4826
    assert out[:4] == pytest.approx([-1 / 1.4826, 0.0, 2 / 1.4826, 8 / 1.4826])
    std = pr.normalize(frame, method="standardize")["f"].to_list()
    assert std[4:] == pytest.approx([0.0, 0.0, 1.0])  # constant controls scale by 1


def test_normalize_plate_without_controls_raises() -> None:
    frame = pl.DataFrame({
        "Metadata_Plate": ["a", "a", "b", "b"],
        "Metadata_control_type": ["negcon", "trt", "trt", "trt"],
        "f": [1.0, 2.0, 3.0, 4.0],
    })
    with pytest.raises(ValueError, match="'b'"):
        pr.normalize(frame)
    assert pr.normalize(frame, control_query=None)["f"].null_count() == 0


def _pyc_select(
    frame: pl.DataFrame, features: list[str], operations: list[str], **kwargs: object
) -> list[str]:
    out = pycytominer.feature_select(
        _pandas(frame), features=features, operation=operations, **kwargs
    )
    return [c for c in out.columns if c in set(features)]


OPERATION_SETS = [
    ["drop_na_columns"],
    ["variance_threshold"],
    ["correlation_threshold"],
    ["blocklist"],
    ["drop_outliers"],
    ["drop_na_columns", "variance_threshold", "correlation_threshold", "blocklist"],
    ["drop_na_columns", "variance_threshold", "correlation_threshold", "blocklist", "drop_outliers"],
]


@pytest.mark.parametrize("operations", OPERATION_SETS, ids="+".join)
@pytest.mark.parametrize(("correlation", "variance"), [(0.9, 1e-6), (0.7, 2.0), (0.5, 4.0)])
def test_select_features_matches_pycytominer(
    with_missing: pl.DataFrame,
    compound: pl.DataFrame,
    features: list[str],
    operations: list[str],
    correlation: float,
    variance: float,
) -> None:
    # The features are already selected upstream: the lower thresholds make each operation drop
    # a real share (0.7 / 0.5: 322 / 415 correlated; variance 2 / 4: 72 / 243 of 454); 8 features
    # get blocklisted names so that the blocklist bites too.
    renamed = dict(zip(features[::57], pr.DEFAULT_BLOCKLIST[::7], strict=False))
    for frame in (compound, with_missing):
        frame = frame.rename(renamed)
        names = [renamed.get(f, f) for f in features]
        ours = pr.select_features(
            frame, features=names, operations=operations,
            correlation_threshold=correlation, variance_threshold=variance, outlier_cutoff=10 * variance,
        )
        theirs = _pyc_select(
            frame, names, operations, corr_threshold=correlation, min_variance=variance,
            outlier_cutoff=10 * variance,
        )
        assert pr.feature_columns(ours) == theirs
        assert [c for c in ours.columns if c.startswith("Metadata_")] == [
            c for c in frame.columns if c.startswith("Metadata_")
        ]


def test_select_features_raw_collate_blocklist() -> None:
    frame = pl.read_csv(COLLATE, infer_schema_length=None)
    compartments = ("Cells", "Nuclei", "Cytoplasm")
    features = [c for c in pr.feature_columns(frame) if c.split("_")[0] in compartments]
    ours = pr.select_features(frame, features=features, operations=["blocklist"])
    theirs = _pyc_select(frame, features, ["blocklist"])
    expected = [c for c in pr.feature_columns(frame) if c not in set(features) or c in theirs]
    assert pr.feature_columns(ours) == expected
    assert frame.width - ours.width == 55


def test_select_features_raw_collate_two_wells() -> None:
    """Two wells only: every correlation is +-1, so the rank order decides between massive ties."""
    frame = pl.read_csv(COLLATE, infer_schema_length=None)
    features = [c for c in pr.feature_columns(frame) if c.startswith("Nuclei_")][:400]
    ours = pr.select_features(frame, features=features)
    theirs = _pyc_select(frame, features, list(pr.DEFAULT_OPERATIONS))
    expected = [c for c in pr.feature_columns(frame) if c not in set(features) or c in theirs]
    assert pr.feature_columns(ours) == expected


def test_select_features_hand_checked() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=50)
    b = rng.normal(size=50)
    frame = pl.DataFrame({
        "Metadata_Plate": ["p"] * 50,
        "const": np.full(50, 2.5),
        "a": a,
        "a_copy": 3.0 * a + 1.0,  # perfectly correlated with a
        "mix": a + 0.5 * b,  # correlated with a and a_copy (0.89): largest absolute-correlation sum
        "b": b,
        "neg_a": -a,  # negative correlation is not "above threshold"
    })
    out = pr.select_features(frame, operations=["variance_threshold"])
    assert "const" not in out.columns and out.width == frame.width - 1
    corr = pr.correlation_matrix(frame.select("a", "a_copy", "mix", "b", "neg_a").to_numpy())
    sums = np.abs(corr).sum(axis=0)
    operations = ["variance_threshold", "correlation_threshold"]
    kept = pr.feature_columns(pr.select_features(frame, operations=operations))
    # of the pair (a, a_copy) the one with the larger absolute-correlation sum is dropped
    dropped = "a" if sums[0] > sums[1] else "a_copy"
    assert dropped not in kept and ({"a", "a_copy"} - {dropped}) <= set(kept)
    assert "neg_a" in kept and "b" in kept
    theirs = _pyc_select(frame, ["a", "a_copy", "mix", "b", "neg_a"], ["correlation_threshold"])
    assert kept == theirs


def test_rank_inverse_normal() -> None:
    from scipy.stats import norm

    frame = pl.DataFrame(
        {"Metadata_Well": ["A01", "A02", "A03", "A04", "A05"], "f": [3.0, 1.0, 2.0, 2.0, None]}
    )
    out = pr.rank_inverse_normal(frame)["f"].to_list()
    ranks = np.array([4.0, 1.0, 2.5, 2.5])
    expected = norm.ppf((ranks - 0.375) / (4 + 0.25))
    assert out[:4] == pytest.approx(expected.tolist())
    assert out[4] is None


def test_aggregate_wells() -> None:
    frame = pl.DataFrame({
        "Metadata_Plate": ["p"] * 5,
        "Metadata_Well": ["A01", "A01", "A01", "A02", "A02"],
        "Metadata_Site": [1, 2, 3, 1, 2],
        "Metadata_control_type": ["negcon"] * 3 + ["trt"] * 2,
        "Count_Cells": [10, 20, 30, 5, 7],
        "f": [1.0, 5.0, 2.0, 4.0, None],
    })
    out = pr.aggregate_wells(frame)
    assert out.columns == [
        "Metadata_Plate", "Metadata_Well", "Metadata_control_type", "Metadata_n_rows",
        "Metadata_Count_Cells", "Count_Cells", "f",
    ]
    assert out["Metadata_n_rows"].to_list() == [3, 2]
    assert out["Metadata_Count_Cells"].to_list() == [60, 12]
    assert out["f"].to_list() == [2.0, 4.0]
    assert pr.aggregate_wells(frame, method="mean")["f"].to_list() == pytest.approx([8 / 3, 4.0])


def test_fast_correlation_path_agrees_and_falls_back(
    compound: pl.DataFrame, features: list[str]
) -> None:
    x = compound.select(features).to_numpy()
    fast = _select._correlation_syrk(x)
    assert fast is not None
    np.testing.assert_allclose(fast, np.corrcoef(x.T), rtol=0, atol=1e-12)
    for threshold in (0.9, 0.7, 0.5):
        decided = _select._decide(fast, threshold, margin=1e-9)
        assert decided is not None  # no near-ties here: the fast path decides
        np.testing.assert_array_equal(decided, _select._decide(np.corrcoef(x.T), threshold, margin=0.0))
    duplicated = np.column_stack([x[:, :20], x[:, :1]])  # exact tie between columns 0 and 20
    assert _select._decide(_select._correlation_syrk(duplicated), 0.9, margin=1e-9) is None


def test_normalize_interleaved_plates_matches_pycytominer(
    compound: pl.DataFrame, features: list[str]
) -> None:
    # shuffled rows: the plates are no longer contiguous runs, so normalize permutes and restores rows
    shuffled = compound.sample(fraction=1.0, shuffle=True, seed=5)
    ours = pr.normalize(shuffled, features=features, control_query=NEGCON)
    theirs = _pyc_normalize(shuffled, features, "mad_robustize")
    np.testing.assert_allclose(
        ours.select(features).to_numpy(), theirs[features].to_numpy(), rtol=1e-9, atol=1e-12
    )
    assert ours.drop(features).equals(shuffled.drop(features))


def test_raw_gram_path_and_recentring_agree_with_corrcoef(
    compound: pl.DataFrame, features: list[str]
) -> None:
    x = np.asfortranarray(compound.select(features).to_numpy())
    near_centred = np.asfortranarray(x - x.mean(axis=0) + 0.5 * x.std(axis=0))
    corr, sums = _select._syrk_correlation(near_centred, near_centred.mean(axis=0), centred=False)
    assert corr is not None and sums is not None
    np.testing.assert_allclose(corr, np.corrcoef(near_centred.T), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sums, near_centred.var(axis=0) * x.shape[0], rtol=1e-10)
    offset = np.asfortranarray(x + 1e4 * (1 + np.abs(x).max(axis=0)))  # far from centred: recentre
    assert _select._syrk_correlation(offset, offset.mean(axis=0), centred=False) == (None, None)
    for data in (near_centred, offset):
        expected = _select._decide(np.corrcoef(data.T), 0.7, margin=0.0)
        np.testing.assert_array_equal(pr.correlated_features(data, 0.7), expected)


def test_variance_threshold_at_the_boundary_matches_sklearn() -> None:
    from sklearn.feature_selection import VarianceThreshold

    rng = np.random.default_rng(3)
    # F-ordered, as polars hands columns out: np.nanvar then sums each column in the same order
    x = np.asfortranarray(rng.normal(size=(500, 12)) * rng.uniform(0.5, 2.0, 12) + rng.normal(0, 3, 12))
    threshold = float(np.var(x[:, 4]))  # column 4 sits exactly on the threshold: dropped
    x[:, 7] = x[:, 4] * (1 + 1e-12)  # a rounding error above it: kept
    frame = pl.DataFrame(x, schema=[f"f{i}" for i in range(12)])
    for operations in (["variance_threshold"], ["correlation_threshold", "variance_threshold"]):
        ours = pr.select_features(frame, operations=operations, variance_threshold=threshold,
                                  correlation_threshold=1.0)
        support = VarianceThreshold(threshold).fit(x).get_support()
        assert pr.feature_columns(ours) == [f"f{i}" for i in range(12) if support[i]]
        assert "f4" not in ours.columns and "f7" in ours.columns
