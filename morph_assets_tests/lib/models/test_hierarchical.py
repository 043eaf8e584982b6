"""Stability-cut hierarchical clustering against a planted toy case and scipy's own linkage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from sklearn.metrics import adjusted_rand_score

from morph_assets.lib.models import stable_hierarchical
from morph_assets.lib.plot import stability_curve, to_png


def _planted(per_group: int = 12, features: int = 30, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Three groups whose centres point in orthogonal directions, so their cosine distance is ~1."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((3, features))
    for group in range(3):
        centres[group, group * 10:(group + 1) * 10] = 5.0
    truth = np.repeat(np.arange(3), per_group)
    return centres[truth] + rng.normal(scale=0.3, size=(truth.size, features)), truth


def test_planted_groups_give_k_3_and_perfect_agreement():
    x, truth = _planted()
    cut = stable_hierarchical(x, k_range=range(2, 8), n_bootstraps=20, seed=0)
    assert cut.best_k == 3
    assert adjusted_rand_score(truth, cut.labels) == pytest.approx(1.0)
    assert cut.stability["k"].to_list() == [2, 3, 4, 5, 6, 7]
    at_3 = cut.stability.filter(cut.stability["k"] == 3).row(0, named=True)
    assert at_3["mean_ari"] == pytest.approx(1.0) and at_3["n_bootstraps"] == 20
    assert cut.labels.dtype == np.int32 and sorted(set(cut.labels.tolist())) == [0, 1, 2]


def test_linkage_equals_scipy_average_cosine():
    x, _ = _planted(per_group=5)
    cut = stable_hierarchical(x, k_range=[2, 3], n_bootstraps=2, seed=0)
    np.testing.assert_allclose(cut.linkage, linkage(x, method="average", metric="cosine"))


def test_same_seed_same_result_and_global_rng_untouched():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(25, 12))  # no structure, so the stability depends on the resamples
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = stable_hierarchical(x, k_range=range(2, 6), n_bootstraps=10, seed=5)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    second = stable_hierarchical(x, k_range=range(2, 6), n_bootstraps=10, seed=5)
    other = stable_hierarchical(x, k_range=range(2, 6), n_bootstraps=10, seed=6)
    assert first.stability.equals(second.stability)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert not first.stability.equals(other.stability)


@pytest.mark.parametrize(
    ("x", "kwargs", "message"),
    [
        (np.ones((2, 4)), {}, "at least 3 samples"),
        (np.ones(5), {}, "2-D"),
        (np.ones((5, 1)), {}, "at least 2 features"),
        (np.array([[1.0, np.nan], [1.0, 2.0], [3.0, 1.0]]), {}, "NaN"),
        (np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0]]), {}, "all-zero row"),
        (np.eye(4) + 0.1, {"k_range": [1, 9]}, "no k"),
        (np.eye(4) + 0.1, {"n_bootstraps": 0}, "n_bootstraps"),
    ],
)
def test_invalid_input_raises_a_clear_error(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        stable_hierarchical(x, **kwargs)


def test_stability_curve_draws_the_table_and_marks_the_chosen_k():
    x, _ = _planted(per_group=6)
    cut = stable_hierarchical(x, k_range=range(2, 6), n_bootstraps=5, seed=0)
    axes = stability_curve(cut.stability, cut.best_k, title="toy")
    assert to_png(axes.figure).startswith(b"\x89PNG\r\n\x1a\n")
    assert axes.get_legend().get_texts()[0].get_text() == "chosen k = 3"
    with pytest.raises(ValueError, match="mean_ari"):
        stability_curve(cut.stability.drop("mean_ari"), 3, title="toy")
