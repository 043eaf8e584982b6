"""The study's small CNN (two conv layers + one fully connected layer) for treatment classification.

Training uses the same grouped, stratified split as the random forest (70/15/15 by well group), early
stopping on validation loss and optional balanced class weights, and reports test metrics through
:func:`morph_assets.lib.models.evaluate` so the two models are compared like for like.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from morph_assets.lib.devices import pick_device
from morph_assets.lib.io import atomic_write
from morph_assets.lib.models._early_stopping import EarlyStopping
from morph_assets.lib.models._forest import CLASS_WEIGHTINGS, ClassifierReport, evaluate
from morph_assets.lib.models._split import grouped_stratified_split


class SmallCNN(nn.Module):
    """conv(3x3, 16)-ReLU-pool2, conv(3x3, 32)-ReLU-pool2, one linear layer to the class logits.

    Parameters
    ----------
    in_channels : int
        Image channels.
    n_classes : int
        Output classes.
    image_size : int
        Side of the square input images (>= 4).
    """

    def __init__(self, in_channels: int, n_classes: int, image_size: int) -> None:
        super().__init__()
        if in_channels < 1 or n_classes < 1 or image_size < 4:
            raise ValueError(f"need in_channels >= 1, n_classes >= 1, image_size >= 4; got {in_channels}, "
                             f"{n_classes}, {image_size}")
        self.in_channels = in_channels
        self.n_classes = n_classes
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        # Two floor-halvings equal one floor-quartering, so any size >= 4 works.
        self.classifier = nn.Linear(32 * (image_size // 4) ** 2, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return class logits, shape (batch, n_classes), for images of shape (batch, C, S, S)."""
        return self.classifier(self.features(images))


def _standardise(images: np.ndarray, channel_mean: np.ndarray, channel_std: np.ndarray) -> torch.Tensor:
    mean, std = channel_mean[None, :, None, None], channel_std[None, :, None, None]
    scaled = (np.asarray(images, dtype=np.float32) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(scaled, dtype=np.float32))


def predict(
    model: SmallCNN,
    images: np.ndarray,
    device: torch.device | str,
    *,
    channel_mean: np.ndarray | None = None,
    channel_std: np.ndarray | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Predict class indices in batches (eval mode, no gradients).

    Parameters
    ----------
    model : SmallCNN
        Trained network (moved to ``device``).
    images : np.ndarray
        Images, shape (n, C, S, S); standardised already unless ``channel_mean``/``channel_std`` are given.
    device : torch.device or str
        Device to run on.
    channel_mean, channel_std : np.ndarray, optional
        Training per-channel statistics; when given, images are standardised with them first.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    np.ndarray
        Predicted class index per image, shape (n,).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be (n, C, H, W), got shape {images.shape}")
    if (channel_mean is None) != (channel_std is None):
        raise ValueError("give both channel_mean and channel_std, or neither")
    if channel_mean is not None:
        tensor = _standardise(images, np.asarray(channel_mean, np.float32), np.asarray(channel_std, np.float32))
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(images))
    model = model.to(device).eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, tensor.shape[0], batch_size):
            outputs.append(model(tensor[start : start + batch_size].to(device)).argmax(dim=1).cpu())
    return torch.cat(outputs).numpy() if outputs else np.zeros(0, dtype=np.int64)


