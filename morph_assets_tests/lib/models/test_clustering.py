"""Treatment aggregates, KMeans selection and embeddings against scikit-learn and hand-made references."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score

from morph_assets.lib.models import choose_kmeans, embed_2d, treatment_aggregates
from morph_assets.lib.plot import category_scatter, silhouette_curve, to_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _blobs(n: int = 60, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_blobs(n_samples=n, centers=3, n_features=4, cluster_std=0.6, random_state=seed)
    return x, y


def test_choose_kmeans_recovers_three_blobs_and_matches_sklearn_silhouettes():
    x, y = _blobs()
    selection = choose_kmeans(x, k_range=range(2, 7), seed=0, n_init=4)
    assert selection.best_k == 3
    assert adjusted_rand_score(y, selection.labels) == pytest.approx(1.0)
    assert selection.silhouettes["k"].to_list() == [2, 3, 4, 5, 6]
    for k, score, inertia in selection.silhouettes.iter_rows():
        reference = KMeans(n_clusters=k, random_state=0, n_init=4).fit(x)
        assert score == pytest.approx(silhouette_score(x, reference.labels_), abs=1e-12)
        assert inertia == pytest.approx(reference.inertia_)
    assert selection.silhouettes["silhouette"].arg_max() == 1
    assert selection.model.n_clusters == 3


def test_choose_kmeans_trims_k_range_to_sample_count():
    x = np.random.default_rng(0).normal(size=(5, 3))
    selection = choose_kmeans(x, k_range=range(2, 16), n_init=2)
    assert selection.silhouettes["k"].to_list() == [2, 3, 4]
    assert selection.labels.shape == (5,)


def test_choose_kmeans_rejects_too_few_samples_and_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        choose_kmeans(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        choose_kmeans(np.array([[0.0], [1.0], [np.nan]]))
    with pytest.raises(ValueError, match="no k"):
        choose_kmeans(np.random.default_rng(0).normal(size=(4, 2)), k_range=[8, 9])


def test_treatment_aggregates_equals_hand_median():
    rng = np.random.default_rng(1)
    n = 30
    profiles = pl.DataFrame(
        {
            "Metadata_Plate": ["P1"] * n,
            "Metadata_Well": [f"A{i % 7:02d}" for i in range(n)],
            "Metadata_broad_sample": [["t1", "t2", "t3", None][i % 4] for i in range(n)],
            "Metadata_pert_iname": [["a", "b", "c", "d"][i % 4] for i in range(n)],
            "f1": rng.normal(size=n),
            "f2": rng.normal(size=n),
            "label": ["x"] * n,  # a non-numeric, non-metadata column is not a feature
        }
    )
    result = treatment_aggregates(profiles)
    expected = (
        profiles.filter(pl.col("Metadata_broad_sample").is_not_null())
        .group_by("Metadata_broad_sample")
        .agg(pl.col("f1").median(), pl.col("f2").median(), pl.len().alias("n"))
        .sort("Metadata_broad_sample")
    )
    assert result["Metadata_broad_sample"].to_list() == ["t1", "t2", "t3"]
    np.testing.assert_allclose(result["f1"].to_numpy(), expected["f1"].to_numpy())
    np.testing.assert_allclose(result["f2"].to_numpy(), expected["f2"].to_numpy())
    assert result["Metadata_n_profiles"].to_list() == expected["n"].to_list()
    # constant within a treatment: kept; varying (well): dropped
    assert result["Metadata_pert_iname"].to_list() == ["a", "b", "c"]
    assert "Metadata_Plate" in result.columns and "Metadata_Well" not in result.columns
    assert "label" not in result.columns
    means = treatment_aggregates(profiles, method="mean", features=["f1"])
    assert means.columns[-1] == "f1" and "f2" not in means.columns
    assert means["f1"][0] == pytest.approx(profiles.filter(pl.col("Metadata_broad_sample") == "t1")["f1"].mean())
    with pytest.raises(ValueError, match="method"):
        treatment_aggregates(profiles, method="max")
    with pytest.raises(ValueError, match="treatment column"):
        treatment_aggregates(profiles, treatment_col="Metadata_nope")


def test_embed_2d_shapes_finite_and_deterministic():
    x, _ = _blobs(n=40)
    tsne_a = embed_2d(x, method="tsne", seed=1)
    tsne_b = embed_2d(x, method="tsne", seed=1)
    assert tsne_a.shape == (40, 2) and np.isfinite(tsne_a).all()
    np.testing.assert_array_equal(tsne_a, tsne_b)
    umap_coords = embed_2d(x, method="umap", seed=1)  # the only UMAP call: numba compilation is slow
    assert umap_coords.shape == (40, 2) and np.isfinite(umap_coords).all()
    with pytest.raises(ValueError, match="method"):
        embed_2d(x, method="pca")
    with pytest.raises(ValueError, match="at least 3"):
        embed_2d(x[:2], method="tsne")


def test_pngs():
    x, y = _blobs(n=30)
    names = [f"c{label}" for label in y]
    assert to_png(category_scatter(x[:, :2], names, title="t", legend_title="cluster").figure).startswith(PNG_SIGNATURE)
    assert to_png(category_scatter(x[:, :2], names, title="t", legend_title="cluster", max_legend=1).figure).startswith(PNG_SIGNATURE)
    selection = choose_kmeans(x, k_range=range(2, 5), n_init=2)
    assert to_png(silhouette_curve(selection.silhouettes, selection.best_k, title="s").figure).startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="colours"):
        to_png(category_scatter(x[:, :2], names[:-1], title="t", legend_title="c").figure)
