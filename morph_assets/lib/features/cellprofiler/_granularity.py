"""CellProfiler's MeasureGranularity with the image work done once per channel.

``cp_measure.core.measuregranularity.get_granularity(mask, pixels)`` does two things: an image
part that never looks at the mask (subsample by 1/4, subtract a background opened with a
radius-10 disk on a further 1/4 subsample, then 16 rounds of erosion with the radius-1 cross
followed by greyscale reconstruction), and a per-object part (upsample each reconstruction back
and average it per object). Called per object type it repeats the image part for each; here the
image part runs once per channel (:func:`granularity_spectrum`) and is shared by Nuclei, Cells
and Cytoplasm (:func:`granularity_features`).

The reconstruction is the expensive step (scikit-image's sort-based ``reconstruction``). It is
replaced by Vincent's (1993) hybrid raster-scan + FIFO algorithm in numba. Reconstruction by
dilation is uniquely defined and only copies values, so the result is bit-identical.
The upsample-and-average operator is cp-measure's own (``_make_fused_upsample_mean``), so the
per-object numbers are the same computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.ndimage
import skimage.morphology
from cp_measure.core.measuregranularity import _make_fused_upsample_mean

SUBSAMPLE_SIZE = 0.25
IMAGE_SAMPLE_SIZE = 0.25
ELEMENT_SIZE = 10
SPECTRUM_LENGTH = 16


@numba.njit(cache=True)
def _reconstruct_by_dilation(seed, mask):
    """Greyscale reconstruction of ``seed`` under ``mask`` (seed <= mask), 4-connectivity."""
    height, width = seed.shape
    out = np.minimum(seed, mask)
    # forward raster scan (neighbours above and to the left)
    for y in range(height):
        for x in range(width):
            v = out[y, x]
            if y > 0 and out[y - 1, x] > v:
                v = out[y - 1, x]
            if x > 0 and out[y, x - 1] > v:
                v = out[y, x - 1]
            out[y, x] = min(v, mask[y, x])
    # backward raster scan (below and to the right), queueing pixels that can still spread
    # each pixel sits in the FIFO at most once (a queued pixel spreads its value when popped)
    queued = np.zeros(height * width, np.bool_)
    queue = np.empty(height * width + 1, np.int64)
    head = 0
    tail = 0
    size = queue.shape[0]
    for y in range(height - 1, -1, -1):
        for x in range(width - 1, -1, -1):
            v = out[y, x]
            if y < height - 1 and out[y + 1, x] > v:
                v = out[y + 1, x]
            if x < width - 1 and out[y, x + 1] > v:
                v = out[y, x + 1]
            v = min(v, mask[y, x])
            out[y, x] = v
            push = False
            if y < height - 1 and out[y + 1, x] < v and out[y + 1, x] < mask[y + 1, x]:
                push = True
            if x < width - 1 and out[y, x + 1] < v and out[y, x + 1] < mask[y, x + 1]:
                push = True
            if push:
                queue[tail % size] = y * width + x
                queued[y * width + x] = True
                tail += 1
    while head < tail:
        p = queue[head % size]
        queued[p] = False
        head += 1
        y = p // width
        x = p - y * width
        v = out[y, x]
        for k in range(4):
            if k == 0:
                yy, xx = y - 1, x
            elif k == 1:
                yy, xx = y + 1, x
            elif k == 2:
                yy, xx = y, x - 1
            else:
                yy, xx = y, x + 1
            if yy < 0 or yy >= height or xx < 0 or xx >= width:
                continue
            q = out[yy, xx]
            m = mask[yy, xx]
            if q < v and q != m:
                out[yy, xx] = min(v, m)
                if not queued[yy * width + xx]:
                    queued[yy * width + xx] = True
                    queue[tail % size] = yy * width + xx
                    tail += 1
    return out


def reconstruction(seed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Same result as ``skimage.morphology.reconstruction(seed, mask, footprint=disk(1))``.

    Parameters
    ----------
    seed : numpy.ndarray
        (M, N) image to dilate, nowhere above ``mask``.
    mask : numpy.ndarray
        (M, N) image bounding the dilation.

    Returns
    -------
    numpy.ndarray
        The morphological reconstruction by dilation.
    """
    return _reconstruct_by_dilation(
        np.ascontiguousarray(seed, dtype=np.float64), np.ascontiguousarray(mask, dtype=np.float64)
    )


