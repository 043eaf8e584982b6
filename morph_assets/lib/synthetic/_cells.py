"""Pixel rendering of one synthetic Cell Painting field of view.

The phenotype model in :mod:`morph_assets.lib.synthetic` decides what the cells of a well look
like on average (:class:`CellPopulation`); this module draws individual cells around those means
and turns them into camera images and exact ground-truth label masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Fluorescence channels in CPJUMP1 order (1 Mito, 2 AGP, 3 RNA, 4 ER, 5 DNA).
MITO, AGP, RNA, ER, DNA = 0, 1, 2, 3, 4
#: Brightfield channels 6 HighZBF, 7 LowZBF, 8 Brightfield, as indices into a rendered stack.
HIGH_Z_BF, LOW_Z_BF, BRIGHTFIELD = 5, 6, 7

# Camera model (counts = ADU): a dark offset plus illuminated autofluorescence keep the
# background at a few hundred counts, as in CPJUMP1 images.
CAMERA_OFFSET = 180.0
AUTOFLUORESCENCE = 140.0
ADU_PER_ELECTRON = 1.5
READ_NOISE_ADU = 6.0
BRIGHTFIELD_LEVEL = 4000.0
UINT16_MAX = 65535

_HARMONICS = np.arange(2, 5)
# Below this many pixels a nucleus (cut by the image border or a neighbour) is not a usable
# object; its cell is removed from image and masks alike.
_MIN_NUCLEUS_PIXELS = 4


@dataclass(frozen=True)
class CellPopulation:
    """Well-level mean morphology that the cells of one site are drawn around.

    Attributes
    ----------
    n_cells_mean : float
        Expected number of cell centres in the field of view.
    cell_radius : float
        Mean equivalent radius of a cell body in pixels.
    nucleus_fraction : float
        Mean nucleus radius divided by cell radius (the nuclear-to-cytoplasmic size ratio).
    cell_elongation, nucleus_elongation : float
        Mean major/minor axis ratio (>= 1).
    intensity : tuple of float
        Mean signal in counts above background of Mito, AGP, RNA, ER and DNA.
    mito_granularity : float
        Fraction (0-1) of mitochondrial signal in puncta rather than diffuse.
    er_reticulation : float
        Fraction (0-1) of ER signal following the reticular network.
    nucleoli_mean : float
        Mean number of nucleoli per nucleus (RNA channel).
    dna_texture : float
        Relative amplitude of chromatin texture in the DNA channel.
    agp_edge_power : float
        How sharply AGP concentrates at the cell edge (exponent of the radial profile).
    cell_variability : float
        Log-scale standard deviation of per-cell size and brightness.
    """

    n_cells_mean: float
    cell_radius: float
    nucleus_fraction: float
    cell_elongation: float
    nucleus_elongation: float
    intensity: tuple[float, float, float, float, float]
    mito_granularity: float
    er_reticulation: float
    nucleoli_mean: float
    dna_texture: float
    agp_edge_power: float
    cell_variability: float = 0.2


@dataclass(frozen=True)
class _Geometry:
    cells: np.ndarray  # int32 labels, consecutive
    nuclei: np.ndarray  # int32 labels, subset of cells
    cell_rho: np.ndarray  # normalised radial distance in the owning cell (0 centre, 1 edge)
    nucleus_rho: np.ndarray  # same within the nucleus, inf outside nuclei
    nucleus_centres: np.ndarray  # (n, 2) y, x
    nucleus_axes: np.ndarray  # (n, 2) semi-axes
    nucleus_angles: np.ndarray  # (n,)
    brightness: np.ndarray  # (n, 5) per-cell multiplicative factor per fluorescence channel


def _place_centres(n_target: int, size: int, min_distance: float, rng: np.random.Generator) -> np.ndarray:
    # Dart throwing: cells in a sub-confluent monolayer rarely pile on top of each other.
    candidates = rng.uniform(0.0, size, (max(4 * n_target, 8), 2))
    accepted = np.empty((n_target, 2))
    count = 0
    min_sq = min_distance**2
    for point in candidates:
        if count == n_target:
            break
        if count == 0 or np.min(np.sum((accepted[:count] - point) ** 2, axis=1)) > min_sq:
            accepted[count] = point
            count += 1
    return accepted[:count]


def _window(centre: np.ndarray, reach: float, size: int) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    y0, y1 = max(int(centre[0] - reach), 0), min(int(centre[0] + reach) + 2, size)
    x0, x1 = max(int(centre[1] - reach), 0), min(int(centre[1] + reach) + 2, size)
    dy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - centre[0])[:, None]
    dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - centre[1])[None, :]
    return slice(y0, y1), slice(x0, x1), dy, dx


def _blob_rho(
    dy: np.ndarray, dx: np.ndarray, axes: np.ndarray, angle: float, amplitudes: np.ndarray, phases: np.ndarray
) -> np.ndarray:
    """Normalised radial distance of an ellipse whose outline is perturbed by low harmonics."""
    cos, sin = np.cos(angle), np.sin(angle)
    u = dx * cos + dy * sin
    v = dy * cos - dx * sin
    q = np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2)
    phi = np.arctan2(v * axes[0], u * axes[1])
    outline = np.ones_like(q)
    for harmonic, amplitude, phase in zip(_HARMONICS, amplitudes, phases):
        outline += amplitude * np.cos(harmonic * phi + phase)
    return q / outline


def _draw_geometry(population: CellPopulation, size: int, rng: np.random.Generator) -> _Geometry:
    n_target = int(rng.poisson(population.n_cells_mean))
    centres = _place_centres(n_target, size, 1.5 * population.cell_radius, rng)
    n = len(centres)
    spread = population.cell_variability
    radius = population.cell_radius * np.exp(rng.normal(0.0, 0.6 * spread, n))
    elongation = population.cell_elongation * np.exp(np.abs(rng.normal(0.0, 0.5 * spread, n)))
    cell_axes = np.stack([radius * np.sqrt(elongation), radius / np.sqrt(elongation)], axis=1)
    cell_angle = rng.uniform(0.0, np.pi, n)
    cell_amp = rng.normal(0.0, 0.09, (n, len(_HARMONICS))) / np.sqrt(_HARMONICS)
    cell_phase = rng.uniform(0.0, 2 * np.pi, (n, len(_HARMONICS)))

    nucleus_radius = np.minimum(
        radius * population.nucleus_fraction * np.exp(rng.normal(0.0, 0.4 * spread, n)), 0.7 * radius
    )
    nucleus_elong = population.nucleus_elongation * np.exp(np.abs(rng.normal(0.0, 0.4 * spread, n)))
    nucleus_axes = np.stack(
        [nucleus_radius * np.sqrt(nucleus_elong), nucleus_radius / np.sqrt(nucleus_elong)], axis=1
    )
    # Nuclei sit near, not exactly at, the cell centre, roughly aligned with the cell's long axis.
    nucleus_angle = cell_angle + rng.normal(0.0, 0.3, n)
    offset_angle = rng.uniform(0.0, 2 * np.pi, n)
    offset = 0.15 * radius * np.sqrt(rng.uniform(0.0, 1.0, n))
    nucleus_centres = centres + np.stack([np.sin(offset_angle), np.cos(offset_angle)], axis=1) * offset[:, None]
    nucleus_amp = rng.normal(0.0, 0.04, (n, len(_HARMONICS))) / np.sqrt(_HARMONICS)
    nucleus_phase = rng.uniform(0.0, 2 * np.pi, (n, len(_HARMONICS)))
    shared = rng.normal(0.0, 0.6 * spread, (n, 1))
    brightness = np.exp(shared + rng.normal(0.0, 0.8 * spread, (n, 5)))

    # Each pixel goes to the cell in whose own shape metric it lies deepest: a size-weighted
    # Voronoi split, so touching cells never overlap and no gaps open between them.
    best = np.full((size, size), np.inf, dtype=np.float32)
    cells = np.zeros((size, size), dtype=np.int32)
    for i in range(n):
        reach = cell_axes[i, 0] * (1.0 + np.abs(cell_amp[i]).sum()) + 2.0
        rows, cols, dy, dx = _window(centres[i], reach, size)
        rho = _blob_rho(dy, dx, cell_axes[i], cell_angle[i], cell_amp[i], cell_phase[i])
        window_best = best[rows, cols]
        closer = rho < window_best
        window_best[closer] = rho[closer]
        cells[rows, cols][closer] = i + 1
    cells[best > 1.0] = 0

    nuclei = np.zeros((size, size), dtype=np.int32)
    nucleus_rho = np.full((size, size), np.inf, dtype=np.float32)
    for i in range(n):
        reach = nucleus_axes[i, 0] * (1.0 + np.abs(nucleus_amp[i]).sum()) + 2.0
        rows, cols, dy, dx = _window(nucleus_centres[i], reach, size)
        rho = _blob_rho(dy, dx, nucleus_axes[i], nucleus_angle[i], nucleus_amp[i], nucleus_phase[i])
        inside = (rho <= 1.0) & (cells[rows, cols] == i + 1)
        nuclei[rows, cols][inside] = i + 1
        nucleus_rho[rows, cols][inside] = rho[inside]

    keep = np.bincount(nuclei.ravel(), minlength=n + 1)[1:] >= _MIN_NUCLEUS_PIXELS
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    cells, nuclei = relabel[cells], relabel[nuclei]
    dropped = (cells == 0) & np.isfinite(best) & (best <= 1.0)
    best[dropped] = np.inf
    nucleus_rho[nuclei == 0] = np.inf
    return _Geometry(
        cells=cells,
        nuclei=nuclei,
        cell_rho=best,
        nucleus_rho=nucleus_rho,
        nucleus_centres=nucleus_centres[keep],
        nucleus_axes=nucleus_axes[keep],
        nucleus_angles=nucleus_angle[keep],
        brightness=brightness[keep],
    )


def _smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    return field / max(float(field.std()), 1e-6)


def _spots(
    flat_positions: np.ndarray, masses: np.ndarray, size: int, sigma: float
) -> np.ndarray:
    impulses = np.bincount(flat_positions, weights=masses, minlength=size * size).astype(np.float32)
    return ndimage.gaussian_filter(impulses.reshape(size, size), sigma)


def _fluorescence(
    population: CellPopulation, geometry: _Geometry, size: int, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Noise-free stain signal (5, H, W) in counts above background, before optics and camera."""
    cells, nuclei = geometry.cells, geometry.nuclei
    in_cell = cells > 0
    in_nucleus = nuclei > 0
    cytoplasm = in_cell & ~in_nucleus
    rho = np.where(in_cell, np.minimum(geometry.cell_rho, 1.0), 1.0).astype(np.float32)
    rho_n = np.where(in_nucleus, geometry.nucleus_rho, 1.0).astype(np.float32)
    per_cell = np.vstack([np.zeros((1, 5)), geometry.brightness * np.asarray(population.intensity)])
    level = per_cell.astype(np.float32)[cells]  # (H, W, 5): each pixel's cell brightness
    signal = np.zeros((5, size, size), dtype=np.float32)

    chromatin = _smooth_noise((size, size), 0.04 * scale, rng)
    signal[DNA] = in_nucleus * level[..., DNA] * np.clip(
        (1.0 + population.dna_texture * chromatin) * (1.0 - 0.25 * rho_n**2), 0.0, None
    )

    # Mitochondrial puncta carry a fraction of the signal; the mean stays put, only texture moves.
    granularity = population.mito_granularity
    diffuse = (1.3 - 0.6 * rho) * (1.0 - granularity)
    signal[MITO] = level[..., MITO] * np.where(cytoplasm, diffuse, 0.1 * in_nucleus)
    cytoplasm_index = np.flatnonzero(cytoplasm)
    if cytoplasm_index.size:
        spacing = 0.16 * scale
        n_puncta = int(rng.poisson(cytoplasm_index.size / spacing**2))
        picks = cytoplasm_index[rng.integers(0, cytoplasm_index.size, n_puncta)]
        mass = level.reshape(-1, 5)[picks, MITO] * granularity * spacing**2 * (1.3 - 0.6 * rho.ravel()[picks])
        signal[MITO] += _spots(picks, mass, size, 0.035 * scale)

    power = population.agp_edge_power
    agp_profile = 0.3 + 0.7 * rho**power * (power + 2.0) / 2.0
    actin = 1.0 + 0.25 * _smooth_noise((size, size), 0.1 * scale, rng)
    signal[AGP] = in_cell * level[..., AGP] * np.clip(agp_profile * actin, 0.0, None)

    signal[RNA] = level[..., RNA] * np.where(cytoplasm, 0.7 + 0.5 * (1.0 - rho), 0.3 * in_nucleus)
    n_cells = len(geometry.brightness)
    if n_cells:
        counts = rng.poisson(population.nucleoli_mean, n_cells)
        owner = np.repeat(np.arange(n_cells), counts)
        radial = 0.55 * np.sqrt(rng.uniform(0.0, 1.0, owner.size))
        theta = rng.uniform(0.0, 2 * np.pi, owner.size)
        u = radial * np.cos(theta) * geometry.nucleus_axes[owner, 0]
        v = radial * np.sin(theta) * geometry.nucleus_axes[owner, 1]
        angle = geometry.nucleus_angles[owner]
        y = geometry.nucleus_centres[owner, 0] + u * np.sin(angle) + v * np.cos(angle)
        x = geometry.nucleus_centres[owner, 1] + u * np.cos(angle) - v * np.sin(angle)
        row, col = np.floor(y).astype(int), np.floor(x).astype(int)
        visible = (row >= 0) & (row < size) & (col >= 0) & (col < size)
        sigma = 0.05 * scale
        mass = 1.5 * per_cell[owner + 1, RNA] * 2 * np.pi * sigma**2
        signal[RNA] += _spots(row[visible] * size + col[visible], mass[visible], size, sigma)

    # ER: a reticular network (zero crossings of band-passed noise), densest around the nucleus.
    white = rng.standard_normal((size, size), dtype=np.float32)
    band = ndimage.gaussian_filter(white, 0.035 * scale) - ndimage.gaussian_filter(white, 0.07 * scale)
    network = np.clip(1.0 - np.abs(band) / (0.7 * max(float(band.std()), 1e-6)), 0.0, 1.0)
    network /= max(float(network.mean()), 1e-6)
    reticulation = population.er_reticulation
    er_profile = np.clip(1.45 - rho, 0.2, 1.0) * ((1.0 - reticulation) + reticulation * network)
    signal[ER] = level[..., ER] * np.where(cytoplasm, er_profile, 0.15 * in_nucleus)
    return signal


