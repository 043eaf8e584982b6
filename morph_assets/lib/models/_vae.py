"""A small convolutional variational autoencoder on site tensors, trained with early stopping.

Follows the study's setup: latent size 32, early stopping on a validation split, at most 30 epochs.
Inputs are planes in [0, 1] (see :mod:`morph_assets.lib.features`), so the decoder ends in a
sigmoid and the reconstruction term is binary cross-entropy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from morph_assets.lib.devices import pick_device, rng_devices
from morph_assets.lib.io import atomic_write
from morph_assets.lib.models._early_stopping import EarlyStopping
from morph_assets.lib.models._split import grouped_stratified_split

ENCODER_WIDTHS = (32, 64, 128)


class ConvVAE(nn.Module):
    """Three stride-2 convolutions to a Gaussian latent, mirrored by transposed convolutions.

    Parameters
    ----------
    in_channels : int
        Planes per input image (e.g. 2 for grayscale + mask).
    image_size : int, default 64
        Side length; must be divisible by 8 (three halvings).
    latent_dim : int, default 32
        Size of the latent space.
    """

    def __init__(self, in_channels: int, image_size: int = 64, latent_dim: int = 32) -> None:
        super().__init__()
        if in_channels < 1 or latent_dim < 1:
            raise ValueError(f"in_channels and latent_dim must be positive, got {in_channels}, {latent_dim}")
        if image_size < 8 or image_size % 8:
            raise ValueError(f"image_size must be a positive multiple of 8, got {image_size}")
        self.in_channels, self.image_size, self.latent_dim = in_channels, image_size, latent_dim
        self.bottleneck_side = image_size // 8
        side = self.bottleneck_side
        flat = ENCODER_WIDTHS[-1] * side**2
        # kernel 4, stride 2, padding 1 halves (or, transposed, doubles) the side exactly
        encoder_layers: list[nn.Module] = []
        for width_in, width_out in zip((in_channels, *ENCODER_WIDTHS[:-1]), ENCODER_WIDTHS, strict=True):
            encoder_layers += [nn.Conv2d(width_in, width_out, 4, stride=2, padding=1), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder_layers, nn.Flatten())
        self.to_mu = nn.Linear(flat, latent_dim)
        self.to_logvar = nn.Linear(flat, latent_dim)
        self.from_latent = nn.Linear(latent_dim, flat)
        decoder_layers: list[nn.Module] = [nn.ReLU(), nn.Unflatten(1, (ENCODER_WIDTHS[-1], side, side))]
        decoder_widths = (*ENCODER_WIDTHS[::-1], in_channels)
        for width_in, width_out in zip(decoder_widths[:-1], decoder_widths[1:], strict=True):
            decoder_layers += [nn.ConvTranspose2d(width_in, width_out, 4, stride=2, padding=1), nn.ReLU()]
        decoder_layers[-1] = nn.Sigmoid()  # the inputs are in [0, 1]
        self.decoder = nn.Sequential(*decoder_layers)

    def config(self) -> dict[str, int]:
        """Constructor arguments, enough to rebuild the architecture."""
        return {"in_channels": self.in_channels, "image_size": self.image_size, "latent_dim": self.latent_dim}

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return the latent mean and log-variance, each (N, latent_dim)."""
        hidden = self.encoder(x)
        return self.to_mu(hidden), self.to_logvar(hidden)

    def decode(self, z: Tensor) -> Tensor:
        """Map latents (N, latent_dim) to images (N, in_channels, image_size, image_size) in (0, 1)."""
        return self.decoder(self.from_latent(z))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return (reconstruction, mu, logvar); samples the latent in training mode, uses mu in eval mode."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return self.decode(z), mu, logvar


