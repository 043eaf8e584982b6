"""Validate treatment clusters with independent features (study sections 3.4 and 4.4).

Treatments are clustered on one representation (regionprops features or VAE embeddings) and the
clusters are then judged on another (CellProfiler ``Mean_`` features): treatments in the same
cluster should have more similar CellProfiler profiles than treatments in different clusters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import polars as pl
from scipy.stats import mannwhitneyu
from sklearn.metrics import adjusted_rand_score


Alternative = Literal["greater", "less", "two-sided"]


def cosine_similarity_pairs(x: np.ndarray, cluster_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of every pair of samples, split by whether the pair shares a cluster.

    Parameters
    ----------
    x : np.ndarray
        (samples, features) matrix, finite. A zero row has similarity 0 with everything (as in
        scikit-learn's ``cosine_similarity``).
    cluster_labels : np.ndarray
        Cluster of each sample.

    Returns
    -------
    within : np.ndarray
        Similarities of pairs (i < j) in the same cluster, in row-major upper-triangle order.
    between : np.ndarray
        Similarities of pairs (i < j) in different clusters, same order.
    """
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(cluster_labels)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (samples, features) matrix, got shape {x.shape}")
    if labels.shape != (x.shape[0],):
        raise ValueError(f"{labels.shape[0] if labels.ndim else 0} cluster labels for {x.shape[0]} samples")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    similarity = unit @ unit.T
    upper_i, upper_j = np.triu_indices(x.shape[0], k=1)
    values = similarity[upper_i, upper_j]
    same = labels[upper_i] == labels[upper_j]
    return values[same], values[~same]


@dataclass(frozen=True)
class ClusterSeparation:
    """Within- versus between-cluster similarity and its Mann-Whitney U test.

    Attributes
    ----------
    n_within, n_between : int
        Numbers of within-cluster and between-cluster pairs.
    median_within, median_between : float
        Median cosine similarity of each set of pairs.
    mann_whitney_u : float
        U statistic of the within-cluster sample.
    p_value : float
        One- or two-sided p-value, per ``alternative``.
    alternative : str
        The alternative hypothesis tested, about within relative to between.
    """

    n_within: int
    n_between: int
    median_within: float
    median_between: float
    mann_whitney_u: float
    p_value: float
    alternative: str

    def as_row(self) -> dict[str, int | float | str]:
        """Return the fields as a dict (one table row)."""
        return asdict(self)


def within_vs_between(
    x: np.ndarray, cluster_labels: np.ndarray, *, alternative: Alternative = "greater"
) -> ClusterSeparation:
    """Test whether pairs in the same cluster are more similar than pairs in different clusters.

    Runs ``scipy.stats.mannwhitneyu(within, between, alternative=alternative)`` on the pairwise
    cosine similarities of :func:`cosine_similarity_pairs`. With ``"greater"`` (the default) the
    alternative hypothesis is that within-cluster similarities are stochastically larger than
    between-cluster ones, which is what a meaningful clustering produces, so a small p-value
    supports the clusters.

    Note that the study's section 3.4 words the test the other way round ("if the similarities
    between groups are significantly larger than those within groups"); read literally that is
    ``alternative="less"``. Its figures and conclusion (clusters validated, p << 1e-4) only make
    sense for within > between, which is the default here.

    Parameters
    ----------
    x : np.ndarray
        (samples, features) matrix of the validating representation (e.g. treatment-level
        CellProfiler features).
    cluster_labels : np.ndarray
        Cluster of each sample (from another representation).
    alternative : {"greater", "less", "two-sided"}
        Alternative hypothesis about the within-cluster sample relative to the between-cluster one.

    Returns
    -------
    ClusterSeparation
        Pair counts, medians, U statistic and p-value.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', not {alternative!r}")
    within, between = cosine_similarity_pairs(x, cluster_labels)
    if within.size == 0 or between.size == 0:
        raise ValueError(
            f"need pairs both within and between clusters (got {within.size} within, {between.size} between): "
            "every cluster is a singleton or there is only one cluster"
        )
    test = mannwhitneyu(within, between, alternative=alternative)
    return ClusterSeparation(
        n_within=int(within.size),
        n_between=int(between.size),
        median_within=float(np.median(within)),
        median_between=float(np.median(between)),
        mann_whitney_u=float(test.statistic),
        p_value=float(test.pvalue),
        alternative=alternative,
    )


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def adjusted_rand(labels_true: Sequence, labels_pred: Sequence) -> float:
    """Adjusted Rand index between a reference labelling and clusters, skipping unknown references.

    Parameters
    ----------
    labels_true : sequence
        Reference label per sample (e.g. mechanism or target); None or NaN means unknown, and such
        samples are dropped from both sequences.
    labels_pred : sequence
        Cluster per sample.

    Returns
    -------
    float
        ``sklearn.metrics.adjusted_rand_score`` on the samples with a known reference (1 = the same
        partition, about 0 = chance).
    """
    truth = list(labels_true)
    predicted = list(labels_pred)
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} reference labels but {len(predicted)} predicted labels")
    kept = [(t, p) for t, p in zip(truth, predicted, strict=True) if not _is_missing(t)]
    if not kept:
        raise ValueError("every reference label is missing")
    kept_truth, kept_predicted = zip(*kept, strict=True)
    return float(adjusted_rand_score([str(t) for t in kept_truth], [str(p) for p in kept_predicted]))
