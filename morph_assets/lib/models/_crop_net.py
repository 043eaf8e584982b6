"""A weakly supervised single-cell network, cross-fitted over replicate plates (issue 13, items 2-3).

Recipe: the Cell Painting CNN / DeepProfiler (Moshkov et al. 2024, "Learning representations for
image-based profiling of perturbations", Nat Commun 15:1594): a convolutional network is trained
on single-cell crops to predict the treatment of the well each cell comes from (weak supervision:
every cell carries its well's label), with flips, 90-degree rotations and intensity augmentation;
the trained network then turns every cell into numbers that are averaged per image and per well
and scored like any other feature set. It is the recipe shown to match or beat CellProfiler
features at replicate retrieval on Cell Painting data; self-supervised alternatives (DINO, MAE:
Kim et al. 2023, Kraus et al. 2024) need orders of magnitude more images and compute than a
2-core demo has, and the study's VAE (an autoencoder) is what this replaces.

Three departures, each for a stated reason:

* Cross-fitting by replicate plate (:func:`plate_folds`): the plates are dealt into folds, each
  fold's network learns from the other folds' plates only and embeds its own. No plate's labels
  reach the network that embeds it, so retrieval on the embeddings is not retrieval of the
  training labels (a network trained on every plate would score its own memory).
* Class-probability profiles: a cell's features are its log-probabilities over the treatments,
  not the penultimate layer. Networks of different folds share their class axes (treatment k is
  output k in every fold) but not their hidden units, so only the class space makes a profile of
  a plate embedded by one fold comparable with one embedded by another, once each plate is
  normalised against its own DMSO wells (which also removes each fold's per-class offset).
* Size: three convolution blocks (width 16 by default) on 16 px views instead of EfficientNet on
  128 px, so that training fits in minutes on two CPU cores; CUDA is used when present.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from morph_assets.lib.devices import pick_device, rng_devices
from morph_assets.lib.features import resize_crops
from morph_assets.lib.models._early_stopping import EarlyStopping


@dataclass(frozen=True, kw_only=True)
class CropNetSettings:
    """Training settings of :func:`train_crop_net` and :func:`cross_fitted_log_probabilities`.

    Attributes
    ----------
    width : int
        Channels of the first convolution block (the next two have 2x and 4x).
    view_size : int
        Side in px the crops are area-averaged to before the network (a divisor of their side).
    max_epochs, patience : int
        Upper bound on epochs; epochs without a lower validation loss before stopping.
    batch_size : int
        Crops per optimisation step.
    learning_rate, weight_decay : float
        AdamW's step size and decoupled weight decay.
    label_smoothing : float
        Cross-entropy label smoothing (Szegedy et al. 2016): softer targets keep the class
        log-probabilities, which are the profile, from collapsing onto one class.
    jitter : float
        Each stain plane of a training crop is multiplied by a factor drawn from
        ``[1 - jitter, 1 + jitter]`` (the mask plane is left alone).
    validation_fraction : float
        Share of the training wells held out for early stopping.
    n_folds : int
        Folds of replicate plates (at most the number of plates).
    seed : int
        Seeds the folds' validation wells, initialisation, sampling and augmentation.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    """

    width: int = 16
    view_size: int = 16
    max_epochs: int = 10
    patience: int = 3
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    jitter: float = 0.2
    label_smoothing: float = 0.1
    validation_fraction: float = 0.1
    n_folds: int = 2
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if min(self.width, self.view_size, self.max_epochs, self.patience, self.batch_size) < 1:
            raise ValueError("width, view_size, max_epochs, patience and batch_size must be >= 1")
        if not 0 <= self.jitter < 1 or not 0 < self.validation_fraction < 1 or not 0 <= self.label_smoothing < 1:
            raise ValueError(f"jitter and label_smoothing must lie in [0, 1) and validation_fraction in (0, 1), "
                             f"got {self.jitter}, {self.label_smoothing} and {self.validation_fraction}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2 (a fold is embedded by a network trained on the others), "
                             f"got {self.n_folds}")