def vae_loss(
    reconstruction: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, *, beta: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Negative ELBO per image: binary cross-entropy plus ``beta`` times the KL divergence.

    Parameters
    ----------
    reconstruction, x : (N, C, s, s) Tensor
        Decoder output and target, both in [0, 1].
    mu, logvar : (N, latent_dim) Tensor
        Latent Gaussian parameters.
    beta : float, default 1.0
        Weight of the KL term.

    Returns
    -------
    total, reconstruction_term, kl : scalar Tensor
        Each summed over pixels / latent dimensions and averaged over the batch, so they don't
        depend on the batch size. ``kl`` is KL(N(mu, exp(logvar)) || N(0, I)).
    """
    batch = x.shape[0]
    reconstruction_term = F.binary_cross_entropy(reconstruction, x, reduction="sum") / batch
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / batch
    return reconstruction_term + beta * kl, reconstruction_term, kl


def _validation_mask(groups: np.ndarray, validation_fraction: float, seed: int) -> np.ndarray:
    """True for the images of the wells held out for validation; both sides hold a well."""
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError(f"need at least 2 groups to hold some out for validation, got {n_groups}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    # Validation is the first part: the split's first part always gets a group, and its groups
    # are the first of the seeded shuffle, as the VAE's own split had them.
    held_out, kept = grouped_stratified_split(None, groups, (validation_fraction, 1 - validation_fraction), seed)
    if kept.size == 0:
        raise ValueError(f"validation_fraction {validation_fraction} of {n_groups} groups leaves none to train on")
    mask = np.zeros(groups.size, dtype=bool)
    mask[held_out] = True
    return mask


def _batch_losses(model: ConvVAE, batch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    reconstruction, mu, logvar = model(batch)
    return vae_loss(reconstruction, batch, mu, logvar)


def _mean_losses(model: ConvVAE, data: Tensor, batch_size: int, device: torch.device) -> tuple[float, float, float]:
    """Per-image mean of (total, reconstruction, kl) over ``data``, eval mode, no grad."""
    model.eval()
    sums = np.zeros(3)
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = data[start : start + batch_size].to(device)
            losses = _batch_losses(model, batch)
            sums += np.array([loss.item() for loss in losses]) * len(batch)
    total, reconstruction, kl = (float(value) for value in sums / len(data))
    return total, reconstruction, kl


def _train_epoch(model: ConvVAE, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device) -> float:
    """One pass over the training data; returns the per-image mean training loss."""
    model.train()
    loss_sum, n_images = 0.0, 0
    for (batch,) in loader:
        batch = batch.to(device)
        total, _, _ = _batch_losses(model, batch)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        loss_sum += total.item() * len(batch)
        n_images += len(batch)
    return loss_sum / n_images


def train_vae(
    tensors: np.ndarray,
    groups: np.ndarray,
    *,
    latent_dim: int = 32,
    max_epochs: int = 30,
    patience: int = 3,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.15,
    seed: int = 0,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
) -> tuple[ConvVAE, list[dict]]:
    """Train a :class:`ConvVAE` with Adam, early-stopping on the loss of held-out groups.

    Parameters
    ----------
    tensors : (N, C, s, s) array
        Images in [0, 1]; ``s`` must be a multiple of 8.
    groups : (N,) array
        Group (well) id per image; whole groups are held out for validation
        (:func:`~morph_assets.lib.models.grouped_stratified_split` without labels).
    latent_dim, max_epochs, patience, batch_size, learning_rate : int or float
        Latent size; epoch cap; epochs without validation improvement before stopping; Adam settings.
    validation_fraction : float, default 0.15
        Fraction of groups held out: ``round(validation_fraction * n_groups)`` shuffled groups
        (halves rounded up), at least one.
    seed : int, default 0
        Seeds the split, initial weights, shuffling and latent sampling, without touching the global
        torch or numpy RNG state.
    device : str, default "auto"
        ``"auto"`` uses cuda when available.
    log : callable, optional
        Receives one line per epoch.

    Returns
    -------
    model : ConvVAE
        The weights of the epoch with the lowest validation loss, on the CPU, in eval mode.
    history : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``reconstruction`` and ``kl`` (validation,
        per image), ``seconds``.
    """
    data = np.asarray(tensors, dtype=np.float32)
    if data.ndim != 4 or data.shape[2] != data.shape[3]:
        raise ValueError(f"tensors must be (N, C, s, s), got shape {data.shape}")
    if len(groups) != len(data):
        raise ValueError(f"need one group per tensor: {len(data)} tensors, {len(groups)} groups")
    if data.size and (not np.isfinite(data).all() or data.min() < 0 or data.max() > 1):
        raise ValueError("tensors must be finite and in [0, 1]")
    if max_epochs < 1 or patience < 1:
        raise ValueError(f"max_epochs and patience must be positive, got {max_epochs}, {patience}")
    validation = _validation_mask(np.asarray(groups), validation_fraction, seed)
    train_data, validation_data = torch.from_numpy(data[~validation]), torch.from_numpy(data[validation])
    target = pick_device(device)
    history: list[dict] = []
    with torch.random.fork_rng(devices=rng_devices(target)):
        # initial weights and latent samples come from the (forked) global generator
        torch.manual_seed(seed)
        if target.type == "cuda":
            torch.cuda.manual_seed(seed)
        model = ConvVAE(data.shape[1], data.shape[2], latent_dim).to(target)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        shuffle_generator = torch.Generator().manual_seed(seed)
        loader = DataLoader(TensorDataset(train_data), batch_size=batch_size, shuffle=True, generator=shuffle_generator)
        stopper = EarlyStopping(model, patience)
        for epoch in range(1, max_epochs + 1):
            started = time.perf_counter()
            train_loss = _train_epoch(model, loader, optimizer, target)
            val_loss, reconstruction, kl = _mean_losses(model, validation_data, 256, target)
            history.append({
                "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                "reconstruction": reconstruction, "kl": kl, "seconds": time.perf_counter() - started,
            })  # fmt: skip
            if log is not None:
                log(
                    f"epoch {epoch}/{max_epochs}: train {train_loss:.2f}, val {val_loss:.2f} "
                    f"(reconstruction {reconstruction:.2f}, KL {kl:.2f}), {history[-1]['seconds']:.1f} s"
                )
            if stopper.update(val_loss):
                break
    stopper.restore()
    return model.cpu().eval(), history


def latent_means(model: ConvVAE, tensors: np.ndarray, *, batch_size: int = 256, device: str = "auto") -> np.ndarray:
    """Encode images to their latent means (the usual VAE embedding), eval mode, no gradients.

    Parameters
    ----------
    model : ConvVAE
        A trained model; it is returned to its original device afterwards.
    tensors : (N, C, s, s) array
        Images in [0, 1].
    batch_size : int, default 256
        Images per forward pass.
    device : str, default "auto"
        ``"auto"`` uses cuda when available.

    Returns
    -------
    (N, latent_dim) float32 ndarray
        Latent means.
    """
    data = torch.from_numpy(np.asarray(tensors, dtype=np.float32))
    if data.ndim != 4 or data.shape[1] != model.in_channels:
        raise ValueError(f"tensors must be (N, {model.in_channels}, s, s), got shape {tuple(data.shape)}")
    original_device = next(model.parameters()).device
    target = pick_device(device)
    model.to(target).eval()
    means = []
    try:
        with torch.no_grad():
            for start in range(0, len(data), batch_size):
                means.append(model.encode(data[start : start + batch_size].to(target))[0].cpu())
    finally:
        model.to(original_device)
    if not means:
        return np.zeros((0, model.latent_dim), dtype=np.float32)
    return torch.cat(means).numpy().astype(np.float32)


def save_vae(model: ConvVAE, path: str | Path, metadata: dict) -> Path:
    """Write weights, constructor arguments and metadata so that the file appears whole or not at all.

    Parameters
    ----------
    model : ConvVAE
        Model to save.
    path : path-like
        Destination; parent folders are created.
    metadata : dict
        JSON-serialisable facts to keep with the weights (training settings, history, ...).

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    try:
        # stored as JSON text so that loading needs no pickle (torch.load weights_only)
        metadata_json = json.dumps(metadata)
    except TypeError as error:
        raise ValueError(f"metadata must be JSON-serialisable: {error}") from error
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    payload = {"config": model.config(), "state_dict": state, "metadata_json": metadata_json}
    return atomic_write(path, lambda temporary: torch.save(payload, temporary))


def load_vae(path: str | Path) -> tuple[ConvVAE, dict]:
    """Read a model written by :func:`save_vae`.

    Parameters
    ----------
    path : path-like
        The saved file.

    Returns
    -------
    model : ConvVAE
        The model on the CPU, in eval mode.
    metadata : dict
        The metadata given to :func:`save_vae`.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model = ConvVAE(**payload["config"])
        model.load_state_dict(payload["state_dict"])
        metadata = json.loads(payload["metadata_json"])
    except Exception as error:  # torch raises many types for a bad file; callers need one
        raise ValueError(f"cannot load a VAE from {path}: {error}") from error
    return model.eval(), metadata


def reconstruct(model: ConvVAE, tensors: np.ndarray, *, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Reconstruct the first ``n`` images from their latent means, on the CPU.

    Parameters
    ----------
    model : ConvVAE
        A trained model; it is moved to the CPU for this and back to its device after.
    tensors : (N, C, s, s) array
        Images in [0, 1].
    n : int, default 6
        Number of images reconstructed (fewer when fewer are given).

    Returns
    -------
    originals, reconstructed : numpy.ndarray
        (n, C, s, s) float32 arrays, for :func:`morph_assets.lib.plot.reconstructions`.
    """
    data = np.asarray(tensors, dtype=np.float32)[:n]
    if len(data) == 0:
        raise ValueError("need at least one image to show")
    original_device = next(model.parameters()).device
    model.cpu().eval()
    try:
        with torch.no_grad():
            reconstructed = model(torch.from_numpy(data))[0].numpy()
    finally:
        model.to(original_device)
    return data, reconstructed
