"""Training the two small Cellpose networks (nuclei, cells) on sites with ground-truth masks.

:func:`train_cellpose_models` writes ``<save_dir>/nuclei``, ``<save_dir>/cells`` and the
manifest ``<save_dir>/cellpose_models.json`` that :func:`~morph_assets.lib.segment.segment_with_cellpose`
reads back. Kept apart from inference so that running a model never loads the training code.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from morph_assets.lib.io import atomic_write
from morph_assets.lib.segment._base import make_consistent
from morph_assets.lib.segment._cellpose import (
    CELL_MODEL_FILE,
    MANIFEST_FILE,
    NUCLEI_MODEL_FILE,
    _CELL_DIAM_MEAN,
    _NUCLEI_DIAM_MEAN,
    CellposeUnavailable,
    _channel,
    _eval,
    _load_model,
    cellpose_major_version,
    cellpose_version,
)


@dataclass(frozen=True)
class CellposeTrainingReport:
    """What :func:`train_cellpose_models` produced.

    Attributes
    ----------
    model_dir : str
        The ``save_dir`` holding both models; give it as ``cellpose_model_path``.
    nuclei_model_path, cell_model_path : str
        The two saved model files.
    cell_channel, nucleus_channel : str
        Channels the models were trained on (the cell model sees ``[cell, nucleus]``).
    n_train_sites, n_test_sites : int
        Sites used for training and held out for the quality figures.
    n_epochs : int
        Epochs per model.
    nuclei_seconds, cell_seconds : float
        Wall time of each model's training.
    nuclei_train_losses, cell_train_losses : tuple of float
        Mean training loss of every epoch.
    nuclei_test_losses, cell_test_losses : tuple of (int, float)
        ``(epoch, loss)`` on the held-out sites, at the epochs cellpose evaluates them (0, 5,
        10, 20, ...); empty without held-out sites. Cellpose computes them in eval mode with
        the lagging BatchNorm running averages, before this module recalibrates them, so early
        values can be huge; the AP figures below come from the saved, recalibrated models.
    nuclei_diameter, cell_diameter : float
        Mean object diameter in pixels in the training sites (cellpose's ``diam_labels``).
    nuclei_ap50, cell_ap50 : float or None
        Mean over held-out sites of cellpose's average precision at IoU 0.5 of each model's raw
        masks against the ground truth; None without held-out sites.
    consistent_nuclei_ap50, consistent_cell_ap50 : float or None
        The same after ``make_consistent`` (the labels the platform measures).
    cellpose_version : str
        The cellpose package version that trained the models.
    device : str
        ``"cuda"`` or ``"cpu"``.
    """

    model_dir: str
    nuclei_model_path: str
    cell_model_path: str
    cell_channel: str
    nucleus_channel: str
    n_train_sites: int
    n_test_sites: int
    n_epochs: int
    nuclei_seconds: float
    cell_seconds: float
    nuclei_train_losses: tuple[float, ...]
    cell_train_losses: tuple[float, ...]
    nuclei_test_losses: tuple[tuple[int, float], ...]
    cell_test_losses: tuple[tuple[int, float], ...]
    nuclei_diameter: float
    cell_diameter: float
    nuclei_ap50: float | None
    cell_ap50: float | None
    consistent_nuclei_ap50: float | None
    consistent_cell_ap50: float | None
    cellpose_version: str
    device: str

    @property
    def training_seconds(self) -> float:
        """Total training time of both models."""
        return self.nuclei_seconds + self.cell_seconds

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready plain data (tuples become lists)."""
        data = asdict(self)
        data["training_seconds"] = self.training_seconds
        return json.loads(json.dumps(data))


def _sparse_losses(losses: np.ndarray, n_epochs: int) -> tuple[tuple[int, float], ...]:
    # cellpose evaluates the test set at epoch 5 and every 10th epoch, leaving zeros elsewhere.
    epochs = [epoch for epoch in range(n_epochs) if epoch == 5 or epoch % 10 == 0]
    return tuple((epoch, float(losses[epoch])) for epoch in epochs)


def _mean_ap(truth: Sequence[np.ndarray], predicted: Sequence[np.ndarray]) -> float | None:
    if not truth:
        return None
    from cellpose import metrics

    ap = metrics.average_precision(
        [np.asarray(t, dtype=np.int32) for t in truth],
        [np.asarray(p, dtype=np.int32) for p in predicted],
        threshold=[0.5],
    )[0]
    return float(np.mean(ap[:, 0]))


def _recalibrate_batchnorm(
    net: Any, images: Sequence[np.ndarray], channels: list[int], channel_axis: int | None
) -> None:
    """Recompute the BatchNorm running statistics as exact averages over the training sites.

    With the few hundred optimisation steps a CPU can afford, the exponential running averages
    lag far behind the weights, and the network in eval mode then predicts nothing (held-out
    losses of 1e4 and more while the training loss falls). One forward pass per training site,
    in training mode without gradients and with cumulative averaging, fixes the statistics
    without changing a weight.
    """
    import torch
    from cellpose import transforms

    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or not images:
        return
    momenta = [m.momentum for m in norms]
    scale = float(net.diam_mean.item()) / max(float(net.diam_labels.item()), 1e-3)
    device = next(net.parameters()).device
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    net.train()
    try:
        with torch.no_grad():
            for image in images:
                x = transforms.convert_image(image, channels, channel_axis=channel_axis, nchan=2)
                x = transforms.normalize_img(x.astype(np.float32), axis=-1)
                x = transforms.resize_image(x, rsz=scale)
                height, width = (max(16, side // 16 * 16) for side in x.shape[:2])
                x = np.ascontiguousarray(x[:height, :width].transpose(2, 0, 1)[None], np.float32)
                net(torch.from_numpy(x).to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        net.eval()


def _train_one(
    name: str,
    train: tuple[list[np.ndarray], list[np.ndarray]],
    test: tuple[list[np.ndarray], list[np.ndarray]],
    *,
    channels: list[int],
    channel_axis: int | None,
    diam_mean: float,
    work_dir: Path,
    seed: int,
    n_epochs: int,
    batch_size: int,
    patch_size: int,
    learning_rate: float,
) -> tuple[Path, np.ndarray, np.ndarray, float, float]:
    import torch
    from cellpose import models
    from cellpose import train as cp_train

    from morph_assets.lib.devices import pick_device, rng_devices

    # Local seeding: the caller's torch RNG is restored on exit. cellpose reseeds numpy's
    # global RNG every epoch (np.random.seed(epoch)); that state is put back as well.
    numpy_state = np.random.get_state()
    device = pick_device("auto")
    started = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=rng_devices(device)):
            torch.manual_seed(seed)
            model = models.CellposeModel(
                device=device, pretrained_model=False, model_type=None, diam_mean=diam_mean
            )
            path, train_losses, test_losses = cp_train.train_seg(
                model.net,
                train_data=train[0],
                train_labels=train[1],
                test_data=test[0] or None,
                test_labels=test[1] or None,
                channels=channels,
                channel_axis=channel_axis,
                normalize=True,
                n_epochs=n_epochs,
                batch_size=batch_size,
                bsize=patch_size,
                learning_rate=learning_rate,
                save_path=str(work_dir),
                save_every=max(n_epochs, 1),
                model_name=name,
                min_train_masks=1,
            )
            diam_labels = float(model.net.diam_labels.item())
            _recalibrate_batchnorm(model.net, train[0], channels, channel_axis)
            model.net.save_model(str(path))
    finally:
        np.random.set_state(numpy_state)
    seconds = time.perf_counter() - started
    return Path(path), np.asarray(train_losses), np.asarray(test_losses), seconds, diam_labels


def train_cellpose_models(
    sites: Sequence[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]],
    save_dir: Path,
    *,
    n_epochs: int,
    cell_channel: str,
    nucleus_channel: str = "DNA",
    seed: int = 0,
    test_fraction: float = 0.2,
    progress: Callable[[int, int, str], None] | None = None,
    batch_size: int = 8,
    patch_size: int = 224,
    learning_rate: float = 0.005,
) -> CellposeTrainingReport:
    """Train a nuclei model (DNA) and a cell model ([cell channel, DNA]) from scratch.

    Parameters
    ----------
    sites : sequence of (images, nuclei_labels, cell_labels)
        Each site's planes by channel name and its ground-truth label images.
    save_dir : pathlib.Path
        Created if missing; receives ``nuclei``, ``cells`` and ``cellpose_models.json``. Each
        file is written under a temporary name and renamed into place when complete.
    n_epochs : int
        Training epochs per model (cellpose warms the learning rate up over the first 10).
    cell_channel : str
        Channel the cell model segments, e.g. ``"AGP"``.
    nucleus_channel : str, optional
        The DNA channel, by default ``"DNA"``.
    seed : int, optional
        Seeds the site split and the network initialisation and sampling, by default 0; the
        caller's torch and numpy global random states are left as they were.
    test_fraction : float, optional
        Share of sites held out for the quality figures (at least one when there are two or
        more sites and the fraction is positive), by default 0.2.
    progress : callable, optional
        Called as ``progress(step, total_steps, description)`` after each of the three steps
        (nuclei model trained, cell model trained, held-out sites evaluated).
    batch_size : int, optional
        Patches per optimisation step, by default 8 (cellpose's default).
    patch_size : int, optional
        Side of the training patches, by default 224 (cellpose's default).
    learning_rate : float, optional
        Cellpose's AdamW learning rate, by default 0.005.

    Returns
    -------
    CellposeTrainingReport
        Paths, timings, losses and held-out average precision at IoU 0.5.
    """
    if cellpose_major_version() >= 4:
        raise CellposeUnavailable(
            f"training here uses the cellpose-3 network; installed is cellpose "
            f"{cellpose_version()}. Train with cellpose>=3.1,<4, or fine-tune Cellpose-SAM "
            "with cellpose's own tools and point cellpose_model_path at the result."
        )
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if not sites:
        raise ValueError("no sites to train on")

    n_sites = len(sites)
    n_test = 0
    if test_fraction > 0 and n_sites >= 2:
        n_test = min(n_sites - 1, max(1, int(round(n_sites * test_fraction))))
    order = np.random.default_rng(np.random.SeedSequence([seed, 0x5E6])).permutation(n_sites)
    test_index, train_index = sorted(order[:n_test]), sorted(order[n_test:])

    def planes(index: Sequence[int]) -> tuple[list[np.ndarray], ...]:
        dna, both, nuclei, cells = [], [], [], []
        for i in index:
            images, nuclei_labels, cell_labels = sites[i]
            dna_plane = _channel(images, nucleus_channel)
            dna.append(dna_plane)
            both.append(np.stack([_channel(images, cell_channel), dna_plane]))
            nuclei.append(np.asarray(nuclei_labels, dtype=np.int32))
            cells.append(np.asarray(cell_labels, dtype=np.int32))
        return dna, both, nuclei, cells

    train_dna, train_both, train_nuclei, train_cells = planes(train_index)
    test_dna, test_both, test_nuclei, test_cells = planes(test_index)

    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    total_steps = 3
    common = {
        "seed": seed,
        "n_epochs": n_epochs,
        "batch_size": batch_size,
        "patch_size": patch_size,
        "learning_rate": learning_rate,
    }
    work_dir = Path(tempfile.mkdtemp(prefix=".cellpose-training-", dir=save_dir))
    try:
        nuclei_file, nuclei_losses, nuclei_test, nuclei_seconds, nuclei_diameter = _train_one(
            NUCLEI_MODEL_FILE,
            (train_dna, train_nuclei),
            (test_dna, test_nuclei),
            channels=[0, 0],
            channel_axis=None,
            diam_mean=_NUCLEI_DIAM_MEAN,
            work_dir=work_dir,
            **common,
        )
        if progress is not None:
            progress(1, total_steps, "nuclei model trained")
        cell_file, cell_losses, cell_test, cell_seconds, cell_diameter = _train_one(
            CELL_MODEL_FILE,
            (train_both, train_cells),
            (test_both, test_cells),
            channels=[1, 2],
            channel_axis=0,
            diam_mean=_CELL_DIAM_MEAN,
            work_dir=work_dir,
            **{**common, "seed": seed + 1},
        )
        if progress is not None:
            progress(2, total_steps, "cell model trained")
        nuclei_path, cell_path = save_dir / NUCLEI_MODEL_FILE, save_dir / CELL_MODEL_FILE
        os.replace(nuclei_file, nuclei_path)
        os.replace(cell_file, cell_path)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    manifest = {
        "cell_channel": cell_channel,
        "nucleus_channel": nucleus_channel,
        "nuclei_diameter": nuclei_diameter,
        "cell_diameter": cell_diameter,
        "n_epochs": n_epochs,
        "seed": seed,
        "cellpose_version": cellpose_version(),
    }
    text = json.dumps(manifest, indent=2) + "\n"
    atomic_write(save_dir / MANIFEST_FILE, lambda temporary: temporary.write_text(text))

    # Held-out quality: each model's raw masks, then the consistent labels the platform uses.
    nuclei_model = _load_model(nuclei_path, "nuclei")
    cell_model = _load_model(cell_path, "cells")
    raw_nuclei = [_eval(nuclei_model, image, None) for image in test_dna]
    raw_cells = [_eval(cell_model, image, None) for image in test_both]
    consistent = [make_consistent(n, c) for n, c in zip(raw_nuclei, raw_cells)]
    if progress is not None:
        progress(3, total_steps, "held-out sites evaluated")

    from morph_assets.lib.devices import pick_device  # imports torch, as training already has

    return CellposeTrainingReport(
        model_dir=str(save_dir),
        nuclei_model_path=str(nuclei_path),
        cell_model_path=str(cell_path),
        cell_channel=cell_channel,
        nucleus_channel=nucleus_channel,
        n_train_sites=len(train_index),
        n_test_sites=len(test_index),
        n_epochs=n_epochs,
        nuclei_seconds=nuclei_seconds,
        cell_seconds=cell_seconds,
        nuclei_train_losses=tuple(float(v) for v in nuclei_losses),
        cell_train_losses=tuple(float(v) for v in cell_losses),
        nuclei_test_losses=_sparse_losses(nuclei_test, n_epochs) if n_test else (),
        cell_test_losses=_sparse_losses(cell_test, n_epochs) if n_test else (),
        nuclei_diameter=nuclei_diameter,
        cell_diameter=cell_diameter,
        nuclei_ap50=_mean_ap(test_nuclei, raw_nuclei),
        cell_ap50=_mean_ap(test_cells, raw_cells),
        consistent_nuclei_ap50=_mean_ap(test_nuclei, [s.nuclei for s in consistent]),
        consistent_cell_ap50=_mean_ap(test_cells, [s.cells for s in consistent]),
        cellpose_version=cellpose_version(),
        device=str(pick_device("auto").type),
    )
