"""The crop network: augmentation, balanced sampling, learning a planted signal, and the leakage guard."""

import numpy as np
import polars as pl
import pytest
import torch

from morph_assets.lib.models import (
    CropNetSettings,
    augment,
    balanced_indices,
    class_log_probabilities,
    cross_fitted_log_probabilities,
    plate_folds,
    pooled_probabilities,
    split_log_probabilities,
    to_view,
    train_crop_net,
)

FAST = CropNetSettings(width=4, view_size=8, max_epochs=6, patience=6, batch_size=32, device="cpu")


def _planted(n_per_class: int, n_classes: int, rng: np.random.Generator,
             side: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Crops whose class k brightens stain plane k (noise elsewhere), with a round cell mask."""
    crops = rng.uniform(0.0, 0.3, (n_per_class * n_classes, 6, side, side)).astype(np.float32)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    for k in range(n_classes):
        crops[labels == k, k] += 0.6
    yy, xx = np.mgrid[:side, :side]
    crops[:, -1] = ((yy - side / 2 + 0.5) ** 2 + (xx - side / 2 + 0.5) ** 2 < (side / 3) ** 2)
    return crops, labels


def test_plate_folds_deal_sorted_plates_round_robin_and_refuse_one_plate():
    assert plate_folds(["P3", "P1", "P2", "P4", "P1"], 2) == [("P1", "P3"), ("P2", "P4")]
    assert plate_folds(["B", "A"], 5) == [("A",), ("B",)]
    with pytest.raises(ValueError, match="at least two replicate plates"):
        plate_folds(["P1", "P1"], 2)


def test_settings_reject_values_that_cannot_train():
    with pytest.raises(ValueError, match="n_folds"):
        CropNetSettings(n_folds=1)
    with pytest.raises(ValueError, match="jitter"):
        CropNetSettings(jitter=1.5)
    with pytest.raises(ValueError, match=">= 1"):
        CropNetSettings(width=0)


def test_to_view_is_an_area_mean_and_refuses_a_side_it_does_not_divide():
    crops = np.random.default_rng(0).random((3, 6, 16, 16)).astype(np.float16)
    expected = crops.astype(np.float32).reshape(3, 6, 4, 4, 4, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(to_view(crops, 4).numpy(), expected, rtol=1e-6)
    assert to_view(crops, 16).dtype == torch.float32
    with pytest.raises(ValueError, match="not a multiple"):
        to_view(crops, 6)


def test_augment_applies_one_dihedral_move_per_crop_and_never_scales_the_mask():
    rng = np.random.default_rng(1)
    crops = torch.from_numpy(rng.random((64, 6, 8, 8)).astype(np.float32))
    crops[:, -1] = torch.from_numpy(rng.random((64, 8, 8)) < 0.5).float()
    plain = augment(crops, torch.Generator().manual_seed(0), jitter=0.0)
    for original, moved in zip(crops, plain, strict=True):
        moves = [torch.rot90(flipped, k, (1, 2)) for flipped in (original, original.flip(-1)) for k in range(4)]
        assert any(torch.equal(moved, candidate) for candidate in moves)
    jittered = augment(crops, torch.Generator().manual_seed(0), jitter=0.2)
    assert torch.equal(jittered[:, -1], plain[:, -1])  # same moves, the mask only moved
    ratio = jittered[:, :-1].sum(dim=(2, 3)) / plain[:, :-1].sum(dim=(2, 3))
    assert float(ratio.min()) >= 0.8 - 1e-5 and float(ratio.max()) <= 1.2 + 1e-5
    assert float(ratio.std()) > 0.01  # stains are scaled, each by its own factor
    assert torch.equal(augment(crops, torch.Generator().manual_seed(0), jitter=0.2), jittered)


def test_balanced_indices_draw_each_class_about_equally():
    codes = np.array([0] * 900 + [1] * 90 + [2] * 10)
    drawn = codes[balanced_indices(codes, 30000, torch.Generator().manual_seed(0)).numpy()]
    shares = np.bincount(drawn, minlength=3) / drawn.size
    np.testing.assert_allclose(shares, 1 / 3, atol=0.02)


def test_train_crop_net_learns_a_planted_stain_signal():
    rng = np.random.default_rng(2)
    crops, labels = _planted(60, 3, rng)
    groups = np.arange(labels.size) // 10  # wells of 10 crops
    model, history = train_crop_net(crops, labels, groups, 3, FAST)
    fresh, truth = _planted(30, 3, np.random.default_rng(3))
    accuracy = (class_log_probabilities(model, fresh, FAST.view_size).argmax(axis=1) == truth).mean()
    assert accuracy > 0.9
    assert history[-1]["val_loss"] < history[0]["val_loss"] or len(history) < FAST.max_epochs
    log_p = class_log_probabilities(model, fresh, FAST.view_size)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0, rtol=1e-5)


def test_train_crop_net_rejects_codes_outside_the_classes_and_a_single_well():
    crops, labels = _planted(4, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="codes must lie"):
        train_crop_net(crops, labels + 5, np.arange(labels.size), 2, FAST)
    with pytest.raises(ValueError, match="two wells"):
        train_crop_net(crops, labels, np.zeros(labels.size), 2, FAST)


def test_a_plates_labels_never_reach_the_network_that_embeds_it():
    """Shuffling the labels of plate P1 leaves P1's (and its fold mate P3's) outputs bit for bit
    unchanged, while the plate whose network learned from P1 (P2) changes."""
    rng = np.random.default_rng(4)
    crops, labels = _planted(24, 3, rng)
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
    crops, labels = _planted(80, 3, np.random.default_rng(6))
    names = np.array(["A", "B", "C"])[labels]
    groups = np.array([f"img{i // 4}" for i in range(labels.size)])  # images of 4 cells
    settings = CropNetSettings(width=4, view_size=8, max_epochs=10, patience=10, batch_size=32, device="cpu")
    train, test, log_p = split_log_probabilities(crops, names, groups, settings, test_fraction=0.25)
    assert not set(groups[train]) & set(groups[test])
    assert train.size + test.size == labels.size and log_p.shape == (test.size, 3)
    assert (log_p.argmax(axis=1) == labels[test]).mean() > 0.9


def test_early_stopping_counts_a_hit_in_the_top_tenth_of_the_classes_at_most_ten():
    from morph_assets.lib.models._crop_net import top_k

    assert [top_k(n) for n in (2, 3, 19, 44, 100, 307, 5000)] == [1, 1, 1, 4, 10, 10, 10]
