"""Cellpose segmentation of Cell Painting sites: training our own models and running them offline.

The platform never downloads weights at run time. Cellpose's built-in models live on
cellpose.org (cellpose 3) or Hugging Face (cellpose 4) and are fetched on first use, which fails
on an offline worker deep inside a run; so every model path is checked here *before* a cellpose
model object is built, and a missing file raises :class:`CellposeWeightsMissing` instead.

Where models come from
    * :func:`train_cellpose_models` trains two small cellpose-3 networks from scratch on sites
      with ground-truth masks (the synthetic plates ship them): a **nuclei** model on DNA alone
      and a **cells** model on ``[cell channel, DNA]``. It writes ``<save_dir>/nuclei``,
      ``<save_dir>/cells`` and ``<save_dir>/cellpose_models.json``. The platform's
      ``segmentation_model`` asset is the intended caller.
    * A model file copied from another machine (a cellpose-trained ``CPnet`` state dict).
    * Cellpose's built-in models, placed by hand in ``CELLPOSE_LOCAL_MODELS_PATH`` (default
      ``~/.cellpose/models``) under their cellpose file names (``cyto3``, ``nucleitorch_0``,
      ``cpsam`` ...) and named in the settings by model name (``"cyto3"``, ``"cpsam"``).

What ``settings.cellpose_model_path`` may name
    * a directory written by :func:`train_cellpose_models`: the ``nuclei`` model segments nuclei,
      the ``cells`` model segments cells;
    * a single cell-model file (or a directory holding only ``cells``), or a built-in name: cells
      come from that model and each cell's nucleus is found in its own DNA intensities by
      :func:`~morph_assets.lib.segment.nuclei_from_dna`, the rule imported cell masks use too
      (cells without a DNA contrast get no nucleus and are dropped by ``make_consistent``). With a built-in cell model, the built-in
      ``nuclei`` model is used instead when ``nucleitorch_0`` is also present locally.

In every case the two label images go through
:func:`morph_assets.lib.segment.make_consistent`, so cell ``k`` contains nucleus ``k``.

Diameters
    A model trained here remembers the mean diameter of its training objects and rescales the
    input so that objects of that size look as in training; with ``settings.cellpose_diameter``
    (cell diameter in pixels, e.g. 60 for full-size 1080 px sites when the model was trained on
    192 px sites with 34 px cells) the cell model uses it and the nuclei model the same value
    times the nucleus-to-cell diameter ratio seen in training.

Cellpose 4 (Cellpose-SAM, ``cpsam``) is used when installed (detected from the package version):
models are then built the version-4 way and evaluated without the ``channels`` argument. It needs
torchvision and is not installed in this project's environment, so that branch is untested
here. Training always uses the cellpose-3 network; under cellpose 4 it raises.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from morph_assets.lib.segment._base import SiteSegmentation, make_consistent
from morph_assets.lib.segment._nuclei import nuclei_from_dna

#: File names written by :func:`train_cellpose_models` inside its ``save_dir``.
NUCLEI_MODEL_FILE = "nuclei"
CELL_MODEL_FILE = "cells"
MANIFEST_FILE = "cellpose_models.json"

#: Cellpose's object diameter the networks rescale to (cellpose's own values: 17 px for its
#: nuclei model, 30 px for its cell models).
_NUCLEI_DIAM_MEAN = 17.0
_CELL_DIAM_MEAN = 30.0

# Built-in model names and the file each is stored under in the models directory.
_BUILTIN_FILES = {"cyto": "cytotorch_0", "cyto2": "cyto2torch_0", "nuclei": "nucleitorch_0"}
_BUILTIN_NAMES = (
    "cpsam", "cyto3", "cyto2", "cyto", "nuclei", "cyto2_cp3", "tissuenet_cp3", "livecell_cp3",
    "yeast_PhC_cp3", "yeast_BF_cp3", "bact_phase_cp3", "bact_fluor_cp3", "deepbacs_cp3",
)


class CellposeWeightsMissing(FileNotFoundError):
    """No usable cellpose model file is configured; nothing is ever downloaded at run time."""


class CellposeUnavailable(RuntimeError):
    """The installed cellpose cannot run the configured model (e.g. ``cpsam`` on cellpose 3)."""


# --------------------------------------------------------------------------------------------
# Environment


def cellpose_version() -> str:
    """Return the installed cellpose version, or ``"not installed"``.

    Returns
    -------
    str
        The package version.
    """
    try:
        return package_version("cellpose")
    except PackageNotFoundError:
        return "not installed"


def cellpose_major_version() -> int:
    """Return the installed cellpose major version (0 when cellpose is not installed).

    Returns
    -------
    int
        The major version.
    """
    text = cellpose_version()
    head = text.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def local_models_dir() -> Path:
    """Return where cellpose looks for built-in model files: ``CELLPOSE_LOCAL_MODELS_PATH``.

    Read at call time (cellpose reads it once at import), default ``~/.cellpose/models``.

    Returns
    -------
    pathlib.Path
        The folder.
    """
    configured = os.environ.get("CELLPOSE_LOCAL_MODELS_PATH")
    return Path(configured) if configured else Path.home() / ".cellpose" / "models"


def _missing(looked_at: Sequence[Path | str], why: str) -> CellposeWeightsMissing:
    paths = ", ".join(str(path) for path in looked_at) or "(no path configured)"
    return CellposeWeightsMissing(
        f"{why}; looked at: {paths}. Cellpose weights are never downloaded at run time. Supply a "
        "model by (1) materialising the platform's `segmentation_model` asset, which trains one "
        "from the ground-truth masks and writes a directory with `nuclei` and `cells` files, "
        "and pointing `cellpose_model_path` at it; (2) copying a cellpose model file (or such a "
        "directory) from another machine and pointing `cellpose_model_path` at it; or (3) "
        "placing cellpose's built-in model files under CELLPOSE_LOCAL_MODELS_PATH (now "
        f"{local_models_dir()}) with their cellpose file names (cyto3, nucleitorch_0, cpsam) "
        "and setting `cellpose_model_path` to the model name (e.g. 'cyto3')."
    )


# --------------------------------------------------------------------------------------------
# Resolving what to load


@dataclass(frozen=True)
class _ModelPlan:
    cell: Path
    nuclei: Path | None  # None: nuclei from the DNA inside each cell (nuclei_from_dna)
    manifest: dict[str, Any] | None


def _builtin_file(name: str) -> Path:
    return local_models_dir() / _BUILTIN_FILES.get(name, name)


def _resolve_models(model_path: str | os.PathLike[str] | None) -> _ModelPlan:
    """Find the model files for ``settings.cellpose_model_path`` without touching cellpose."""
    if model_path is None or str(model_path).strip() == "":
        raise _missing([], "no cellpose model is configured (settings.cellpose_model_path is None)")
    text = str(model_path)
    path = Path(text).expanduser()
    if path.is_dir():
        cell, nuclei = path / CELL_MODEL_FILE, path / NUCLEI_MODEL_FILE
        if not cell.is_file():
            raise _missing([cell, nuclei], f"the model directory {path} holds no `cells` model")
        manifest = None
        if (path / MANIFEST_FILE).is_file():
            manifest = json.loads((path / MANIFEST_FILE).read_text())
        return _ModelPlan(cell, nuclei if nuclei.is_file() else None, manifest)
    if path.is_file():
        return _ModelPlan(path, None, None)
    if text in _BUILTIN_NAMES:
        cell = _builtin_file(text)
        if not cell.is_file():
            raise _missing([cell], f"the built-in cellpose model {text!r} is not stored locally")
        nuclei = _builtin_file("nuclei")
        use_nuclei = text not in ("cpsam", "nuclei") and nuclei.is_file()
        return _ModelPlan(cell, nuclei if use_nuclei else None, None)
    raise _missing([path], f"the cellpose model path {text!r} does not exist")


def _is_cpsam(path: Path) -> bool:
    return path.name.startswith("cpsam")


# --------------------------------------------------------------------------------------------
# Loading (cached per process)


@dataclass(frozen=True)
class _LoadedModel:
    model: Any
    major: int
    diam_labels: float | None


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _load_model(path: Path, kind: str) -> _LoadedModel:
    """Return the cellpose model at ``path``; cached on (path, mtime, size, kind, device)."""
    if not path.is_file():  # checked again: cellpose would download a default model instead
        raise _missing([path], "the cellpose model file does not exist")
    # Imported here: torch loads only when a cellpose model is (the classical path never).
    from morph_assets.lib.devices import pick_device

    return _load_model_cached(*_file_key(path), kind, str(pick_device("auto")))


@lru_cache(maxsize=8)
def _load_model_cached(
    resolved: str, _mtime_ns: int, _size: int, kind: str, device_name: str
) -> _LoadedModel:
    import torch

    major = cellpose_major_version()
    if major == 0:
        raise CellposeUnavailable("cellpose is not installed; install cellpose>=3.1")
    path = Path(resolved)
    device = torch.device(device_name)
    from cellpose import models

    try:
        # Building the network draws random initial weights before the file overwrites them;
        # forking keeps that from moving the caller's torch random state.
        with torch.random.fork_rng(devices=[]):
            return _build_model(models, path, resolved, kind, major, device)
    except CellposeUnavailable:
        raise
    except (RuntimeError, KeyError, ValueError) as error:
        raise CellposeUnavailable(
            f"cannot load {path} as a {kind} model with cellpose {cellpose_version()}: {error}"
        ) from error


def _build_model(
    models: Any, path: Path, resolved: str, kind: str, major: int, device: Any
) -> _LoadedModel:
    if major >= 4:
        # Cellpose-SAM: one transformer backbone, no nchan / diam_mean / model_type.
        model = models.CellposeModel(device=device, pretrained_model=resolved)
        return _LoadedModel(model, major, None)
    if _is_cpsam(path):
        raise CellposeUnavailable(
            f"{path} is a Cellpose-SAM (cpsam) model, which needs cellpose>=4 (and "
            f"torchvision); installed is cellpose {cellpose_version()}. Use a cellpose-3 "
            "model, e.g. one trained by the `segmentation_model` asset."
        )
    diam_mean = _NUCLEI_DIAM_MEAN if kind == "nuclei" else _CELL_DIAM_MEAN
    # model_type=None and an existing path: cellpose loads exactly this file.
    model = models.CellposeModel(
        device=device, pretrained_model=resolved, model_type=None, diam_mean=diam_mean
    )
    diam_labels = float(np.asarray(model.diam_labels).ravel()[0])
    return _LoadedModel(model, major, diam_labels if diam_labels > 0 else None)


def clear_model_cache() -> None:
    """Forget the models loaded in this process (e.g. after retraining in place)."""
    _load_model_cached.cache_clear()


# --------------------------------------------------------------------------------------------
# Running


def _channel(images: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name in images:
        plane = images[name]
    else:
        matches = [key for key in images if str(key).lower() == name.lower()]
        if len(matches) != 1:
            raise KeyError(f"channel {name!r} is not among the site's images {sorted(images)}")
        plane = images[matches[0]]
    plane = np.asarray(plane)
    if plane.ndim != 2:
        raise ValueError(f"channel {name!r} must be a 2-D image, got shape {plane.shape}")
    # uint16 or float in [0, 1] alike: cellpose rescales each channel to its 1st-99th percentile.
    return plane.astype(np.float32, copy=False)


def _eval(loaded: _LoadedModel, image: np.ndarray, diameter: float | None) -> np.ndarray:
    """Run one model on a (H, W) or (2, H, W) float image and return int32 labels."""
    kwargs: dict[str, Any] = {"normalize": True, "diameter": diameter}
    if loaded.major >= 4:
        if image.ndim == 3:
            kwargs["channel_axis"] = 0
        masks = loaded.model.eval(image, **kwargs)[0]
    elif image.ndim == 3:
        masks = loaded.model.eval(image, channels=[1, 2], channel_axis=0, **kwargs)[0]
    else:
        masks = loaded.model.eval(image, channels=[0, 0], **kwargs)[0]
    return np.asarray(masks, dtype=np.int32)


def _diameters(
    plan_manifest: dict[str, Any] | None,
    nuclei_model: _LoadedModel | None,
    cell_model: _LoadedModel,
    cell_diameter: float | None,
) -> tuple[float | None, float | None]:
    if cell_diameter is None or cell_diameter <= 0:
        return None, None
    ratio = None
    if nuclei_model is not None and nuclei_model.diam_labels and cell_model.diam_labels:
        ratio = nuclei_model.diam_labels / cell_model.diam_labels
    elif plan_manifest and plan_manifest.get("cell_diameter"):
        ratio = plan_manifest["nuclei_diameter"] / plan_manifest["cell_diameter"]
    return (None if ratio is None else float(cell_diameter) * ratio), float(cell_diameter)


def segment_with_cellpose(images: Mapping[str, np.ndarray], settings: Any) -> SiteSegmentation:
    """Segment one site with cellpose: cells, nuclei and cytoplasm, made consistent.

    Parameters
    ----------
    images : mapping of str to numpy.ndarray
        The site's (H, W) planes by channel name (``"DNA"``, ``"AGP"``, ...): float32 in [0, 1]
        after illumination correction, or raw uint16 (cellpose normalises each channel to its
        own 1st-99th percentiles, so either works).
    settings : SegmentationSettings
        Uses ``cellpose_model_path`` (see the module docstring for what it may name),
        ``cellpose_diameter`` (cell diameter in pixels, or None for the trained size),
        ``nucleus_channel`` and ``cell_channel``.

    Returns
    -------
    SiteSegmentation
        int32 labels where cell ``k`` contains nucleus ``k``.

    Raises
    ------
    CellposeWeightsMissing
        If the configured model files do not exist (checked before cellpose is asked).
    CellposeUnavailable
        If the installed cellpose cannot load the model.
    ValueError
        If the models were trained on other channels than the settings name.
    """
    plan = _resolve_models(getattr(settings, "cellpose_model_path", None))
    nucleus_channel = getattr(settings, "nucleus_channel", "DNA")
    cell_channel = getattr(settings, "cell_channel", None)
    if cell_channel is None:
        raise ValueError("settings.cell_channel must name the channel cells are segmented on")
    if plan.manifest is not None:
        trained = (plan.manifest.get("cell_channel"), plan.manifest.get("nucleus_channel"))
        if trained != (cell_channel, nucleus_channel):
            raise ValueError(
                f"the cellpose models in {plan.cell.parent} were trained on cell channel "
                f"{trained[0]!r} and nucleus channel {trained[1]!r}, but the settings ask for "
                f"{cell_channel!r} and {nucleus_channel!r}; retrain or change the settings"
            )
    dna = _channel(images, nucleus_channel)
    cell_plane = _channel(images, cell_channel)
    if dna.shape != cell_plane.shape:
        raise ValueError(f"channel shapes differ: {dna.shape} and {cell_plane.shape}")

    cell_model = _load_model(plan.cell, "cells")
    nuclei_model = None if plan.nuclei is None else _load_model(plan.nuclei, "nuclei")
    nuclei_diameter, cell_diameter = _diameters(
        plan.manifest, nuclei_model, cell_model, getattr(settings, "cellpose_diameter", None)
    )
    cells = _eval(cell_model, np.stack([cell_plane, dna]), cell_diameter)
    if nuclei_model is None:
        nuclei = nuclei_from_dna(dna, cells, getattr(settings, "threshold_method", "otsu"))
    else:
        nuclei = _eval(nuclei_model, dna, nuclei_diameter)
    return make_consistent(nuclei, cells)


# --------------------------------------------------------------------------------------------
# Training
