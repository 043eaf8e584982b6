"""The crop network: settings, views, augmentation, balanced sampling, learning a planted signal."""

import numpy as np
import pytest
import torch
from morph_assets_tests.lib.models.planted_crops import FAST, planted

from morph_assets.lib.models import (
    CropNetSettings,
    augment,
    balanced_indices,
    class_log_probabilities,
    to_view,
    train_crop_net,
)

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
    crops, labels = planted(60, 3, rng)
    groups = np.arange(labels.size) // 10  # wells of 10 crops
    model, history = train_crop_net(crops, labels, groups, 3, FAST)
    fresh, truth = planted(30, 3, np.random.default_rng(3))
    accuracy = (class_log_probabilities(model, fresh, FAST.view_size).argmax(axis=1) == truth).mean()
    assert accuracy > 0.9
    assert history[-1]["val_loss"] < history[0]["val_loss"] or len(history) < FAST.max_epochs
    log_p = class_log_probabilities(model, fresh, FAST.view_size)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0, rtol=1e-5)


def test_train_crop_net_rejects_codes_outside_the_classes_and_a_single_well():
    crops, labels = planted(4, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="codes must lie"):
        train_crop_net(crops, labels + 5, np.arange(labels.size), 2, FAST)
    with pytest.raises(ValueError, match="two wells"):
        train_crop_net(crops, labels, np.zeros(labels.size), 2, FAST)


def test_early_stopping_counts_a_hit_in_the_top_tenth_of_the_classes_at_most_ten():
    from morph_assets.lib.models._crop_net import top_k

    assert [top_k(n) for n in (2, 3, 19, 44, 100, 307, 5000)] == [1, 1, 1, 4, 10, 10, 10]
