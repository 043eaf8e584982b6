"""Benchmark training and inference of the small CNN, the VAE and the crop network on a lake, CPU and GPU.

Input: every row of the lake's ``image_tensors`` table (``make demo`` writes ``data_lake/``) with its
treatment from ``plate_layout`` (``Metadata_broad_sample``, else ``Metadata_pert_iname``). Per device
(``cpu`` always, ``cuda`` when torch sees one) five steps run, each in its own fresh subprocess on the
same arrays (written once by the parent):

* ``anchor``       one epoch of a plain ``nn.Linear`` classifier (Adam, batch 64) over every flattened
                   grayscale + mask image: the machine's yardstick (best of 5 epochs after a warm-up one);
* ``cnn train``    ``train_cnn`` on grayscale + mask, a fixed number of epochs (patience never triggers);
* ``cnn predict``  ``predict`` over every image;
* ``vae train``    ``train_vae`` on the VAE's inputs (the platform's default: five channels + mask);
* ``vae encode``   ``latent_means`` over every image;
* ``crop train``   ``train_crop_net`` (the crop network's defaults: width 16, 16 px views) on every
                   single-cell crop of the lake's ``single_cell_crops`` table (one fold's work is
                   about half of it: a fold trains on the other half of the plates; crops/s counts
                   every crop, of which 90 % are drawn per epoch, the rest validate);
* ``crop embed``   ``class_log_probabilities`` over every crop.

The crop steps are skipped (a line says so) when the lake has no ``single_cell_crops``.

Inference uses freshly initialised networks (the time does not depend on the weights) after a warm-up
forward pass of 8 images. Reported: wall seconds, seconds per epoch (training, validation pass
included), images per second (training images per epoch, or all images for inference), the increase
of peak resident memory over the process's level just before the call (``resource.getrusage``: covers
torch's allocator, which tracemalloc does not see), on GPU ``torch.cuda.max_memory_allocated``, and
each step's seconds (per epoch for training) divided by the anchor's epoch seconds on the same device.

Usage: ``python bench/bench_models.py [--lake data_lake] [--epochs 5] [--threads N] [--devices cpu,cuda]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from morph_assets.lib.schema import IMAGE_TENSORS

STEPS = ("anchor", "cnn_train", "cnn_predict", "vae_train", "vae_encode", "crop_train", "crop_embed")
CROP_STEPS = ("crop_train", "crop_embed")
HUGE_PATIENCE = 10**6  # never stop early: every run trains exactly --epochs epochs


def _load_inputs(lake_root: str, vae_inputs: str, folder: str) -> int:
    """Write the model inputs of every labelled site to ``folder`` (one .npy each); return the number of sites."""
    import numpy as np
    import polars as pl

    from morph_assets.lib.features import CHANNEL_ORDER, with_mask
    from morph_assets.lib.io import Lake
    from morph_assets.lib.schema import IMAGE_TENSORS, SINGLE_CELL_CROPS
    from morph_assets.lib.tasks import load_crops, load_tensors

    lake = Lake(Path(lake_root))
    if not lake.plates_present(IMAGE_TENSORS) or not lake.has_table("plate_layout"):
        sys.exit(f"lake {lake_root!r} has no {IMAGE_TENSORS} (or plate_layout) table: run `make demo` first, "
                 "or pass --lake PATH of a lake that has one")
    index = pl.read_parquet(lake.table_glob(IMAGE_TENSORS))
    layout = pl.read_parquet(lake.table_glob("plate_layout")).select(
        "Metadata_Plate", "Metadata_Well",
        pl.coalesce("Metadata_broad_sample", "Metadata_pert_iname").alias("label"))
    index = index.join(layout, on=["Metadata_Plate", "Metadata_Well"], how="inner").sort(
        ["Metadata_Plate", "Metadata_Well", "Metadata_Site"])
    if index.is_empty():
        sys.exit(f"no image_tensors row of lake {lake_root!r} matches a plate_layout well")
    tensors = load_tensors(index)
    n_channels = len(CHANNEL_ORDER)
    # Plain .npy files load straight into their arrays (an .npz read briefly holds each array twice),
    # so a worker's resident memory sits at its high-water mark when the measured call starts.
    arrays = {
        "cnn_images": with_mask(tensors, n_channels, grayscale=True),
        "vae_images": with_mask(tensors, n_channels, grayscale=vae_inputs == "grayscale+mask"),
        "labels": index["label"].fill_null("unknown").to_numpy().astype(str),
        "groups": (index["Metadata_Plate"] + "|" + index["Metadata_Well"]).to_numpy().astype(str),
    }
    for name, array in arrays.items():
        np.save(os.path.join(folder, f"{name}.npy"), array)
    if lake.plates_present(SINGLE_CELL_CROPS):
        crops = pl.read_parquet(lake.table_glob(SINGLE_CELL_CROPS)).join(
            layout, on=["Metadata_Plate", "Metadata_Well"], how="inner").sort(
            ["Metadata_Plate", "Metadata_Well", "Metadata_Site", "ObjectNumber"])
        np.save(os.path.join(folder, "crops.npy"), load_crops(crops))
        np.save(os.path.join(folder, "crop_labels.npy"), crops["label"].fill_null("unknown").to_numpy().astype(str))
        np.save(os.path.join(folder, "crop_groups.npy"),
                (crops["Metadata_Plate"] + "|" + crops["Metadata_Well"]).to_numpy().astype(str))
    return index.height


def _anchor_epoch_seconds(images, codes, n_classes: int, device) -> float:
    import time

    import torch
    from torch import nn

    flat = torch.from_numpy(images.reshape(len(images), -1))
    targets = torch.from_numpy(codes)
    model = nn.Linear(flat.shape[1], n_classes).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    order_generator = torch.Generator().manual_seed(0)
    epoch_seconds = []
    for _ in range(6):
        started = time.perf_counter()
        for rows in torch.randperm(len(flat), generator=order_generator).split(64):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(flat[rows].to(device)), targets[rows].to(device))
            loss.backward()
            optimiser.step()
        loss.item()  # waits for the device
        epoch_seconds.append(time.perf_counter() - started)
    return min(epoch_seconds[1:])  # the first epoch pays one-off allocation and kernel selection


def _worker(step: str, device_name: str, data_folder: str, epochs: int, threads: int) -> None:
    import resource
    import time

    import numpy as np
    import torch

    from morph_assets.lib.models import grouped_stratified_split
    from morph_assets.lib.devices import pick_device
    from morph_assets.lib.models import SmallCNN, predict, train_cnn
    from morph_assets.lib.models import ConvVAE, latent_means, train_vae
    from morph_assets.lib.models import CropNet, CropNetSettings, class_log_probabilities, train_crop_net

    torch.set_num_threads(threads)
    device = pick_device(device_name)
    cnn_images, vae_images, labels, groups = (np.load(os.path.join(data_folder, f"{name}.npy"))
                                              for name in ("cnn_images", "vae_images", "labels", "groups"))
    label_names, codes = np.unique(labels, return_inverse=True)
    if device.type == "cuda":
        torch.zeros(1, device=device)  # the CUDA context's host memory is not the step's
        torch.cuda.reset_peak_memory_stats(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result: dict = {"epochs": None, "per_epoch": None, "images": len(labels)}
    started = time.perf_counter()
    if step == "anchor":
        result["per_epoch"] = _anchor_epoch_seconds(cnn_images, codes.astype(np.int64), label_names.size, device)
        result["epochs"] = 1
    elif step == "cnn_train":
        _, _, history = train_cnn(cnn_images, labels, groups, variant="grayscale+mask", max_epochs=epochs,
                                  patience=HUGE_PATIENCE, device=device_name)
        result["epochs"] = len(history)
        result["per_epoch"] = float(np.mean([row["seconds"] for row in history]))
        result["images"] = grouped_stratified_split(labels, groups, (0.7, 0.15, 0.15), 0)[0].size
    elif step == "vae_train":
        _, history = train_vae(vae_images, groups, max_epochs=epochs, patience=HUGE_PATIENCE, device=device_name)
        result["epochs"] = len(history)
        result["per_epoch"] = float(np.mean([row["seconds"] for row in history]))
        # training images: the part train_vae keeps after holding out 15 % of the wells
        result["images"] = int(grouped_stratified_split(None, groups, (0.15, 0.85), 0)[1].size)
    elif step == "cnn_predict":
        model = SmallCNN(cnn_images.shape[1], label_names.size, cnn_images.shape[2])
        mean, std = cnn_images.mean(axis=(0, 2, 3)), cnn_images.std(axis=(0, 2, 3)) + 1e-6
        predict(model, cnn_images[:8], device, channel_mean=mean, channel_std=std)  # warm-up
        sync()
        started = time.perf_counter()
        predict(model, cnn_images, device, channel_mean=mean, channel_std=std)
    elif step == "vae_encode":
        model = ConvVAE(vae_images.shape[1], vae_images.shape[2])
        latent_means(model, vae_images[:8], device=device_name)  # warm-up
        sync()
        started = time.perf_counter()
        latent_means(model, vae_images, device=device_name)
    elif step in CROP_STEPS:
        crops, crop_labels, crop_groups = (np.load(os.path.join(data_folder, f"{name}.npy"))
                                           for name in ("crops", "crop_labels", "crop_groups"))
        crop_names, crop_codes = np.unique(crop_labels, return_inverse=True)
        settings = CropNetSettings(max_epochs=epochs, patience=HUGE_PATIENCE, device=device_name)
        result["images"] = len(crops)
        if step == "crop_train":
            _, history = train_crop_net(crops, crop_codes, crop_groups, crop_names.size, settings)
            result["epochs"] = len(history)
            result["per_epoch"] = float(np.mean([row["seconds"] for row in history]))
        else:
            model = CropNet(crops.shape[1], crop_names.size, settings.width).to(device)
            class_log_probabilities(model, crops[:8], settings.view_size)  # warm-up
            sync()
            started = time.perf_counter()
            class_log_probabilities(model, crops, settings.view_size)
    else:
        raise ValueError(f"unknown step {step!r}")
    sync()
    result["seconds"] = time.perf_counter() - started
    result["rss_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024  # KiB on Linux
    result["gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    print(json.dumps(result))


def _row(device: str, step: str, result: dict, anchor: float) -> str:
    training = step.endswith("train") or step == "anchor"
    per_epoch = result["per_epoch"] if training else None
    rate = result["images"] / (per_epoch if training else result["seconds"])
    gpu = f"{result['gpu_mib']:9.1f}" if result["gpu_mib"] is not None else f"{'-':>9}"
    ratio = (per_epoch if training else result["seconds"]) / anchor
    per_epoch_text = f"{per_epoch:9.3f}" if per_epoch is not None else f"{'-':>9}"
    return (f"{device:<6} {step.replace('_', ' '):<12} {result['seconds']:8.2f} {per_epoch_text} {rate:9.0f} "
            f"{result['rss_mib']:9.1f} {gpu} {ratio:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", default="data_lake", help="lake root holding image_tensors and plate_layout")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (fixed: no early stopping)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads per run")
    parser.add_argument("--devices", default=None, help="comma-separated; default cpu, plus cuda when available")
    parser.add_argument("--vae-inputs", default="channels+mask", choices=["channels+mask", "grayscale+mask"])
    parser.add_argument("--worker", choices=STEPS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", help="(worker) folder of the input arrays")
    args = parser.parse_args()
    if args.epochs < 1 or args.threads < 1:
        parser.error("--epochs and --threads must be >= 1")
    if args.worker:
        _worker(args.worker, args.device, args.data, args.epochs, args.threads)
        return

    import platform

    import torch

    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = tmp
        n_images = _load_inputs(args.lake, args.vae_inputs, data)
        print(f"lake: {args.lake}  images: {n_images}  epochs: {args.epochs}  torch threads: {args.threads}  "
              f"torch {torch.__version__}  {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
        if "cuda" in devices:
            print(f"gpu: {torch.cuda.get_device_name(0)}")
        print(f"cnn input: grayscale+mask (2 x 64 x 64), vae input: {args.vae_inputs}; "
              "images/s counts training images per epoch for training steps")
        print(f"{'device':<6} {'step':<12} {'wall s':>8} {'s/epoch':>9} {'images/s':>9} {'RSS +MiB':>9} "
              f"{'GPU MiB':>9} {'x anchor':>8}")
        for device in devices:
            anchor = None
            for step in STEPS:
                if step in CROP_STEPS and not os.path.exists(os.path.join(data, "crops.npy")):
                    print(f"{device:<6} {step.replace('_', ' '):<12} skipped: the lake has no single_cell_crops")
                    continue
                cmd = [sys.executable, __file__, "--worker", step, "--device", device, "--data", data,
                       "--epochs", str(args.epochs), "--threads", str(args.threads)]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{device} {step} failed:\n{done.stderr}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                anchor = anchor if anchor is not None else result["per_epoch"]
                print(_row(device, step, result, anchor), flush=True)


if __name__ == "__main__":
    main()