def _brightfield(geometry: _Geometry, size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Relative transmitted-light images (3, H, W): cells are faint outlines, focus-dependent."""
    rho = np.where(np.isfinite(geometry.cell_rho), geometry.cell_rho, 10.0)
    outline = np.exp(-(((rho - 1.0) / 0.08) ** 2))
    nucleus_outline = np.exp(-(((np.where(np.isfinite(geometry.nucleus_rho), geometry.nucleus_rho, 10.0) - 1.0) / 0.1) ** 2))
    in_cell = (geometry.cells > 0).astype(np.float32)
    grain = _smooth_noise((size, size), 0.05 * scale, rng)
    return np.stack(
        [
            1.0 + 0.10 * outline - 0.03 * in_cell + 0.03 * nucleus_outline,
            1.0 - 0.10 * outline + 0.04 * in_cell - 0.02 * nucleus_outline,
            1.0 - 0.04 * outline + 0.01 * in_cell * grain,
        ]
    ).astype(np.float32)


def render_cells(
    population: CellPopulation,
    size: int,
    cell_diameter_px: float,
    gains: np.ndarray,
    illumination: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one field of view: camera images and the exact label masks of its cells.

    Parameters
    ----------
    population : CellPopulation
        Mean morphology of the well's cells at this site.
    size : int
        Image side in pixels.
    cell_diameter_px : float
        Reference cell diameter; sets the pixel scale of textures, puncta and blur.
    gains : numpy.ndarray
        Per-channel intensity gain, one value per rendered channel (5 or 8).
    illumination : numpy.ndarray
        Flat-field, float (C, H, W) with C = len(gains), multiplied into the signal.
    rng : numpy.random.Generator
        The site's own generator; nothing else is drawn from it concurrently.

    Returns
    -------
    images : numpy.ndarray
        uint16 (C, H, W) in CPJUMP1 channel order (1 Mito ... 5 DNA, then 6-8 brightfield).
    nuclei : numpy.ndarray
        int32 (H, W) nucleus labels, 0 background.
    cells : numpy.ndarray
        int32 (H, W) cell labels; cell ``i`` contains nucleus ``i``; labels are 1..n.
    """
    n_channels = len(gains)
    geometry = _draw_geometry(population, size, rng)
    signal = _fluorescence(population, geometry, size, cell_diameter_px, rng)
    if n_channels > 5:
        brightfield = _brightfield(geometry, size, cell_diameter_px, rng) * np.float32(BRIGHTFIELD_LEVEL)
        signal = np.concatenate([signal, brightfield[: n_channels - 5]])
    blur = 0.018 * cell_diameter_px
    images = np.empty((n_channels, size, size), dtype=np.uint16)
    for channel in range(n_channels):
        optical = ndimage.gaussian_filter(signal[channel], blur) if blur > 0.3 else signal[channel]
        photons = (optical * np.float32(gains[channel]) + np.float32(AUTOFLUORESCENCE)) * illumination[channel]
        electrons = rng.poisson(np.maximum(photons, 0.0) / ADU_PER_ELECTRON).astype(np.float32)
        counts = CAMERA_OFFSET + electrons * ADU_PER_ELECTRON
        counts += rng.standard_normal((size, size), dtype=np.float32) * np.float32(READ_NOISE_ADU)
        images[channel] = np.clip(np.rint(counts), 0, UINT16_MAX).astype(np.uint16)
    return images, geometry.nuclei, geometry.cells
