"""CellProfiler's classical Cell Painting segmentation recipe, without CellProfiler.

Nuclei are CellProfiler's IdentifyPrimaryObjects on the DNA image: Gaussian smoothing, a global
Otsu or minimum cross-entropy threshold, hole filling, watershed declumping seeded by peaks of
the distance transform spaced by the smallest nucleus diameter, a size filter and removal of objects touching the
border. Cells are IdentifySecondaryObjects by propagation: a watershed on the cell-body image
seeded by the nuclei and confined to its thresholded foreground. Cytoplasm is cells minus nuclei
(IdentifyTertiaryObjects).

Every length scale derives from the expected nucleus diameter, so the same code serves 96 px
test images, 192 px synthetic sites and 1080 px full-size CPJUMP1 sites.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import sobel, threshold_li, threshold_otsu
from skimage.morphology import remove_small_holes
from skimage.segmentation import clear_border, relabel_sequential, watershed

from morph_assets.lib.segment._base import SegmentationSettings, SiteSegmentation, make_consistent


@dataclass(frozen=True)
class PrimaryObjects:
    """Result of :func:`identify_primary_objects`.

    Attributes
    ----------
    labels : numpy.ndarray
        int32 (M, N) accepted objects, labels ``1..n``.
    unedited : numpy.ndarray
        int32 (M, N) every object before the size and border filters. CellProfiler seeds the
        secondary objects with these, so that a discarded nucleus still claims its own cell
        instead of letting its neighbours grow into it.
    threshold : float
        The global threshold applied, after the correction factor.
    """

    labels: np.ndarray
    unedited: np.ndarray
    threshold: float


def global_threshold(image: np.ndarray, method: str, mask: np.ndarray | None = None) -> float:
    """Return a global threshold of ``image`` by Otsu's or Li's minimum cross-entropy method.

    Parameters
    ----------
    image : numpy.ndarray
        (M, N) float image.
    method : str
        ``"otsu"`` or ``"minimum_cross_entropy"``.
    mask : numpy.ndarray, optional
        (M, N) bool; only these pixels are considered.

    Returns
    -------
    float
        The threshold; foreground is ``image > threshold``.
    """
    values = image[mask] if mask is not None else image.ravel()
    if values.size == 0 or float(values.min()) == float(values.max()):
        # Nothing to separate: put the threshold above every pixel, so nothing is foreground.
        return float(values.max()) if values.size else 0.0
    if method == "otsu":
        return float(threshold_otsu(values))
    if method == "minimum_cross_entropy":
        return float(threshold_li(values))
    raise ValueError(f"unknown threshold method {method!r}")


def _equivalent_diameters(labels: np.ndarray) -> np.ndarray:
    areas = np.bincount(labels.ravel())
    return 2.0 * np.sqrt(areas / np.pi)


def identify_primary_objects(
    image: np.ndarray,
    *,
    diameter_range: tuple[float, float],
    threshold_method: str = "otsu",
    threshold_correction: float = 1.0,
    declump: bool = True,
    discard_border_objects: bool = True,
) -> PrimaryObjects:
    """Find bright round objects (nuclei) the way CellProfiler's IdentifyPrimaryObjects does.

    Parameters
    ----------
    image : numpy.ndarray
        (M, N) float image, objects bright on a dark background.
    diameter_range : tuple of float
        Smallest and largest object diameter in pixels (area-equivalent diameter).
    threshold_method : str, optional
        ``"otsu"`` or ``"minimum_cross_entropy"``.
    threshold_correction : float, optional
        Factor the automatic threshold is multiplied by.
    declump : bool, optional
        Split touching objects by a watershed seeded by distance-transform peaks.
    discard_border_objects : bool, optional
        Remove objects touching the image border.

    Returns
    -------
    PrimaryObjects
        Accepted and unedited labels and the threshold.
    """
    low, high = diameter_range
    image = np.asarray(image, dtype=np.float32)
    # Light smoothing before thresholding removes pixel noise without moving object edges.
    smoothed = ndimage.gaussian_filter(image, max(0.5, low / 10.0))
    threshold = global_threshold(smoothed, threshold_method) * threshold_correction
    foreground = smoothed > threshold
    # Fill holes up to the largest nucleus: dim nucleoli or chromatin gaps, not a ring of cells.
    foreground = remove_small_holes(foreground, max_size=int(np.pi * (high / 2.0) ** 2))
    clumps, n_clumps = ndimage.label(foreground)
    if declump and n_clumps:
        # CellProfiler's "Shape" declumping: peaks of the distance transform mark nucleus
        # centres (touching nuclei meet at a neck), spaced at least half a small nucleus apart;
        # the blurred DNA intensity (CellProfiler's automatic smoothing, diameter / 3.5) only
        # breaks ties on flat ridges. (On the synthetic sites intensity-led peaks scored the same.)
        declump_image = ndimage.gaussian_filter(image, low / 3.5)
        distance = ndimage.distance_transform_edt(foreground)
        score = distance / max(float(distance.max()), 1e-12)
        score = score + 0.01 * declump_image / max(float(declump_image.max()), 1e-12)
        peaks = peak_local_max(
            score, min_distance=max(1, int(round(low / 2.0))), labels=clumps, exclude_border=False
        )
        markers = np.zeros(image.shape, dtype=np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
        # A clump without a peak (flat plateau) still becomes one object.
        unmarked = np.setdiff1d(np.arange(1, n_clumps + 1), np.unique(clumps[markers > 0]))
        if unmarked.size:
            lookup = np.zeros(n_clumps + 1, dtype=np.int32)
            lookup[unmarked] = np.arange(len(peaks) + 1, len(peaks) + 1 + unmarked.size, dtype=np.int32)
            first_pixel = ndimage.maximum_position(score, clumps, unmarked)
            for label, position in zip(unmarked, first_pixel):
                markers[position] = lookup[label]
        unedited = watershed(-score, markers, mask=foreground).astype(np.int32)
    else:
        unedited = clumps.astype(np.int32)

    diameters = _equivalent_diameters(unedited)
    keep = (diameters >= low) & (diameters <= high)
    keep[0] = False
    labels = np.where(keep[unedited], unedited, 0)
    if discard_border_objects:
        labels = clear_border(labels)
    labels = relabel_sequential(labels)[0].astype(np.int32)
    return PrimaryObjects(labels=labels, unedited=unedited, threshold=float(threshold))


def identify_secondary_objects(
    primary: PrimaryObjects,
    image: np.ndarray,
    *,
    threshold_method: str = "otsu",
    threshold_correction: float = 1.0,
    smoothing_sigma: float = 1.0,
) -> np.ndarray:
    """Grow cells from nuclei over the cell-body image (CellProfiler's Propagation method).

    CellProfiler's propagation spreads each seed along paths of small intensity change and
    small distance; a watershed on the gradient magnitude of the smoothed cell-body image,
    seeded by the nuclei and confined to the thresholded foreground, follows the same edges.

    Parameters
    ----------
    primary : PrimaryObjects
        Nuclei; all unedited nuclei seed the watershed, only accepted ones keep their cell.
    image : numpy.ndarray
        (M, N) float cell-body image.
    threshold_method : str, optional
        ``"otsu"`` or ``"minimum_cross_entropy"`` for the cell foreground.
    threshold_correction : float, optional
        Factor the automatic threshold is multiplied by.
    smoothing_sigma : float, optional
        Gaussian smoothing before the gradient, in pixels.

    Returns
    -------
    numpy.ndarray
        int32 (M, N) cells, labelled like the accepted nuclei of ``primary.labels``.
    """
    image = np.asarray(image, dtype=np.float32)
    smoothed = ndimage.gaussian_filter(image, smoothing_sigma)
    threshold = global_threshold(smoothed, threshold_method) * threshold_correction
    seeds = primary.unedited
    foreground = (smoothed > threshold) | (seeds > 0)
    grown = watershed(sobel(smoothed), seeds, mask=foreground)
    # Map each unedited seed to its accepted nucleus label (0 when the nucleus was discarded).
    accepted = np.zeros(int(seeds.max(initial=0)) + 1, dtype=np.int32)
    both = (primary.labels > 0)
    accepted[seeds[both]] = primary.labels[both]
    cells = accepted[grown]
    # Cells are filled objects: a dark background hole inside a cell belongs to it (a
    # neighbouring cell it surrounds stays that cell).
    filled = cells.copy()
    for label, region in enumerate(ndimage.find_objects(cells), start=1):
        if region is not None:
            inside = ndimage.binary_fill_holes(cells[region] == label)
            filled[region][inside & (cells[region] == 0)] = label
    return filled


def segment_classical(images: Mapping[str, np.ndarray], settings: SegmentationSettings) -> SiteSegmentation:
    """Segment one site with the classical CellProfiler recipe.

    Parameters
    ----------
    images : mapping of str to numpy.ndarray
        (M, N) float images keyed by channel name; must hold ``settings.nucleus_channel`` and
        ``settings.cell_channel``.
    settings : SegmentationSettings
        Channels, nucleus diameter range, threshold method and filters.

    Returns
    -------
    SiteSegmentation
        Nuclei, cells and cytoplasm with matching labels.
    """
    for channel in (settings.nucleus_channel, settings.cell_channel):
        if channel not in images:
            raise ValueError(f"channel {channel!r} is missing; got {sorted(images)}")
    nucleus_image = np.asarray(images[settings.nucleus_channel])
    cell_image = np.asarray(images[settings.cell_channel])
    if nucleus_image.shape != cell_image.shape or nucleus_image.ndim != 2:
        raise ValueError(f"images must be 2-D and of one shape, got {nucleus_image.shape} and {cell_image.shape}")
    primary = identify_primary_objects(
        nucleus_image,
        diameter_range=settings.nucleus_diameter_range,
        threshold_method=settings.threshold_method,
        threshold_correction=settings.nucleus_threshold_correction,
        declump=settings.declump,
        discard_border_objects=settings.discard_border_objects,
    )
    cells = identify_secondary_objects(
        primary,
        cell_image,
        threshold_method=settings.cell_threshold_method or settings.threshold_method,
        threshold_correction=settings.cell_threshold_correction,
        smoothing_sigma=max(0.5, settings.nucleus_diameter_range[0] / 8.0),
    )
    return make_consistent(primary.labels, cells)
