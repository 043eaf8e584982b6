"""SmallCNN on tiny planted images: learns above chance, stops early, saves, reloads, repeats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from morph_assets.lib.models import (
    SmallCNN,
    grouped_stratified_split,
    load_model,
    predict,
    save_model,
    train_cnn,
)

N_CLASSES = 6


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _planted_images(seed: int = 0, groups_per_class: int = 8, rows_per_group: int = 3,
                    size: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class c lights one block of a 2 x 3 grid in channel 0 (channel 1 is pure noise)."""
    rng = np.random.default_rng(seed)
    n = N_CLASSES * groups_per_class * rows_per_group
    labels = np.repeat([f"cpd_{index}" for index in range(N_CLASSES)], groups_per_class * rows_per_group)
    groups = np.repeat(np.arange(N_CLASSES * groups_per_class), rows_per_group)
    images = rng.normal(0.0, 0.5, (n, 2, size, size)).astype(np.float32)
    block_height, block_width = size // 2, size // 3
    for row, label in enumerate(labels):
        block = int(label.split("_")[1])
        top, left = (block // 3) * block_height, (block % 3) * block_width
        images[row, 0, top : top + block_height, left : left + block_width] += 1.5
    return images, labels, groups


def test_small_cnn_has_the_study_architecture() -> None:
    model = SmallCNN(in_channels=3, n_classes=5, image_size=18)
    convolutions = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    assert [(conv.in_channels, conv.out_channels) for conv in convolutions] == [(3, 16), (16, 32)]
    assert len(linears) == 1 and linears[0].in_features == 32 * 4 * 4
    assert model(torch.zeros(2, 3, 18, 18)).shape == (2, 5)
    with pytest.raises(ValueError):
        SmallCNN(in_channels=1, n_classes=2, image_size=3)


def test_cnn_learns_planted_quadrants_and_round_trips(tmp_path) -> None:
    images, labels, groups = _planted_images()
    lines: list[str] = []
    model, report, history = train_cnn(images, labels, groups, variant="planted", max_epochs=15, patience=5,
                                       batch_size=16, learning_rate=3e-3, seed=0, device="cpu", log=lines.append)
    assert len(lines) == len(history) <= 15
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy", "seconds"}
    assert max(record["val_accuracy"] for record in history) > 0.6  # chance is 1/6
    assert report.accuracy > report.majority_accuracy + 0.3
    assert report.n_classes == N_CLASSES and report.model == "small_cnn"

    path = tmp_path / "models" / "cnn.pt"
    save_model(model, path, label_names=model.label_names, channel_mean=model.channel_mean,
               channel_std=model.channel_std, metadata={"variant": "planted", "epochs": len(history)})
    assert path.exists() and not path.with_name("cnn.pt.partial").exists()
    loaded, info = load_model(path)
    assert info["label_names"] == model.label_names and info["metadata"]["epochs"] == len(history)
    np.testing.assert_array_equal(info["channel_mean"], model.channel_mean)
    before = predict(model, images, "cpu", channel_mean=model.channel_mean, channel_std=model.channel_std)
    after = predict(loaded, images, "cpu", channel_mean=info["channel_mean"], channel_std=info["channel_std"])
    np.testing.assert_array_equal(before, after)


def test_early_stopping_on_noise_labels_restores_the_best_state() -> None:
    images, _, groups = _planted_images(seed=1)
    rng = np.random.default_rng(1)
    group_labels = rng.choice([f"cpd_{index}" for index in range(N_CLASSES)], size=groups.max() + 1)
    noise_labels = group_labels[groups]  # labels unrelated to the images, constant within a well
    model, report, history = train_cnn(images, noise_labels, groups, variant="noise", class_weighting="none",
                                       max_epochs=40, patience=2, batch_size=16, learning_rate=3e-3, seed=0,
                                       device="cpu")
    assert len(history) < 40
    best = min(record["val_loss"] for record in history)
    assert history[-3]["val_loss"] == best  # stopped after exactly `patience` epochs without a new best
    _, val_rows, _ = grouped_stratified_split(noise_labels, groups, (0.7, 0.15, 0.15), seed=0)
    standardised = (images[val_rows] - model.channel_mean[None, :, None, None]) / model.channel_std[None, :, None, None]
    codes = torch.as_tensor(np.searchsorted(model.label_names, noise_labels[val_rows]))
    with torch.no_grad():
        val_loss = nn.functional.cross_entropy(model(torch.from_numpy(standardised.astype(np.float32))), codes)
    assert float(val_loss) == pytest.approx(best, rel=1e-4)


def test_cnn_is_seeded_and_leaves_global_rng_alone() -> None:
    images, labels, groups = _planted_images(groups_per_class=5, rows_per_group=2)
    torch.manual_seed(123)
    global_before = torch.random.get_rng_state()
    runs = [train_cnn(images, labels, groups, variant="v", max_epochs=3, batch_size=16, seed=4, device="cpu")
            for _ in range(2)]
    assert torch.equal(global_before, torch.random.get_rng_state())
    first, second = runs
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in first[2]] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in second[2]]
    assert first[1] == second[1]
    for name, tensor in first[0].state_dict().items():
        assert torch.equal(tensor, second[0].state_dict()[name]), name


def test_balanced_and_unweighted_both_run_on_imbalanced_classes() -> None:
    images, labels, groups = _planted_images(groups_per_class=8, rows_per_group=2)
    keep = (labels == "cpd_0") | (groups % 8 < 3)  # cpd_0 keeps 8 wells, every other class 3
    images, labels, groups = images[keep], labels[keep], groups[keep]
    reports = {weighting: train_cnn(images, labels, groups, variant="v", class_weighting=weighting, max_epochs=3,
                                    batch_size=16, seed=0, device="cpu")[1]
               for weighting in ("none", "balanced")}
    assert reports["none"].n_test == reports["balanced"].n_test
    assert reports["none"].class_weighting == "none" and reports["balanced"].class_weighting == "balanced"
    assert reports["none"].as_row() != reports["balanced"].as_row()


def test_train_cnn_rejects_bad_input() -> None:
    images, labels, groups = _planted_images(groups_per_class=3, rows_per_group=1)
    with pytest.raises(ValueError, match="square"):
        train_cnn(images[:, :, :, :8], labels, groups, variant="v", device="cpu")
    with pytest.raises(ValueError, match="class_weighting"):
        train_cnn(images, labels, groups, variant="v", class_weighting="inverse", device="cpu")
    with pytest.raises(ValueError, match="fractions"):
        train_cnn(images, labels, groups, variant="v", fractions=(0.8, 0.2), device="cpu")