def _balanced_weights(train_codes: np.ndarray, n_classes: int) -> torch.Tensor:
    # sklearn's "balanced" rule n / (k * count) over the k classes seen in training; unseen classes get 0.
    counts = np.bincount(train_codes, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = train_codes.size / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def _mean_loss(model: SmallCNN, images: torch.Tensor, codes: torch.Tensor, weights: torch.Tensor | None,
               device: torch.device, batch_size: int) -> tuple[float, float]:
    # Weighted mean = sum(w_i * loss_i) / sum(w_i), as CrossEntropyLoss does per batch, over the whole set.
    model.eval()
    loss_sum, weight_sum, correct = 0.0, 0.0, 0
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            batch_codes = codes[start : start + batch_size].to(device)
            logits = model(images[start : start + batch_size].to(device))
            losses = nn.functional.cross_entropy(logits, batch_codes, reduction="none")
            sample_weights = weights.to(device)[batch_codes] if weights is not None else torch.ones_like(losses)
            loss_sum += float((losses * sample_weights).sum())
            weight_sum += float(sample_weights.sum())
            correct += int((logits.argmax(dim=1) == batch_codes).sum())
    if weight_sum == 0.0:  # every validation class unseen in training: fall back to the plain mean
        return _mean_loss(model, images, codes, None, device, batch_size)
    return loss_sum / weight_sum, correct / images.shape[0]


def train_cnn(
    images: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    variant: str,
    class_weighting: str = "balanced",
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    max_epochs: int = 30,
    patience: int = 3,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
) -> tuple[SmallCNN, ClassifierReport, list[dict]]:
    """Train :class:`SmallCNN` with Adam and early stopping on validation loss; score it on the test split.

    Parameters
    ----------
    images : np.ndarray
        Float images, shape (n, C, S, S), already scaled; standardised per channel with training statistics.
    labels : np.ndarray
        Treatment label per image, shape (n,).
    groups : np.ndarray
        Well group id per image; a group lies in exactly one of train / validation / test.
    variant : str
        Name of the image set, copied into the report.
    class_weighting : str
        ``"balanced"`` (cross-entropy weights n / (k * count) from training labels, 0 for classes absent
        from training) or ``"none"``. The validation loss uses the same weights.
    fractions : Sequence[float]
        Train, validation and test shares of the rows.
    max_epochs : int
        Upper bound on epochs.
    patience : int
        Epochs without a new lowest validation loss before stopping; the best state is restored.
    batch_size : int
        Training batch size.
    learning_rate : float
        Adam learning rate.
    seed : int
        Seeds the split, the weight initialisation and the batch order (global RNG state is untouched).
    device : str
        Passed to :func:`morph_assets.lib.devices.pick_device`.
    log : Callable[[str], None], optional
        Called once per epoch with a line holding epoch, train loss, val loss and val accuracy.

    Returns
    -------
    tuple[SmallCNN, ClassifierReport, list[dict]]
        The network at its best validation loss, in eval mode, with attributes ``label_names`` (class
        index to label), ``channel_mean`` and ``channel_std`` (float32 arrays) for :func:`predict` and
        :func:`save_model`; the test report; and one dict per epoch (epoch, train_loss, val_loss,
        val_accuracy, seconds).
    """
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels).astype(str)
    if images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be (n, C, S, S) with square S x S, got shape {images.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    if class_weighting not in CLASS_WEIGHTINGS:
        raise ValueError(f"class_weighting must be one of {CLASS_WEIGHTINGS}, got {class_weighting!r}")
    if len(fractions) != 3:
        raise ValueError(f"fractions must give train, validation and test shares, got {list(fractions)}")
    if max_epochs < 1 or patience < 1 or batch_size < 1:
        raise ValueError("max_epochs, patience and batch_size must all be >= 1")
    torch_device = pick_device(device)
    train_rows, val_rows, test_rows = grouped_stratified_split(labels, groups, fractions, seed)
    if val_rows.size == 0 or test_rows.size == 0:
        raise ValueError("validation or test split is empty: too few groups for the requested fractions")

    label_names, codes = np.unique(labels, return_inverse=True)
    channel_mean = images[train_rows].mean(axis=(0, 2, 3)).astype(np.float32)
    channel_std = images[train_rows].std(axis=(0, 2, 3)).astype(np.float32)
    channel_std[channel_std == 0] = 1.0  # a constant channel carries no signal; avoid dividing by zero
    tensors = {name: _standardise(images[rows], channel_mean, channel_std)
               for name, rows in (("train", train_rows), ("val", val_rows), ("test", test_rows))}
    train_codes = torch.from_numpy(codes[train_rows].astype(np.int64))
    val_codes = torch.from_numpy(codes[val_rows].astype(np.int64))
    weights = _balanced_weights(codes[train_rows], label_names.size) if class_weighting == "balanced" else None

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallCNN(images.shape[1], int(label_names.size), images.shape[2])
    model = model.to(torch_device)
    criterion = nn.CrossEntropyLoss(weight=weights.to(torch_device) if weights is not None else None)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loader = DataLoader(TensorDataset(tensors["train"], train_codes), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))

    history: list[dict] = []
    stopper = EarlyStopping(model, patience)
    for epoch in range(1, max_epochs + 1):
        started = time.perf_counter()
        model.train()
        loss_sum = 0.0
        for batch_images, batch_codes in loader:
            optimiser.zero_grad()
            loss = criterion(model(batch_images.to(torch_device)), batch_codes.to(torch_device))
            loss.backward()
            optimiser.step()
            loss_sum += loss.item() * batch_codes.shape[0]
        val_loss, val_accuracy = _mean_loss(model, tensors["val"], val_codes, weights, torch_device, 256)
        record = {"epoch": epoch, "train_loss": loss_sum / train_rows.size, "val_loss": val_loss,
                  "val_accuracy": val_accuracy, "seconds": time.perf_counter() - started}
        history.append(record)
        if log is not None:
            log(f"epoch {epoch}: train_loss={record['train_loss']:.4f} val_loss={val_loss:.4f} "
                f"val_accuracy={val_accuracy:.3f}")
        if stopper.update(val_loss):
            break

    stopper.restore()
    model.eval()
    model.label_names = [str(name) for name in label_names]
    model.channel_mean, model.channel_std = channel_mean, channel_std
    predicted = label_names[predict(model, tensors["test"].numpy(), torch_device)]
    report = evaluate("small_cnn", variant, class_weighting, labels[train_rows], labels[test_rows], predicted)
    return model, report, history


