"""Cluster validation against scikit-learn's cosine similarity / ARI and scipy's Mann-Whitney U."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import mannwhitneyu
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import cosine_similarity

from morph_assets.lib.models import adjusted_rand, cosine_similarity_pairs, within_vs_between
from morph_assets.lib.plot import feature_boxplot, similarity_distributions, to_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _blobs(n: int = 45) -> tuple[np.ndarray, np.ndarray]:
    # centres far from the origin in different directions, so cosine similarity separates them too
    centres = np.array([[10.0, 0, 0, 0], [0, 10.0, 0, 0], [0, 0, 10.0, 0]])
    return make_blobs(n_samples=n, centers=centres, cluster_std=1.0, random_state=7)


def test_cosine_split_matches_sklearn():
    x, labels = _blobs()
    x[4] = 0.0  # a zero vector: similarity 0, as sklearn gives
    within, between = cosine_similarity_pairs(x, labels)
    n = x.shape[0]
    assert within.size + between.size == n * (n - 1) // 2
    reference = cosine_similarity(x)
    i, j = np.triu_indices(n, k=1)
    same = labels[i] == labels[j]
    assert within.size == int(same.sum())
    np.testing.assert_allclose(within, reference[i, j][same], atol=1e-12)
    np.testing.assert_allclose(between, reference[i, j][~same], atol=1e-12)
    with pytest.raises(ValueError, match="labels"):
        cosine_similarity_pairs(x, labels[:-1])


def test_within_vs_between_matches_scipy_and_separates_blobs():
    x, labels = _blobs()
    within, between = cosine_similarity_pairs(x, labels)
    result = within_vs_between(x, labels)
    reference = mannwhitneyu(within, between, alternative="greater")
    assert result.mann_whitney_u == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.p_value < 1e-4
    assert result.median_within > result.median_between
    assert result.as_row()["n_within"] == within.size
    less = within_vs_between(x, labels, alternative="less")
    assert less.p_value > 0.99
    # random labels: no separation
    shuffled = np.random.default_rng(0).permutation(labels)
    assert within_vs_between(x, shuffled).p_value > 1e-3
    with pytest.raises(ValueError, match="alternative"):
        within_vs_between(x, labels, alternative="bigger")
    with pytest.raises(ValueError, match="pairs both"):
        within_vs_between(x, np.zeros(len(labels)))


def test_adjusted_rand_matches_sklearn_and_drops_missing_truth():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 4, size=50)
    predicted = np.where(rng.random(50) < 0.7, truth, rng.integers(0, 4, size=50))
    assert adjusted_rand(truth.tolist(), predicted.tolist()) == pytest.approx(adjusted_rand_score(truth, predicted))
    truth_with_gaps = [None if k % 5 == 0 else f"t{v}" for k, v in enumerate(truth)]
    truth_with_gaps[1] = float("nan")
    kept = [k for k in range(50) if k % 5 != 0 and k != 1]
    assert adjusted_rand(truth_with_gaps, predicted) == pytest.approx(
        adjusted_rand_score(truth[kept], predicted[kept])
    )
    with pytest.raises(ValueError, match="reference labels"):
        adjusted_rand([1, 2], [1])


def test_pngs():
    x, labels = _blobs()
    within, between = cosine_similarity_pairs(x, labels)
    assert to_png(similarity_distributions(within, between, title="v")[0].figure).startswith(PNG_SIGNATURE)
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "Metadata_pert_iname": [f"cpd{k % 8}" if k % 9 else None for k in range(80)],
            "Cells_AreaShape_Area": rng.normal(100, 10, size=80),
        }
    )
    png = to_png(feature_boxplot(frame, group_col="Metadata_pert_iname", feature="Cells_AreaShape_Area", title="area").figure)
    assert png.startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="lacks"):
        to_png(feature_boxplot(frame, group_col="Metadata_pert_iname", feature="nope", title="x").figure)
