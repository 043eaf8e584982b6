"""The convolutional VAE: shapes, the loss against torch.distributions, training on planted classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score
from sklearn.model_selection import cross_val_score

from morph_assets.lib.models import (
    ConvVAE,
    latent_means,
    load_vae,
    reconstruct,
    save_vae,
    train_vae,
    vae_loss,
)
from morph_assets.lib.models._vae import _validation_mask
from morph_assets.lib.plot import reconstructions, to_png

N_IMAGES = 60
TRAIN_SETTINGS = {"latent_dim": 4, "max_epochs": 15, "patience": 3, "batch_size": 16, "device": "cpu"}


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)  # the test machine's cores are shared


def planted_squares(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16x16 images with a bright square on the left (class 0) or right (class 1); 10 wells of 6 images."""
    rng = np.random.default_rng(seed)
    labels = np.arange(N_IMAGES) % 2
    images = rng.uniform(0.0, 0.2, (N_IMAGES, 1, 16, 16)).astype(np.float32)
    for index, label in enumerate(labels):
        columns = slice(8, 15) if label else slice(1, 8)
        images[index, 0, 4:12, columns] += 0.7
    wells = np.repeat(np.arange(10), 6)
    return images, labels, wells


@pytest.fixture(scope="module")
def trained() -> tuple[ConvVAE, list[dict], list[str]]:
    torch.set_num_threads(1)
    images, _, wells = planted_squares()
    lines: list[str] = []
    model, history = train_vae(images, wells, seed=3, log=lines.append, **TRAIN_SETTINGS)
    return model, history, lines


@pytest.mark.parametrize(("channels", "size"), [(2, 16), (6, 64)])
def test_forward_shapes(channels: int, size: int) -> None:
    model = ConvVAE(channels, image_size=size, latent_dim=5)
    reconstruction, mu, logvar = model(torch.rand(3, channels, size, size))
    assert reconstruction.shape == (3, channels, size, size)
    assert mu.shape == logvar.shape == (3, 5)
    assert reconstruction.min() >= 0 and reconstruction.max() <= 1
    assert model.encode(torch.rand(2, channels, size, size))[0].shape == (2, 5)


def test_image_size_must_be_a_multiple_of_8() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        ConvVAE(1, image_size=20)


def test_kl_of_the_prior_is_zero() -> None:
    x = torch.full((2, 1, 8, 8), 0.5)
    _, _, kl = vae_loss(x.clone(), x, torch.zeros(2, 3), torch.zeros(2, 3))
    assert kl.item() == 0.0


def test_loss_terms_match_torch_distributions_and_a_hand_bce() -> None:
    generator = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 3, generator=generator), torch.randn(4, 3, generator=generator)
    x = torch.rand(4, 2, 8, 8, generator=generator)
    reconstruction = torch.rand(4, 2, 8, 8, generator=generator) * 0.98 + 0.01
    total, reconstruction_term, kl = vae_loss(reconstruction, x, mu, logvar, beta=0.5)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected_kl = torch.distributions.kl_divergence(posterior, prior).sum() / 4
    expected_bce = -(x * reconstruction.log() + (1 - x) * (1 - reconstruction).log()).sum() / 4
    assert kl.item() == pytest.approx(expected_kl.item(), rel=1e-5)
    assert reconstruction_term.item() == pytest.approx(expected_bce.item(), rel=1e-5)
    assert total.item() == pytest.approx(expected_bce.item() + 0.5 * expected_kl.item(), rel=1e-5)
    # one hand-computed case: mu (1, 2), variance (1, 4) -> 0.5 * (1 + 1 - 1 - 0) + 0.5 * (4 + 4 - 1 - ln 4)
    _, _, kl_known = vae_loss(x[:1], x[:1], torch.tensor([[1.0, 2.0]]), torch.log(torch.tensor([[1.0, 4.0]])))
    assert kl_known.item() == pytest.approx(0.5 + 0.5 * (7 - np.log(4)), rel=1e-6)


def test_validation_holds_out_whole_wells_and_leaves_some_to_train() -> None:
    groups = np.repeat(np.array(["A01", "A02", "B01", "B02", "C01", "C02", "D01"]), 3)
    validation = _validation_mask(groups, 0.3, seed=1)
    assert set(groups[validation]).isdisjoint(groups[~validation])
    assert len(set(groups[validation])) == 2  # round(0.3 * 7)
    with pytest.raises(ValueError, match="at least 2 groups"):
        _validation_mask(np.zeros(5), 0.2, seed=0)
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        _validation_mask(groups, 1.0, seed=0)
    with pytest.raises(ValueError, match="none to train on"):
        _validation_mask(np.array(["A01", "A02"]), 0.9, seed=0)