@dataclass(frozen=True)
class GranularitySpectrum:
    """The mask-independent part of MeasureGranularity for one image.

    Attributes
    ----------
    original : numpy.ndarray
        The full-size input (per-object start means use it).
    subsampled_shape : numpy.ndarray
        Shape of the 1/4 grid.
    reconstructions : tuple of numpy.ndarray
        One per spectrum step, on the 1/4 grid.
    """

    original: np.ndarray  # the full-size input (per-object start means use it)
    subsampled_shape: np.ndarray  # shape of the 1/4 grid
    reconstructions: tuple[np.ndarray, ...]  # one per spectrum step, on the 1/4 grid


def _resample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return scipy.ndimage.map_coordinates(image, (rows, cols), order=1)


def granularity_spectrum(pixels: np.ndarray, spectrum_length: int = SPECTRUM_LENGTH) -> GranularitySpectrum:
    """Background-subtract and granulate one 2-D float image as CellProfiler/cp-measure do.

    Parameters
    ----------
    pixels : numpy.ndarray
        (M, N) float image.
    spectrum_length : int, optional
        Number of granularity steps, by default :data:`SPECTRUM_LENGTH`.

    Returns
    -------
    GranularitySpectrum
        The image's part of the measurement, shared by every object type measured on it.
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    orig_shape = np.array(pixels.shape)
    small_shape = (orig_shape * SUBSAMPLE_SIZE).astype(int)
    if (small_shape < 2).any():
        raise ValueError(f"image {tuple(orig_shape)} too small for granularity at 1/4 subsampling")
    rows, cols = np.mgrid[0 : small_shape[0], 0 : small_shape[1]].astype(float) / SUBSAMPLE_SIZE
    small = _resample(pixels, rows, cols)
    # background: opening with a radius-10 disk on a further 1/4 subsample, brought back up
    back_shape = small_shape * IMAGE_SAMPLE_SIZE
    rows, cols = np.mgrid[0 : back_shape[0], 0 : back_shape[1]].astype(float) / IMAGE_SAMPLE_SIZE
    background = _resample(small, rows, cols)
    disk = skimage.morphology.disk(ELEMENT_SIZE, dtype=bool)
    background = skimage.morphology.dilation(skimage.morphology.erosion(background, footprint=disk), footprint=disk)
    rows, cols = np.mgrid[0 : small_shape[0], 0 : small_shape[1]].astype(float)
    rows *= (back_shape[0] - 1) / (small_shape[0] - 1)
    cols *= (back_shape[1] - 1) / (small_shape[1] - 1)
    small -= _resample(background, rows, cols)
    small[small < 0] = 0
    cross = skimage.morphology.disk(1, dtype=bool)
    eroded = small
    reconstructions = []
    for _ in range(spectrum_length):
        eroded = skimage.morphology.erosion(eroded, footprint=cross)
        reconstructions.append(reconstruction(eroded, small))
    return GranularitySpectrum(pixels, small_shape, tuple(reconstructions))


class GranularityObjects:
    """The mask-dependent part of MeasureGranularity for one label image, reusable across channels.

    Parameters
    ----------
    labels : numpy.ndarray
        (M, N) label image with labels ``1..N``.
    spectrum : GranularitySpectrum
        The spectrum of any channel of the same site (only its subsampled shape is used here).
    """

    def __init__(self, labels: np.ndarray, spectrum: GranularitySpectrum) -> None:
        self.labels = labels
        self.n_objects = int(labels.max(initial=0))
        self._mean = None
        if self.n_objects:
            self._mean = _make_fused_upsample_mean(
                np.array(labels.shape), spectrum.subsampled_shape, labels
            )

    def features(self, spectrum: GranularitySpectrum) -> np.ndarray:
        """``(spectrum_length, n_objects)`` granularity percentages ``Granularity_1..16``."""
        n_steps = len(spectrum.reconstructions)
        out = np.zeros((n_steps, self.n_objects))
        if not self.n_objects:
            return out
        index = np.arange(1, self.n_objects + 1)
        current = np.asarray(scipy.ndimage.mean(spectrum.original, self.labels, index), dtype=float)
        start = np.maximum(current, np.finfo(float).eps)
        for step, rec in enumerate(spectrum.reconstructions):
            new = self._mean(rec)
            out[step] = (current - new) * 100 / start
            current = new
        return out
