"""Treatment-level clustering: aggregates, KMeans with k chosen by silhouette, 2-D embeddings, figures.

The study (section 3.2) aggregates per-image features (or VAE latent means) per treatment, runs
KMeans for k = 2..15, keeps the k with the best silhouette score and draws the treatments with UMAP
and t-SNE. These functions do each step on plain polars/numpy inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from morph_assets.lib.io import Lake
from morph_assets.lib.profiles import (
    constant_metadata,
    feature_columns,
    feature_statistic,
    selected_feature_names,
    usable_features,
)
from morph_assets.lib.schema import BROAD_SAMPLE, N_PROFILES, NORMALIZATION, TREATMENT, profile_table


def treatment_aggregates(
    profiles: pl.DataFrame,
    *,
    treatment_col: str = BROAD_SAMPLE,
    features: list[str] | None = None,
    method: Literal["median", "mean"] = "median",
) -> pl.DataFrame:
    """One profile per treatment: features aggregated over the treatment's rows.

    Parameters
    ----------
    profiles : pl.DataFrame
        Per-image (or per-well) rows with ``treatment_col`` and feature columns.
    treatment_col : str
        Column naming the treatment; rows where it is null are dropped.
    features : list of str, optional
        Columns to aggregate; default every numeric non-``Metadata_`` column.
    method : {"median", "mean"}
        Per-feature statistic over a treatment's rows (nulls ignored).

    Returns
    -------
    pl.DataFrame
        One row per treatment, sorted by ``treatment_col``: the treatment, every other ``Metadata_``
        column that is constant within each treatment (its first value), ``Metadata_n_profiles``
        (rows aggregated), then the aggregated features.

    Examples
    --------
    >>> rows = pl.DataFrame({"Metadata_broad_sample": ["a", "a", "b"], "x": [1.0, 3.0, 5.0]})
    >>> treatment_aggregates(rows)["x"].to_list()
    [2.0, 5.0]
    """
    if method not in ("median", "mean"):
        raise ValueError(f"method must be 'median' or 'mean', not {method!r}")
    if treatment_col not in profiles.columns:
        raise ValueError(f"profiles lacks the treatment column {treatment_col!r}")
    features = feature_columns(profiles) if features is None else list(features)
    missing = [name for name in features if name not in profiles.columns]
    if missing:
        raise ValueError(f"profiles lacks the feature column(s) {missing}")
    rows = profiles.filter(pl.col(treatment_col).is_not_null())
    # a column is kept only if it has a single value in every treatment, so "first" loses nothing
    constant = constant_metadata(rows, [treatment_col], exclude=[N_PROFILES, *features])
    aggregations: list[pl.Expr] = [pl.col(constant).first()] if constant else []
    aggregations.append(pl.len().cast(pl.Int64).alias(N_PROFILES))
    if features:
        aggregations.append(feature_statistic(features, method))
    return rows.group_by(treatment_col, maintain_order=True).agg(aggregations).sort(treatment_col)


@dataclass
class KMeansSelection:
    """The outcome of :func:`choose_kmeans`.

    Attributes
    ----------
    best_k : int
        Number of clusters with the highest silhouette score.
    labels : np.ndarray
        Cluster of each sample under ``best_k``.
    silhouettes : pl.DataFrame
        Columns ``k``, ``silhouette``, ``inertia``, one row per k tried.
    model : KMeans
        The fitted model for ``best_k``.
    """

    best_k: int
    labels: np.ndarray
    silhouettes: pl.DataFrame
    model: KMeans


def choose_kmeans(
    x: np.ndarray, *, k_range: Sequence[int] = range(2, 16), seed: int = 0, n_init: int = 10
) -> KMeansSelection:
    """Fit KMeans for each k and keep the k with the highest (Euclidean) silhouette score.

    The matrix is used as given: scale or normalise it beforehand if features differ in units.

    Parameters
    ----------
    x : np.ndarray
        (samples, features) matrix, finite.
    k_range : sequence of int
        Numbers of clusters to try; values below 2 or at least the number of samples are skipped
        (the silhouette needs 2 <= k <= samples - 1).
    seed : int
        ``random_state`` of every KMeans fit.
    n_init : int
        KMeans restarts per k.

    Returns
    -------
    KMeansSelection
        Best k (ties go to the smaller k), its labels and model, and the silhouette per k.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (samples, features) matrix, got shape {x.shape}")
    if x.shape[0] < 3:
        raise ValueError(f"clustering needs at least 3 samples, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    ks = sorted({int(k) for k in k_range if 2 <= int(k) < x.shape[0]})
    if not ks:
        raise ValueError(f"no k in {list(k_range)} is between 2 and {x.shape[0] - 1} (samples - 1)")
    scores: list[float] = []
    inertias: list[float] = []
    models: dict[int, KMeans] = {}
    for k in ks:
        model = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit(x)
        models[k] = model
        inertias.append(float(model.inertia_))
        # duplicate points can leave fewer distinct clusters than k, where the silhouette is undefined
        n_found = len(np.unique(model.labels_))
        scores.append(
            float(silhouette_score(x, model.labels_, metric="euclidean")) if 2 <= n_found < x.shape[0] else np.nan
        )
    score_array = np.array(scores)
    if np.isnan(score_array).all():
        raise ValueError("no k gave at least 2 distinct clusters (are all samples identical?)")
    best_k = ks[int(np.nanargmax(score_array))]  # nanargmax returns the first maximum: the smaller k
    table = pl.DataFrame(
        {"k": ks, "silhouette": scores, "inertia": inertias},
        schema={"k": pl.Int64, "silhouette": pl.Float64, "inertia": pl.Float64},
    )
    best = models[best_k]
    return KMeansSelection(best_k=best_k, labels=np.asarray(best.labels_), silhouettes=table, model=best)


def embed_2d(x: np.ndarray, *, method: Literal["umap", "tsne"], seed: int = 0) -> np.ndarray:
    """Project samples to 2-D with UMAP or t-SNE for plotting.

    Neighbourhood sizes shrink with the sample count, since a few hundred treatments (or a small
    test set) cannot support UMAP's default 15 neighbours or t-SNE's perplexity of 30.

    Parameters
    ----------
    x : np.ndarray
        (samples, features) matrix with at least 3 samples.
    method : {"umap", "tsne"}
        ``"umap"``: ``umap.UMAP(n_neighbors=min(15, n - 1))``; ``"tsne"``: scikit-learn's TSNE with
        ``perplexity=min(30, (n - 1) / 3)`` and PCA initialisation.
    seed : int
        ``random_state`` of the embedding (the same seed gives the same coordinates).

    Returns
    -------
    np.ndarray
        (samples, 2) coordinates.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (samples, features) matrix, got shape {x.shape}")
    n = x.shape[0]
    if n < 3:
        raise ValueError(f"a 2-D embedding needs at least 3 samples, got {n}")
    if method == "umap":
        import umap  # slow import (numba), so only when asked

        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, n - 1), n_jobs=1)
        return np.asarray(reducer.fit_transform(x), dtype=np.float64)
    if method == "tsne":
        from sklearn.manifold import TSNE

        tsne = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), random_state=seed, init="pca")
        return np.asarray(tsne.fit_transform(x), dtype=np.float64)
    raise ValueError(f"method must be 'umap' or 'tsne', not {method!r}")


def lake_treatment_matrix(lake: Lake, representation: str) -> tuple[pl.DataFrame, list[str]] | None:
    """The treatment-level profiles both clusterings start from, read from the lake.

    The median per treatment (:func:`treatment_aggregates`) of a representation's DMSO-normalised
    well profiles, over the study-wide selected features (all usable ones when the selection kept
    none), without treatments whose aggregate holds a non-finite value.

    Parameters
    ----------
    lake : Lake
        The lake holding ``profiles_well_<representation>`` and ``selected_features``.
    representation : str
        A profile representation (``"cellprofiler"``, ``"regionprops"``, ``"vae"``, ...).

    Returns
    -------
    tuple of (polars.DataFrame, list of str) or None
        The aggregates and their feature columns; None when the lake has no such profiles or no
        usable feature.
    """
    table = profile_table("well", representation)
    if not lake.plates_present(table):
        return None
    wells = pl.read_parquet(lake.table_glob(table)).filter(pl.col(NORMALIZATION) == "mad_robustize")
    features = usable_features(wells, selected_feature_names(lake, representation, wells)) or usable_features(wells)
    if not features:
        return None
    aggregates = treatment_aggregates(wells, treatment_col=TREATMENT, features=features)
    finite = np.isfinite(aggregates.select(features).to_numpy()).all(axis=1)
    return aggregates.filter(pl.Series(finite)), features