def save_model(
    model: SmallCNN,
    path: str | os.PathLike,
    *,
    label_names: Sequence[str],
    channel_mean: np.ndarray,
    channel_std: np.ndarray,
    metadata: dict,
) -> None:
    """Write the weights, constructor arguments and preprocessing to ``path`` atomically.

    Parameters
    ----------
    model : SmallCNN
        Network to save.
    path : str or os.PathLike
        Target file; written to ``path + ".partial"`` first, then renamed over ``path``.
    label_names : Sequence[str]
        Label of each class index (length ``model.n_classes``).
    channel_mean, channel_std : np.ndarray
        Training per-channel statistics used to standardise inputs.
    metadata : dict
        Extra information (plain Python values only: it is reloaded with ``weights_only=True``).

    Returns
    -------
    None
    """
    if len(label_names) != model.n_classes:
        raise ValueError(f"{len(label_names)} label names for a model with {model.n_classes} classes")
    if len(channel_mean) != model.in_channels or len(channel_std) != model.in_channels:
        raise ValueError(f"channel statistics must have {model.in_channels} entries")
    payload = {
        "constructor": {"in_channels": model.in_channels, "n_classes": model.n_classes,
                        "image_size": model.image_size},
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "label_names": [str(name) for name in label_names],
        "channel_mean": [float(value) for value in channel_mean],
        "channel_std": [float(value) for value in channel_std],
        "metadata": dict(metadata),
    }
    atomic_write(path, lambda temporary: torch.save(payload, temporary))


def load_model(path: str | os.PathLike) -> tuple[SmallCNN, dict]:
    """Load a network written by :func:`save_model` (on CPU, eval mode).

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save_model`.

    Returns
    -------
    tuple[SmallCNN, dict]
        The network (also carrying ``label_names``, ``channel_mean``, ``channel_std`` attributes) and a
        dict with ``label_names`` (list), ``channel_mean`` and ``channel_std`` (float32 arrays), ``metadata``.
    """
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    model = SmallCNN(**payload["constructor"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    info = {
        "label_names": list(payload["label_names"]),
        "channel_mean": np.asarray(payload["channel_mean"], dtype=np.float32),
        "channel_std": np.asarray(payload["channel_std"], dtype=np.float32),
        "metadata": payload["metadata"],
    }
    model.label_names, model.channel_mean, model.channel_std = (
        info["label_names"], info["channel_mean"], info["channel_std"])
    return model, info
