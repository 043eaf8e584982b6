"""Cross-fitting the crop network: the folds, the leakage guard, the held-out split and pooling."""

import numpy as np
import polars as pl
import pytest
from morph_assets_tests.lib.models.planted_crops import planted

from morph_assets.lib.models import (
    CropNetSettings,
    cross_fitted_log_probabilities,
    plate_folds,
    pooled_probabilities,
    split_log_probabilities,
)


def test_plate_folds_deal_sorted_plates_round_robin_and_refuse_one_plate():
    assert plate_folds(["P3", "P1", "P2", "P4", "P1"], 2) == [("P1", "P3"), ("P2", "P4")]
    assert plate_folds(["B", "A"], 5) == [("A",), ("B",)]
    with pytest.raises(ValueError, match="at least two replicate plates"):
        plate_folds(["P1", "P1"], 2)

def test_a_plates_labels_never_reach_the_network_that_embeds_it():
    """Shuffling the labels of plate P1 leaves P1's (and its fold mate P3's) outputs bit for bit
    unchanged, while the plate whose network learned from P1 (P2) changes."""
    rng = np.random.default_rng(4)
    crops, labels = planted(24, 3, rng)
    plates = np.array(["P1", "P2", "P3"] * (labels.size // 3))
    wells = np.array([f"W{i % 12:02d}" for i in range(labels.size)])
    names = np.array(["A", "B", "C"])[labels]
    settings = CropNetSettings(width=4, view_size=8, max_epochs=2, patience=2, batch_size=16, device="cpu")
    before = cross_fitted_log_probabilities(crops, names, plates, wells, settings)
    shuffled = names.copy()
    on_p1 = np.flatnonzero(plates == "P1")
    shuffled[on_p1] = np.random.default_rng(5).permutation(names[on_p1])
    assert (shuffled[on_p1] != names[on_p1]).any()
    after = cross_fitted_log_probabilities(crops, shuffled, plates, wells, settings)
    assert before.folds == [("P1", "P3"), ("P2",)]
    for plate in ("P1", "P3"):
        rows = plates == plate
        np.testing.assert_array_equal(before.log_probabilities[rows], after.log_probabilities[rows])
    assert not np.array_equal(before.log_probabilities[plates == "P2"], after.log_probabilities[plates == "P2"])
    assert (before.fold[plates == "P2"] == 1).all() and (before.fold[plates != "P2"] == 0).all()

def test_pooled_probabilities_is_the_mean_probability_per_group_with_the_cell_count():
    keys = pl.DataFrame({"plate": ["a", "a", "b", "a"], "site": [1, 1, 1, 2]})
    probabilities = np.array([[0.5, 0.5], [0.1, 0.9], [0.3, 0.7], [1.0, 0.0]], np.float32)
    with np.errstate(divide="ignore"):
        pooled = pooled_probabilities(keys, np.log(probabilities), ["plate", "site"])
    assert pooled.columns == ["plate", "site", "n_cells", "CropNet_000", "CropNet_001"]
    assert pooled.select("plate", "site", "n_cells").rows() == [("a", 1, 2), ("a", 2, 1), ("b", 1, 1)]
    np.testing.assert_allclose(pooled.select("CropNet_000", "CropNet_001").to_numpy(),
                               [[0.3, 0.7], [1.0, 0.0], [0.3, 0.7]], rtol=1e-6)
    with pytest.raises(ValueError, match="key rows"):
        pooled_probabilities(keys.head(2), probabilities, ["plate"])

def test_split_log_probabilities_keeps_groups_whole_and_scores_only_the_test_part():
    crops, labels = planted(80, 3, np.random.default_rng(6))
    names = np.array(["A", "B", "C"])[labels]
    groups = np.array([f"img{i // 4}" for i in range(labels.size)])  # images of 4 cells
    settings = CropNetSettings(width=4, view_size=8, max_epochs=10, patience=10, batch_size=32, device="cpu")
    train, test, log_p = split_log_probabilities(crops, names, groups, settings, test_fraction=0.25)
    assert not set(groups[train]) & set(groups[test])
    assert train.size + test.size == labels.size and log_p.shape == (test.size, 3)
    assert (log_p.argmax(axis=1) == labels[test]).mean() > 0.9
