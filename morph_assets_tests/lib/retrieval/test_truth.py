"""Truth correlation: a representation that is a linear map of the planted vectors scores high, noise ~0."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from morph_assets.lib.retrieval._truth import truth_correlation, truth_treatments
from morph_assets.lib.schema import BROAD_SAMPLE, PERT_INAME, TREATMENT


def _truth(n: int = 60, k: int = 6, seed: int = 0) -> pl.DataFrame:
    """A truth table as the generator writes it: DMSO, inactive compounds (0 vectors) and active ones."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, k))
    activity = np.linalg.norm(vectors, axis=1)
    activity[:10], vectors[:10] = 0.0, 0.0
    return pl.DataFrame({BROAD_SAMPLE: [None] + [f"BRD-{i:03d}" for i in range(1, n)],
                         PERT_INAME: ["DMSO"] + [f"cpd{i}" for i in range(1, n)], "activity": activity,
                         **{f"true_{j}": vectors[:, j] for j in range(k)}})


def _profiles(truth: pl.DataFrame, matrix: np.ndarray) -> pl.DataFrame:
    keyed = truth_treatments(truth)
    return pl.DataFrame({TREATMENT: keyed[TREATMENT], **{f"f{j}": matrix[:, j] for j in range(matrix.shape[1])}})


def test_linear_map_of_truth_scores_high_and_noise_near_zero() -> None:
    truth = _truth()
    vectors = truth.select(pl.col("^true_.*$")).to_numpy()
    rng = np.random.default_rng(1)
    mixing = np.eye(6) + 0.1 * rng.normal(size=(6, 6))  # near-orthogonal: cosines almost preserved
    planted = _profiles(truth, vectors @ mixing)
    noise = _profiles(truth, rng.normal(size=(truth.height, 20)))
    high = truth_correlation(planted, [f"f{j}" for j in range(6)], truth)
    low = truth_correlation(noise, [f"f{j}" for j in range(20)], truth)
    assert high.n_compounds == 50 and high.n_pairs == 50 * 49 // 2  # inactive rows (and DMSO) left out
    assert high.pearson > 0.95 and high.spearman > 0.95
    assert abs(low.pearson) < 0.1 and abs(low.spearman) < 0.1


def test_equals_a_direct_computation() -> None:
    truth = _truth(n=15, seed=3)
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(truth.height, 4))
    result = truth_correlation(_profiles(truth, matrix), ["f0", "f1", "f2", "f3"], truth)
    keep = (truth["activity"] > 0).to_numpy()
    keyed = truth_treatments(truth).filter(pl.Series(keep))
    order = np.argsort(keyed[TREATMENT].to_numpy())
    x, t = matrix[keep][order], truth.select(pl.col("^true_.*$")).to_numpy()[keep][order]

    def cosines(m: np.ndarray) -> np.ndarray:
        unit = m / np.linalg.norm(m, axis=1, keepdims=True)
        return (unit @ unit.T)[np.triu_indices(len(m), k=1)]

    assert result.pearson == pytest.approx(stats.pearsonr(cosines(x), cosines(t))[0], abs=1e-12)
    assert result.spearman == pytest.approx(stats.spearmanr(cosines(x), cosines(t))[0], abs=1e-12)


def test_too_few_pairs_gives_no_correlation() -> None:
    truth = _truth(n=12)
    result = truth_correlation(_profiles(truth, np.ones((12, 3))), ["f0", "f1", "f2"], truth)
    assert result.pearson is None and result.spearman is None  # constant similarity
