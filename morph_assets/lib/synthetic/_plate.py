"""Rendering the sites of a synthetic plate and writing them as a CPJUMP1 plate folder.

A site is rendered from its well's parameters (:mod:`._model`) with the plate's illumination
field; a plate folder holds one TIFF per site and channel in the Harmony naming, the platemap and
perturbation metadata, the true masks under ``GroundTruth/`` and a completion marker written
last, so a watcher never reads a half-written plate.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import tifffile

from morph_assets.lib.plates import (
    CHANNEL_NAMES,
    FLUORESCENCE_CHANNELS,
    ImageName,
    embedded_layout_files,
    format_image_name,
)
from morph_assets.lib.synthetic._cells import CellPopulation, render_cells
from morph_assets.lib.synthetic._model import (
    _BASE_CONFLUENCE,
    _BASE_INTENSITY,
    _INTENSITY_PARAMETERS,
    _P,
    _STREAM_ILLUMINATION,
    _STREAM_SITE,
    SyntheticConfig,
    _plate_effects,
    _rng,
    _well_index,
    compound_phenotypes,
    well_parameters,
)


PLATE_MAP_NAME = "JUMP-Target-1_compound_platemap"

COMPLETE_MARKER = "ACQUISITION_COMPLETE"


@dataclass(frozen=True)
class SyntheticSite:
    """One rendered field of view and its ground truth.

    Attributes
    ----------
    images : numpy.ndarray
        uint16 (C, H, W), channels in ``channels`` order.
    nuclei_labels : numpy.ndarray
        uint16 or uint32 (H, W) nucleus labels, 0 background, 1..n consecutive.
    cell_labels : numpy.ndarray
        Same dtype; cell ``i`` contains nucleus ``i``.
    channels : tuple of int
        Channel numbers of the image planes.
    """

    images: np.ndarray
    nuclei_labels: np.ndarray
    cell_labels: np.ndarray
    channels: tuple[int, ...] = field(default=FLUORESCENCE_CHANNELS)


def illumination_field(config: SyntheticConfig, plate_index: int, channel: int) -> np.ndarray:
    """Return the flat-field multiplied into one channel of every image of a plate.

    Parameters
    ----------
    config : SyntheticConfig
        Uses ``seed`` and ``image_size``.
    plate_index : int
        0-based replicate plate.
    channel : int
        Channel number 1-8.

    Returns
    -------
    numpy.ndarray
        float32 (H, W) with mean 1: an off-centre vignette times a linear gradient.
    """
    if channel not in CHANNEL_NAMES:
        raise ValueError(f"channel must be one of {sorted(CHANNEL_NAMES)}, got {channel}")
    return _illumination(config.seed, plate_index, channel, config.image_size)


@lru_cache(maxsize=64)
def _illumination(seed: int, plate_index: int, channel: int, size: int) -> np.ndarray:
    rng = _rng(seed, _STREAM_ILLUMINATION, plate_index, channel)
    vignette = rng.uniform(0.15, 0.35)
    centre_y, centre_x = rng.uniform(-0.25, 0.25, 2)
    slope_y, slope_x = rng.normal(0.0, 0.07, 2)
    axis = (np.arange(size, dtype=np.float64) + 0.5) / size * 2.0 - 1.0
    y, x = axis[:, None], axis[None, :]
    flat = (1.0 - vignette * ((y - centre_y) ** 2 + (x - centre_x) ** 2) / 2.0) * (1.0 + slope_y * y + slope_x * x)
    flat = (flat / flat.mean()).astype(np.float32)
    # Cached and shared between calls: a caller writing into it would corrupt later plates.
    flat.setflags(write=False)
    return flat


def _sigmoid(value: float) -> float:
    return float(1.0 / (1.0 + np.exp(-value)))


def _population(config: SyntheticConfig, shift: np.ndarray) -> CellPopulation:
    radius = config.cell_diameter_px / 2 * np.exp(shift[_P["cell_log_size"]])
    nominal_radius = config.cell_diameter_px / 2
    n_cells = _BASE_CONFLUENCE * config.image_size**2 / (np.pi * nominal_radius**2)
    return CellPopulation(
        n_cells_mean=float(n_cells * np.exp(shift[_P["log_cell_count"]])),
        cell_radius=float(radius),
        nucleus_fraction=float(0.42 * np.exp(shift[_P["nucleus_log_size"]] - shift[_P["cell_log_size"]])),
        # Axis ratios stay above 1: the shift scales the excess over a circle.
        cell_elongation=float(1.0 + 0.3 * np.exp(shift[_P["cell_log_elongation"]])),
        nucleus_elongation=float(1.0 + 0.15 * np.exp(shift[_P["nucleus_log_elongation"]])),
        intensity=tuple(float(v) for v in _BASE_INTENSITY * np.exp(shift[_INTENSITY_PARAMETERS])),  # type: ignore[arg-type]
        mito_granularity=_sigmoid(shift[_P["mito_granularity_logit"]]),
        er_reticulation=_sigmoid(shift[_P["er_reticulation_logit"]]),
        nucleoli_mean=float(2.5 * np.exp(shift[_P["nucleoli_log_count"]])),
        dna_texture=0.5 * _sigmoid(shift[_P["dna_texture_logit"]] - 1.0),
        agp_edge_power=float(2.0 * np.exp(shift[_P["agp_edge_log_power"]])),
    )


def render_site(config: SyntheticConfig, plate_index: int, well: str, site: int) -> SyntheticSite:
    """Render one field of view of one well of one replicate plate.

    Parameters
    ----------
    config : SyntheticConfig
        Generation settings.
    plate_index : int
        0-based replicate plate (``config.barcodes()[plate_index]``).
    well : str
        Well name, e.g. ``"A01"``.
    site : int
        1-based field of view.

    Returns
    -------
    SyntheticSite
        uint16 images (5 or 8 channels in channel order) and the nucleus and cell labels.
    """
    if not 0 <= plate_index < config.n_plates:
        raise ValueError(f"plate_index must be in [0, {config.n_plates}), got {plate_index}")
    if not 1 <= site <= config.sites_per_well:
        raise ValueError(f"site must be in [1, {config.sites_per_well}], got {site}")
    channels = config.channels()
    well_index = _well_index(well)
    population = _population(config, well_parameters(config, plate_index, well))
    gains = _plate_effects(config.seed, plate_index)[0][[channel - 1 for channel in channels]]
    illumination = np.stack([illumination_field(config, plate_index, channel) for channel in channels])
    rng = _rng(config.seed, _STREAM_SITE, plate_index, well_index, site)
    images, nuclei, cells = render_cells(
        population, config.image_size, config.cell_diameter_px, gains, illumination, rng
    )
    label_dtype = np.uint16 if cells.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32
    return SyntheticSite(images, nuclei.astype(label_dtype), cells.astype(label_dtype), channels)


def _write_well(config: SyntheticConfig, plate_index: int, well: str, plate_dir: Path) -> str:
    images_dir, truth_dir = plate_dir / "Images", plate_dir / "GroundTruth"
    for site in range(1, config.sites_per_well + 1):
        rendered = render_site(config, plate_index, well, site)
        for plane, channel in zip(rendered.images, rendered.channels):
            tifffile.imwrite(images_dir / format_image_name(well, site, channel), plane)
        prefix = ImageName(well, site, 1).site_prefix()
        tifffile.imwrite(truth_dir / f"{prefix}-nuclei.tiff", rendered.nuclei_labels, compression="zlib")
        tifffile.imwrite(truth_dir / f"{prefix}-cells.tiff", rendered.cell_labels, compression="zlib")
    return well


def _write_plate_files(config: SyntheticConfig, plate_index: int, plate_dir: Path, barcode: str) -> None:
    truth_dir = plate_dir / "GroundTruth"
    for channel in FLUORESCENCE_CHANNELS:
        tifffile.imwrite(
            truth_dir / f"illumination-ch{channel}.tiff",
            illumination_field(config, plate_index, channel),
            compression="zlib",
        )
    compound_phenotypes(config).write_csv(truth_dir / "compound_phenotypes.tsv", separator="\t")
    platemap_path, metadata_path = embedded_layout_files()
    shutil.copyfile(platemap_path, plate_dir / "platemap.tsv")
    shutil.copyfile(metadata_path, plate_dir / "compound_metadata.tsv")
    description = {
        "barcode": barcode,
        "plate_map_name": PLATE_MAP_NAME,
        "cell_line": "A549 (synthetic)",
        "time_h": 24,
        "sites_per_well": config.sites_per_well,
        "image_size": config.image_size,
        "channels": {str(channel): CHANNEL_NAMES[channel] for channel in config.channels()},
        "generator": {**asdict(config), "plate_index": plate_index},
    }
    (plate_dir / "plate.json").write_text(json.dumps(description, indent=2) + "\n")


def generate_plate(
    config: SyntheticConfig,
    plate_index: int,
    source_root: Path,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write one synthetic plate folder under ``source_root`` and return its path.

    The plate is written into ``<barcode>.partial-<random>`` beside its final place and renamed
    to ``<barcode>`` only when complete, so a half-written plate is never visible.

    Parameters
    ----------
    config : SyntheticConfig
        Generation settings.
    plate_index : int
        0-based replicate plate; the folder is named ``config.barcodes()[plate_index]``.
    source_root : pathlib.Path
        Folder that holds plate folders; created if missing.
    workers : int, optional
        Processes rendering wells in parallel, by default 1 (in-process).
    progress : callable, optional
        Called as ``progress(wells_done, wells_total)`` after each well.

    Returns
    -------
    pathlib.Path
        ``source_root / barcode``.

    Raises
    ------
    FileExistsError
        If ``source_root / barcode`` already exists.
    """
    if not 0 <= plate_index < config.n_plates:
        raise ValueError(f"plate_index must be in [0, {config.n_plates}), got {plate_index}")
    barcode = config.barcodes()[plate_index]
    source_root = Path(source_root)
    target = source_root / barcode
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it to generate the plate again")
    source_root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{barcode}.partial-", dir=source_root))
    try:
        (partial / "Images").mkdir()
        (partial / "GroundTruth").mkdir()
        wells = config.selected_wells()
        done = 0
        if workers > 1:
            # "spawn", not fork: polars' thread pool deadlocks in a forked child once the parent used it.
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_write_well, config, plate_index, well, partial) for well in wells]
                for future in futures:
                    future.result()
                    done += 1
                    if progress is not None:
                        progress(done, len(wells))
        else:
            for well in wells:
                _write_well(config, plate_index, well, partial)
                done += 1
                if progress is not None:
                    progress(done, len(wells))
        _write_plate_files(config, plate_index, partial, barcode)
        (partial / COMPLETE_MARKER).write_text("synthetic acquisition complete\n")
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def generate_plates(
    config: SyntheticConfig,
    source_root: Path,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write every replicate plate of ``config``, skipping plates already complete.

    Parameters
    ----------
    config : SyntheticConfig
        Generation settings.
    source_root : pathlib.Path
        Folder that holds plate folders.
    workers : int, optional
        Processes rendering wells in parallel, by default 1.
    progress : callable, optional
        Called as ``progress(wells_done, wells_total)`` counted over all plates to write.

    Returns
    -------
    list of pathlib.Path
        One folder per plate, in barcode order.

    Raises
    ------
    FileExistsError
        If a plate folder exists without its acquisition-complete marker (not ours to delete).
    """
    source_root = Path(source_root)
    folders = [source_root / barcode for barcode in config.barcodes()]
    for folder in folders:
        if folder.exists() and not (folder / COMPLETE_MARKER).exists():
            raise FileExistsError(f"{folder} exists but is incomplete (no {COMPLETE_MARKER}); remove it first")
    pending = [index for index, folder in enumerate(folders) if not folder.exists()]
    per_plate = len(config.selected_wells())
    total = per_plate * len(pending)
    for done_plates, plate_index in enumerate(pending):
        offset = done_plates * per_plate
        report = None if progress is None else (lambda done, _total, offset=offset: progress(offset + done, total))
        generate_plate(config, plate_index, source_root, workers=workers, progress=report)
    return folders