def test_training_lowers_validation_loss_and_logs_each_epoch(trained: tuple[ConvVAE, list[dict], list[str]]) -> None:
    _, history, lines = trained
    assert 1 <= len(history) <= TRAIN_SETTINGS["max_epochs"]
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "reconstruction", "kl", "seconds"}
    assert min(row["val_loss"] for row in history) < 0.8 * history[0]["val_loss"]
    assert len(lines) == len(history)


def test_latent_means_separate_the_planted_classes(trained: tuple[ConvVAE, list[dict], list[str]]) -> None:
    model, _, _ = trained
    images, labels, _ = planted_squares(seed=10)  # fresh images of the same two classes
    means = latent_means(model, images, device="cpu")
    assert means.shape == (N_IMAGES, 4) and means.dtype == np.float32
    assert silhouette_score(means, labels) > 0.3
    assert cross_val_score(LogisticRegression(), means, labels, cv=5).mean() > 0.9


def test_the_best_epoch_is_kept(trained: tuple[ConvVAE, list[dict], list[str]]) -> None:
    model, history, _ = trained
    images, _, wells = planted_squares()
    validation = _validation_mask(wells, 0.15, seed=3)
    data = torch.from_numpy(images[validation])
    with torch.no_grad():
        reconstruction, mu, logvar = model.eval()(data)
        loss = vae_loss(reconstruction, data, mu, logvar)[0].item()
    assert loss == pytest.approx(min(row["val_loss"] for row in history), rel=1e-4)


def test_early_stopping_on_noise() -> None:
    noise = np.random.default_rng(1).random((40, 1, 16, 16)).astype(np.float32)
    _, history = train_vae(noise, np.arange(40) // 5, latent_dim=2, max_epochs=30, patience=1, device="cpu")
    assert len(history) < 30
    # stopped at the first epoch that did not improve on the best so far
    assert history[-1]["val_loss"] >= min(row["val_loss"] for row in history[:-1])


def test_same_seed_same_model_and_global_rng_untouched(trained: tuple[ConvVAE, list[dict], list[str]]) -> None:
    model, _, _ = trained
    images, _, wells = planted_squares()
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    again, _ = train_vae(images, wells, seed=3, **TRAIN_SETTINGS)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()
    np.testing.assert_array_equal(latent_means(again, images, device="cpu"), latent_means(model, images, device="cpu"))
    other, _ = train_vae(images, wells, seed=4, **{**TRAIN_SETTINGS, "max_epochs": 1})
    assert not np.array_equal(latent_means(other, images, device="cpu"), latent_means(model, images, device="cpu"))


def test_bad_input_is_rejected() -> None:
    images, _, wells = planted_squares()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_vae(images * 3, wells, **TRAIN_SETTINGS)
    with pytest.raises(ValueError, match="one group per tensor"):
        train_vae(images, wells[:10], **TRAIN_SETTINGS)


def test_save_load_round_trip(tmp_path: Path, trained: tuple[ConvVAE, list[dict], list[str]]) -> None:
    model, history, _ = trained
    images, _, _ = planted_squares()
    metadata = {"history": history, "channels": ["gray", "mask"]}
    path = save_vae(model, tmp_path / "models" / "vae.pt", metadata)
    loaded, loaded_metadata = load_vae(path)
    assert loaded.config() == model.config()
    assert loaded_metadata == metadata
    np.testing.assert_array_equal(latent_means(loaded, images, device="cpu"), latent_means(model, images, device="cpu"))
    assert [item.name for item in path.parent.iterdir()] == ["vae.pt"]
    with pytest.raises(ValueError, match="JSON"):
        save_vae(model, tmp_path / "other.pt", {"array": np.zeros(2)})


def test_unreadable_model_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"nonsense")
    with pytest.raises(ValueError, match="broken.pt"):
        load_vae(path)


def test_reconstructions_drawn(trained: tuple[ConvVAE, list[dict], list[str]]) -> None:
    model, _, _ = trained
    images, _, _ = planted_squares()
    originals, reconstructed = reconstruct(model, images, n=4)
    assert originals.shape == reconstructed.shape == (4, *images.shape[1:])
    grid = reconstructions(originals, reconstructed)
    assert grid.shape == (2, 4) and to_png(grid[0, 0].figure).startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="channel"):
        reconstructions(originals, reconstructed, channel=1)
