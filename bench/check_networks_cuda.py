"""Check the CUDA path of the CNN and the VAE against the CPU path, and time both.

The networks pick CUDA when a worker has it (``morph_assets.lib.devices.pick_device("auto")``), but the test suite runs
on CPU-only machines, so this script is what exercises the CUDA branches. On a seeded synthetic
task (6 classes, 120 wells of 4 sites, 2 channels of 64 x 64 px: a bright blob whose position and
size follow the class, over noise; a well's sites share its class, as a treatment's sites do) it

* trains :func:`morph_assets.lib.models.train_cnn` and :func:`morph_assets.lib.models.train_vae` with
  the same seed and a fixed number of epochs on each device;
* checks that every loss is finite, that both CNNs beat chance on the held-out wells, and that the
  CUDA CNN's balanced accuracy is within 0.15 of the CPU one's (GPU kernels are not bit-identical,
  so the runs differ a little);
* saves the CUDA-trained models, loads them on the CPU (a lake written by a GPU worker is read by
  CPU-only machines) and checks that CPU and CUDA inference agree: the same predicted class for at
  least 99 % of images, VAE latent means within 1e-3;
* prints seconds per epoch on each device and the CUDA / CPU ratio (the anchor is the CPU run).

Usage: ``python bench/check_networks_cuda.py [--epochs 8] [--threads N]``; exits 1 when a check fails
and 2 when torch sees no CUDA device.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from morph_assets.lib.models import (
    latent_means,
    load_model,
    load_vae,
    predict,
    save_model,
    save_vae,
    train_cnn,
    train_vae,
)

N_CLASSES, WELLS_PER_CLASS, SITES_PER_WELL, SIZE = 6, 20, 4, 64


def synthetic_task(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (n, 2, 64, 64) float32 in [0, 1], class labels (n,) and well ids (n,)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    images, labels, groups = [], [], []
    for label in range(N_CLASSES):
        centre = (16 + 32 * (label % 2), 12 + 20 * (label // 2))
        radius = 6 + 2 * (label % 3)
        for well in range(WELLS_PER_CLASS):
            for _ in range(SITES_PER_WELL):
                dy, dx = rng.integers(-3, 4, size=2)
                blob = np.exp(-((yy - centre[0] - dy) ** 2 + (xx - centre[1] - dx) ** 2) / (2 * radius**2))
                noise = rng.normal(0.1, 0.05, size=(2, SIZE, SIZE))
                image = np.stack([blob, 0.5 * blob]) + noise
                images.append(np.clip(image, 0, 1).astype(np.float32))
                labels.append(f"class{label}")
                groups.append(label * WELLS_PER_CLASS + well)
    return np.stack(images), np.array(labels), np.array(groups)


def _run_device(device: str, images, labels, groups, epochs: int) -> dict:
    started = time.perf_counter()
    model, report, history = train_cnn(images, labels, groups, variant="synthetic", max_epochs=epochs,
                                       patience=10**6, batch_size=64, seed=0, device=device)
    cnn_seconds = time.perf_counter() - started
    started = time.perf_counter()
    vae, vae_history = train_vae(images, groups, max_epochs=epochs, patience=10**6, seed=0, device=device)
    vae_seconds = time.perf_counter() - started
    losses = [row["train_loss"] for row in history] + [row["val_loss"] for row in history]
    losses += [row["train_loss"] for row in vae_history] + [row["val_loss"] for row in vae_history]
    return {"cnn": model, "report": report, "vae": vae, "finite": bool(np.all(np.isfinite(losses))),
            "cnn_epoch_s": cnn_seconds / epochs, "vae_epoch_s": vae_seconds / epochs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("torch sees no CUDA device: nothing to check here")
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    images, labels, groups = synthetic_task()
    print(f"task: {len(images)} images, {N_CLASSES} classes, {len(set(groups))} wells; "
          f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, CPU threads {torch.get_num_threads()}")
    runs = {device: _run_device(device, images, labels, groups, args.epochs) for device in ("cpu", "cuda")}
    failures: list[str] = []
    chance = 1 / N_CLASSES
    for device, run in runs.items():
        if not run["finite"]:
            failures.append(f"{device}: a training or validation loss is not finite")
        if run["report"].balanced_accuracy <= chance + 0.2:
            failures.append(f"{device}: CNN balanced accuracy {run['report'].balanced_accuracy:.3f} "
                            f"is not above chance {chance:.3f} + 0.2")
    gap = abs(runs["cuda"]["report"].balanced_accuracy - runs["cpu"]["report"].balanced_accuracy)
    if gap > 0.15:
        failures.append(f"CUDA and CPU CNN balanced accuracies differ by {gap:.3f} (> 0.15)")

    # A model trained on the GPU, saved, and read back on a CPU-only machine predicts what it did on the GPU.
    trained = runs["cuda"]["cnn"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cnn.pt"
        save_model(trained, path, label_names=trained.label_names, channel_mean=trained.channel_mean,
                   channel_std=trained.channel_std, metadata={})
        loaded, _ = load_model(path)
        vae_path = save_vae(runs["cuda"]["vae"], Path(folder) / "vae.pt", metadata={})
        loaded_vae, _ = load_vae(vae_path)
    stats = {"channel_mean": trained.channel_mean, "channel_std": trained.channel_std}
    on_cpu = predict(loaded, images, "cpu", **stats)
    on_cuda = predict(trained, images, "cuda", **stats)
    agreement = float(np.mean(on_cpu == on_cuda))  # predicted class indices
    if agreement < 0.99:
        failures.append(f"CNN trained on CUDA: CPU and CUDA predictions agree on only {agreement:.3%} of images")
    latent_gap = float(np.max(np.abs(latent_means(loaded_vae, images, device="cpu")
                                     - latent_means(runs["cuda"]["vae"], images, device="cuda"))))
    if latent_gap > 1e-3:
        failures.append(f"VAE trained on CUDA: CPU and CUDA latent means differ by up to {latent_gap:.2e} (> 1e-3)")

    print(f"{'step':<22}{'cpu':>12}{'cuda':>12}{'cuda/cpu':>10}")
    for key, label in (("cnn_epoch_s", "CNN s/epoch"), ("vae_epoch_s", "VAE s/epoch")):
        cpu, cuda = runs["cpu"][key], runs["cuda"][key]
        print(f"{label:<22}{cpu:>12.3f}{cuda:>12.3f}{cuda / cpu:>10.3f}")
    for device, run in runs.items():
        report = run["report"]
        print(f"CNN on {device}: accuracy {report.accuracy:.3f}, balanced accuracy {report.balanced_accuracy:.3f}")
    print(f"CUDA-trained models read on the CPU: prediction agreement {agreement:.3%}, "
          f"largest latent-mean difference {latent_gap:.2e}")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("cuda check: " + ("passed" if not failures else f"{len(failures)} failed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
