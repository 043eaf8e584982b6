"""Hierarchical clustering of treatments with the number of clusters chosen by stability.

A second view beside the study's KMeans-by-silhouette: average-linkage clustering on cosine
distance (the similarity every retrieval score here uses), cut at the k whose partition survives
resampling of the features best. Stability selection after Ben-Hur, Elisseeff & Guyon (2002), "A
stability based method for discovering structure in clustered data", with the adjusted Rand index
(Hubert & Arabie 1985) as the agreement between partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist
from sklearn.metrics import adjusted_rand_score

#: Average linkage: cosine distance is not Euclidean, so Ward's variance criterion does not apply,
#: and average linkage neither chains (single) nor forces equal-diameter groups (complete).
LINKAGE_METHOD = "average"
LINKAGE_METRIC = "cosine"


@dataclass
class StableCut:
    """The outcome of :func:`stable_hierarchical`.

    Attributes
    ----------
    best_k : int
        Number of clusters with the highest mean bootstrap ARI (ties go to the larger k).
    labels : np.ndarray
        (samples,) int32 cluster of each sample under ``best_k``, numbered from 0.
    linkage : np.ndarray
        (samples - 1, 4) float64 scipy linkage matrix of the full data.
    stability : pl.DataFrame
        Columns ``k`` (Int64), ``mean_ari``, ``sd_ari`` (Float64) and ``n_bootstraps`` (Int64), one
        row per k tried.
    """

    best_k: int
    labels: np.ndarray
    linkage: np.ndarray
    stability: pl.DataFrame


def _cut(tree: np.ndarray, k: int) -> np.ndarray:
    """Labels (from 0) of the partition into at most ``k`` clusters."""
    return fcluster(tree, t=k, criterion="maxclust").astype(np.int32) - 1


def stable_hierarchical(
    x: np.ndarray, *, k_range: Sequence[int] = range(2, 11), n_bootstraps: int = 30, seed: int = 0
) -> StableCut:
    """Average-linkage clustering on cosine distance, cut at the most stable k.

    Each bootstrap resamples the feature columns with replacement (the treatments stay, so each
    bootstrap partition can be compared with the full-data one), rebuilds the tree and cuts it at
    every k. A k's stability is the mean adjusted Rand index between the full-data partition and
    the bootstrap partitions; the chosen k is the most stable one, the larger k on a tie, since a
    finer partition that is just as reproducible says more.

    Parameters
    ----------
    x : np.ndarray
        (samples, features) matrix, finite, at least 3 samples and 2 features, no all-zero row
        (its cosine distance is undefined).
    k_range : sequence of int
        Numbers of clusters to try; values below 2 or above samples - 1 are skipped.
    n_bootstraps : int
        Feature resamples, at least 1. A resample that leaves a row all zero is skipped.
    seed : int
        Seed of a local ``numpy.random.default_rng`` (the global RNG is not touched).

    Returns
    -------
    StableCut
        Chosen k, its labels, the full-data linkage (equal to ``scipy.cluster.hierarchy.linkage(x,
        "average", metric="cosine")``) and the stability per k.

    Raises
    ------
    ValueError
        If x is not 2-D, has fewer than 3 samples or 2 features, is not finite, has an all-zero
        row, if no k in ``k_range`` is usable, if ``n_bootstraps`` < 1, or if every resample was
        degenerate.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (samples, features) matrix, got shape {x.shape}")
    n, p = x.shape
    if n < 3:
        raise ValueError(f"hierarchical clustering needs at least 3 samples, got {n}")
    if p < 2:
        raise ValueError(f"resampling features needs at least 2 features, got {p}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    if (np.abs(x).sum(axis=1) == 0).any():
        raise ValueError("x has an all-zero row, whose cosine distance is undefined")
    if n_bootstraps < 1:
        raise ValueError(f"n_bootstraps must be at least 1, got {n_bootstraps}")
    ks = sorted({int(k) for k in k_range if 2 <= int(k) <= n - 1})
    if not ks:
        raise ValueError(f"no k in {list(k_range)} is between 2 and {n - 1} (samples - 1)")
    tree = linkage(x, method=LINKAGE_METHOD, metric=LINKAGE_METRIC)
    full = {k: _cut(tree, k) for k in ks}
    rng = np.random.default_rng(seed)
    scores: dict[int, list[float]] = {k: [] for k in ks}
    for _ in range(n_bootstraps):
        columns = rng.integers(0, p, size=p)
        distances = pdist(x[:, columns], metric=LINKAGE_METRIC)
        if not np.isfinite(distances).all():  # a resample that zeroed a row
            continue
        resampled = linkage(distances, method=LINKAGE_METHOD)
        for k in ks:
            scores[k].append(float(adjusted_rand_score(full[k], _cut(resampled, k))))
    if not scores[ks[0]]:
        raise ValueError("every feature resample left an all-zero row; no stability could be measured")
    means = [float(np.mean(scores[k])) for k in ks]
    # ties to the larger k: scan from the largest and keep the first maximum
    best_k = max(reversed(ks), key=lambda k: means[ks.index(k)])
    table = pl.DataFrame(
        {"k": ks, "mean_ari": means, "sd_ari": [float(np.std(scores[k])) for k in ks],
         "n_bootstraps": [len(scores[k]) for k in ks]},
        schema={"k": pl.Int64, "mean_ari": pl.Float64, "sd_ari": pl.Float64, "n_bootstraps": pl.Int64},
    )
    return StableCut(best_k=best_k, labels=full[best_k], linkage=tree, stability=table)
