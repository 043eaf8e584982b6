"""Tests for feature selection in ``morph_assets.lib.profiles`` against pycytominer 1.7 and scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from morph_assets.lib import profiles as pr
from morph_assets.lib.profiles import _select  # the BLAS correlation path is private, tested directly
from morph_assets_tests.lib.profiles.reference import COLLATE, to_pandas

pycytominer = pytest.importorskip("pycytominer")


def _pyc_select(
    frame: pl.DataFrame, features: list[str], operations: list[str], **kwargs: object
) -> list[str]:
    out = pycytominer.feature_select(
        to_pandas(frame), features=features, operation=operations, **kwargs
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


def test_default_blocklist_matches_pycytominer() -> None:
    shipped = Path(pycytominer.__file__).parent / "data" / "blocklist_features.txt"
    names = shipped.read_text().split()[1:]
    assert sorted(pr.DEFAULT_BLOCKLIST) == sorted(names)


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