class CropNet(nn.Module):
    """Three conv-BN-ReLU blocks (two max-pools between), global average pooling, a linear head.

    Parameters
    ----------
    in_channels : int
        Planes of a crop (five stains + the cell's mask: 6).
    n_classes : int
        Treatments.
    width : int
        Channels of the first block.
    """

    def __init__(self, in_channels: int, n_classes: int, width: int = 16) -> None:
        super().__init__()
        if in_channels < 1 or n_classes < 2 or width < 1:
            raise ValueError(f"need in_channels >= 1, n_classes >= 2, width >= 1; got {in_channels}, {n_classes}, "
                             f"{width}")

        def block(inputs: int, outputs: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs),
                                 nn.ReLU())

        self.features = nn.Sequential(block(in_channels, width), nn.MaxPool2d(2), block(width, 2 * width),
                                      nn.MaxPool2d(2), block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
        self.head = nn.Linear(4 * width, n_classes)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (batch, n_classes), of crops shaped (batch, C, S, S), any S >= 4."""
        return self.head(self.features(crops))


def to_view(crops: np.ndarray, view_size: int) -> torch.Tensor:
    """Area-average crops to ``view_size`` px (DeepProfiler's view) as a float32 tensor.

    The averaging is the crops asset's own (:func:`~morph_assets.lib.features.resize_crops`);
    here the side must be a whole multiple of the view, so every view pixel averages the same
    number of crop pixels.

    Parameters
    ----------
    crops : (n, C, S, S) ndarray
        Crops of any float dtype (the lake stores float16).
    view_size : int
        Target side; ``S`` must be a multiple of it.

    Returns
    -------
    torch.Tensor
        ``(n, C, view_size, view_size)`` float32.

    Raises
    ------
    ValueError
        When the crops are not square 4-D or ``S`` is not a multiple of ``view_size``.
    """
    shape = np.shape(crops)
    if len(shape) != 4 or shape[2] != shape[3]:
        raise ValueError(f"crops must be (n, C, S, S), got shape {tuple(shape)}")
    if shape[-1] % view_size:
        raise ValueError(f"crop side {shape[-1]} px is not a multiple of view_size {view_size}")
    return torch.from_numpy(np.ascontiguousarray(resize_crops(crops, view_size)))


def augment(crops: torch.Tensor, generator: torch.Generator, jitter: float) -> torch.Tensor:
    """Random flip, 90-degree rotation and per-stain intensity factor of each crop (not in place).

    The last plane (the cell's mask) is flipped and rotated with the stains but never scaled.

    Parameters
    ----------
    crops : (n, C, S, S) torch.Tensor
        A batch of crops.
    generator : torch.Generator
        Source of every random draw (CPU).
    jitter : float
        Half-width of the uniform intensity factor around 1.

    Returns
    -------
    torch.Tensor
        The augmented batch, same shape.
    """
    n = crops.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.where(flip[:, None, None, None].to(crops.device), crops.flip(-1), crops)
    turns = torch.randint(0, 4, (n,), generator=generator)
    rotated = out.clone()
    for k in range(1, 4):
        chosen = (turns == k).nonzero().flatten().to(crops.device)
        if chosen.numel():
            rotated[chosen] = torch.rot90(out[chosen], k, (2, 3))
    factors = 1 + jitter * (2 * torch.rand(n, crops.shape[1] - 1, 1, 1, generator=generator) - 1)
    return torch.cat([rotated[:, :-1] * factors.to(crops.device), rotated[:, -1:]], dim=1)


def balanced_indices(codes: np.ndarray, n: int, generator: torch.Generator) -> torch.Tensor:
    """Draw ``n`` training rows with replacement, each class equally likely (class-balanced sampling).

    Parameters
    ----------
    codes : (m,) integer ndarray
        Class index of each training row.
    n : int
        Rows to draw.
    generator : torch.Generator
        Source of the draw.

    Returns
    -------
    torch.Tensor
        ``(n,)`` int64 row indices; a row's probability is ``1 / (classes * its class's count)``.
    """
    counts = np.bincount(codes)
    weights = 1.0 / counts[codes]
    return torch.multinomial(torch.from_numpy(weights / weights.sum()), n, replacement=True, generator=generator)


def _validation_groups(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    unique = np.unique(groups)
    rng = np.random.default_rng(seed)
    n_held = max(1, int(round(fraction * unique.size))) if unique.size > 1 else 0
    return np.isin(groups, rng.choice(unique, size=n_held, replace=False))


#: Early stopping watches the share of validation crops whose treatment is among the top 10 classes
#: (the top tenth when there are fewer than 100 classes, top-1 below 20: top-10 of 3 is always right).
TOP_K = 10


def top_k(n_classes: int) -> int:
    """How many of the highest-scoring classes count as a hit for early stopping (see :data:`TOP_K`)."""
    return max(1, min(TOP_K, n_classes // 10))


def _validation_scores(model: CropNet, views: torch.Tensor, codes: torch.Tensor, device: torch.device,
                       batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and top-k accuracy (:func:`top_k`) of the validation crops."""
    model.eval()
    loss, hits = 0.0, 0
    with torch.no_grad():
        for start in range(0, views.shape[0], batch_size):
            logits = model(views[start:start + batch_size].to(device))
            truth = codes[start:start + batch_size].to(device)
            loss += float(F.cross_entropy(logits, truth, reduction="sum"))
            top = logits.topk(top_k(logits.shape[1]), dim=1).indices
            hits += int((top == truth[:, None]).any(dim=1).sum())
    n = max(views.shape[0], 1)
    return loss / n, hits / n


def train_crop_net(
    crops: np.ndarray,
    codes: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    settings: CropNetSettings = CropNetSettings(),
    *,
    log: Callable[[str], None] | None = None,
) -> tuple[CropNet, list[dict]]:
    """Train :class:`CropNet` on labelled crops: balanced sampling, augmentation, early stopping.

    Each epoch draws as many crops as there are training crops, every class equally likely
    (:func:`balanced_indices`), augments them (:func:`augment`) and takes AdamW steps on the
    cross-entropy (label-smoothed). A random ``validation_fraction`` of the wells (``groups``) is
    held out; the state with the highest validation top-10 accuracy is kept and training stops
    after ``patience`` epochs without a higher one.

    Parameters
    ----------
    crops : (n, C, S, S) ndarray
        Training crops (five stains in [0, 1] + the cell's mask), any float dtype.
    codes : (n,) integer ndarray
        Class index of each crop, in ``[0, n_classes)``.
    groups : (n,) ndarray
        Well of each crop; a well lies wholly in training or in validation.
    n_classes : int
        Size of the output layer (classes absent from ``codes`` keep untrained outputs).
    settings : CropNetSettings
        Architecture and training settings.
    log : callable, optional
        Receives one line per epoch (epoch, losses, seconds).

    Returns
    -------
    model : CropNet
        At its best validation top-10 accuracy, in eval mode, on the chosen device.
    history : list of dict
        One per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_top10_accuracy``, ``seconds``.

    Raises
    ------
    ValueError
        On mismatched lengths, a code outside ``[0, n_classes)``, or fewer than two wells.
    """
    codes = np.asarray(codes, dtype=np.int64)
    groups = np.asarray(groups)
    if not len(crops) == codes.size == groups.size:
        raise ValueError(f"{len(crops)} crops, {codes.size} codes and {groups.size} groups: lengths differ")
    if codes.size and (codes.min() < 0 or codes.max() >= n_classes):
        raise ValueError(f"codes must lie in [0, {n_classes}), got {codes.min()}..{codes.max()}")
    if np.unique(groups).size < 2:
        raise ValueError("need crops from at least two wells: one is held out for early stopping")
    device = pick_device(settings.device)
    views = to_view(crops, settings.view_size)
    held = _validation_groups(groups, settings.validation_fraction, settings.seed)
    train_rows, val_rows = np.flatnonzero(~held), np.flatnonzero(held)
    train_views, val_views = views[train_rows], views[val_rows]
    train_codes, val_codes = torch.from_numpy(codes[train_rows]), torch.from_numpy(codes[val_rows])
    generator = torch.Generator().manual_seed(settings.seed)
    with torch.random.fork_rng(devices=rng_devices(device)):
        torch.manual_seed(settings.seed)
        model = CropNet(views.shape[1], n_classes, settings.width).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    history: list[dict] = []
    stopper = EarlyStopping(model, settings.patience)
    for epoch in range(1, settings.max_epochs + 1):
        started = time.perf_counter()
        model.train()
        order = balanced_indices(codes[train_rows], train_rows.size, generator)
        total = 0.0
        for start in range(0, order.numel(), settings.batch_size):
            rows = order[start:start + settings.batch_size]
            batch = augment(train_views[rows], generator, settings.jitter).to(device)
            loss = F.cross_entropy(model(batch), train_codes[rows].to(device), label_smoothing=settings.label_smoothing)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * rows.numel()
        val_loss, val_accuracy = _validation_scores(model, val_views, val_codes, device, 4 * settings.batch_size)
        row = {"epoch": epoch, "train_loss": total / max(order.numel(), 1), "val_loss": val_loss,
               "val_top10_accuracy": val_accuracy, "seconds": time.perf_counter() - started}
        history.append(row)
        if log:
            log(f"epoch {epoch}: train loss {row['train_loss']:.3f}, validation loss {val_loss:.3f}, "
                f"top-{TOP_K} accuracy {val_accuracy:.3f}, {row['seconds']:.1f} s")
        # Top-10 accuracy, not loss: with a few wells per treatment the held-out loss rises from the
        # second epoch (over-confident wrong answers) while retrieval still improves for several
        # epochs; top-1 accuracy of ~3 % on a few hundred crops is too noisy to stop on (docs/DESIGN.md 57).
        if stopper.update(-val_accuracy):
            break
    return stopper.restore().eval(), history


def class_log_probabilities(model: CropNet, crops: np.ndarray, view_size: int, *, batch_size: int = 1024) -> np.ndarray:
    """Each crop's log-probabilities over the classes (eval mode, no gradients).

    Parameters
    ----------
    model : CropNet
        A trained network.
    crops : (n, C, S, S) ndarray
        Crops as stored in the lake.
    view_size : int
        The view the network was trained on.
    batch_size : int
        Crops per forward pass.

    Returns
    -------
    (n, n_classes) float32 ndarray
        ``log_softmax`` of the logits.
    """
    device = next(model.parameters()).device
    views = to_view(crops, view_size)
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, views.shape[0], batch_size):
            out.append(F.log_softmax(model(views[start:start + batch_size].to(device)), dim=1).cpu())
    n_classes = model.head.out_features
    return torch.cat(out).numpy() if out else np.zeros((0, n_classes), np.float32)
