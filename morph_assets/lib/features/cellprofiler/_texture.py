"""Haralick texture for every object of a label image at once (CellProfiler's MeasureTexture).

Reproduces ``cp_measure.core.measuretexture.get_texture`` (mahotas ``haralick`` on each object's
crop with ``ignore_zeros=True``), without a Python loop over objects:

* the image is quantised once to 256 levels by :func:`quantize` (``rint(255 * x)`` for x in
  [0, 1], exactly ``skimage.util.img_as_ubyte`` as cp-measure and CellProfiler use it; values
  above 1 take the top level, as in CellProfiler's default pipeline), and pixels outside their
  object count as level 0;
* for each of the four 2-D directions ``(0, 1), (1, 1), (1, 0), (1, -1)`` times ``scale``, a pair
  counts when both pixels lie in the same object and both levels are non-zero; the matrix is
  symmetric (each pair counted both ways), as mahotas builds it;
* the 13 features follow mahotas' formulas, including its two size-dependent quirks: the matrix
  side is the object's largest level + 1 (this enters ``DifferenceVariance``, the plain variance
  of the ``|i - j|`` marginal over that many entries), and ``Correlation`` is 1 when a marginal
  has zero variance. An object with no valid pair in some direction gets NaN everywhere (mahotas
  raises and cp-measure catches it).

The co-occurrence counts are accumulated per object inside a numba kernel that walks each
object's bounding box and touches only the matrix cells it fills, so the cost is linear in the
object pixels instead of (objects x 256^2).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.ndimage

from morph_assets.lib.plates import scale_image

HARALICK_FEATURES: tuple[str, ...] = (
    "AngularSecondMoment",
    "Contrast",
    "Correlation",
    "Variance",
    "InverseDifferenceMoment",
    "SumAverage",
    "SumVariance",
    "SumEntropy",
    "Entropy",
    "DifferenceVariance",
    "DifferenceEntropy",
    "InfoMeas1",
    "InfoMeas2",
)
#: (dy, dx) unit offsets of the four 2-D directions, in CellProfiler's ``_00``..``_03`` order.
DIRECTIONS: tuple[tuple[int, int], ...] = ((0, 1), (1, 1), (1, 0), (1, -1))


@numba.njit(cache=True)
def _entropy_terms(values, n):
    total = 0.0
    for index in range(n):
        v = values[index]
        if v != 0.0:
            total -= v * np.log2(v)
    return total


@numba.njit(cache=True)
def _object_features(counts, touched_i, touched_j, n_touched, max_level, out):
    """13 Haralick features of one direction from the touched cells of a symmetric count matrix."""
    size = max_level + 1
    total = 0.0
    for t in range(n_touched):
        total += counts[touched_i[t], touched_j[t]]
    px = np.zeros(size)
    plus = np.zeros(2 * size)
    minus = np.zeros(size)
    asm = 0.0
    entropy = 0.0
    idm = 0.0
    sum_ij = 0.0
    for t in range(n_touched):
        i = touched_i[t]
        j = touched_j[t]
        p = counts[i, j] / total
        asm += p * p
        entropy -= p * np.log2(p)
        d = i - j
        idm += p / (1.0 + d * d)
        sum_ij += i * j * p
        px[i] += p
        plus[i + j] += p
        minus[abs(d)] += p
    mean = 0.0
    second = 0.0
    for k in range(size):
        mean += px[k] * k
        second += px[k] * k * k
    variance = second - mean * mean
    contrast = 0.0
    minus_sum = 0.0
    minus_sq = 0.0
    for k in range(size):
        contrast += k * k * minus[k]
        minus_sum += minus[k]
        minus_sq += minus[k] * minus[k]
    sum_average = 0.0
    sum_second = 0.0
    for k in range(2 * size):
        sum_average += k * plus[k]
        sum_second += k * k * plus[k]
    sd = np.sqrt(variance)
    if sd == 0.0:
        correlation = 1.0
    else:
        correlation = (1.0 / sd / sd) * (sum_ij - mean * mean)
    # mahotas: numpy's var() of the |i-j| marginal over the matrix side
    minus_mean = minus_sum / size
    difference_variance = 0.0
    for k in range(size):
        difference_variance += (minus[k] - minus_mean) ** 2
    difference_variance /= size
    hx = _entropy_terms(px, size)
    hxy1 = 0.0
    for t in range(n_touched):
        i = touched_i[t]
        j = touched_j[t]
        p = counts[i, j] / total
        hxy1 -= p * np.log2(px[i] * px[j])
    hxy2 = 0.0
    for i in range(size):
        if px[i] == 0.0:
            continue
        for j in range(size):
            q = px[i] * px[j]
            if q != 0.0:
                hxy2 -= q * np.log2(q)
    out[0] = asm
    out[1] = contrast
    out[2] = correlation
    out[3] = variance
    out[4] = idm
    out[5] = sum_average
    out[6] = sum_second - sum_average * sum_average
    out[7] = _entropy_terms(plus, 2 * size)
    out[8] = entropy
    out[9] = difference_variance
    out[10] = _entropy_terms(minus, size)
    if hx == 0.0:
        out[11] = entropy - hxy1
    else:
        out[11] = (entropy - hxy1) / hx
    out[12] = np.sqrt(max(0.0, 1.0 - np.exp(-2.0 * (hxy2 - entropy))))


@numba.njit(cache=True)
def _haralick_kernel(labels, levels, boxes, offsets, out):
    """Fill ``out[direction, feature, object]`` for objects 1..N with bounding ``boxes``."""
    height, width = labels.shape
    counts = np.zeros((256, 256), np.float64)
    capacity = 256 * 256
    touched_i = np.empty(capacity, np.int64)
    touched_j = np.empty(capacity, np.int64)
    features = np.empty(13)
    for obj in range(boxes.shape[0]):
        label = obj + 1
        y0, y1, x0, x1 = boxes[obj, 0], boxes[obj, 1], boxes[obj, 2], boxes[obj, 3]
        if y1 <= y0:
            out[:, :, obj] = np.nan
            continue
        max_level = 0
        for y in range(y0, y1):
            for x in range(x0, x1):
                if labels[y, x] == label and levels[y, x] > max_level:
                    max_level = levels[y, x]
        for direction in range(offsets.shape[0]):
            dy = offsets[direction, 0]
            dx = offsets[direction, 1]
            n_touched = 0
            for y in range(y0, y1):
                yy = y + dy
                if yy < 0 or yy >= height:
                    continue
                for x in range(x0, x1):
                    a = levels[y, x]
                    if a == 0 or labels[y, x] != label:
                        continue
                    xx = x + dx
                    if xx < 0 or xx >= width:
                        continue
                    b = levels[yy, xx]
                    if b == 0 or labels[yy, xx] != label:
                        continue
                    if counts[a, b] == 0.0:
                        touched_i[n_touched] = a
                        touched_j[n_touched] = b
                        n_touched += 1
                    counts[a, b] += 1.0
                    if counts[b, a] == 0.0:
                        touched_i[n_touched] = b
                        touched_j[n_touched] = a
                        n_touched += 1
                    counts[b, a] += 1.0
            if n_touched == 0:
                out[:, :, obj] = np.nan
                break
            _object_features(counts, touched_i, touched_j, n_touched, max_level, features)
            out[direction, :, obj] = features
            for t in range(n_touched):
                counts[touched_i[t], touched_j[t]] = 0.0
        # a later empty direction must blank the earlier ones too (mahotas raises for the object)


def bounding_boxes(labels: np.ndarray, n_objects: int) -> np.ndarray:
    """Return the ``[y0, y1, x0, x1)`` bounding box of every label 1..n (an empty box if absent).

    Parameters
    ----------
    labels : numpy.ndarray
        (M, N) label image.
    n_objects : int
        Number of label slots.

    Returns
    -------
    numpy.ndarray
        ``(n_objects, 4)`` int64 boxes.
    """
    boxes = np.zeros((n_objects, 4), np.int64)
    for index, box in enumerate(scipy.ndimage.find_objects(labels, max_label=n_objects)):
        if box is not None:
            boxes[index] = (box[0].start, box[0].stop, box[1].start, box[1].stop)
    return boxes


def quantize(pixels: np.ndarray) -> np.ndarray:
    """Quantise a whole image to the 256 gray levels of MeasureTexture (one fixed mapping, no stretch).

    The rule is ``level = rint(255 * min(max(x, 0), 1))``, computed in the image's float type:

    * for x in [0, 1] it is exactly ``skimage.util.img_as_ubyte(x)``, which CellProfiler's
      MeasureTexture calls on the image (``src/frontend/cellprofiler/modules/measuretexture.py``,
      ``run_one``, CellProfiler main at commit 5b9c361, 5.0.0 development; the same call since
      CellProfiler 3) and cp-measure too (``cp_measure/core/measuretexture.py`` ``_prep``,
      cp-measure 0.3.0), so the Haralick numbers equal theirs;
    * above 1 (a flat-field function below 1 brightens pixels past the full scale),
      ``img_as_ubyte`` raises "Images of type float must be between -1 and 1", in CellProfiler
      as here before. CellProfiler's pipelines never hand it such an image: CorrectIlluminationApply
      clips its output at 1 by default ("Set output image values greater than 1 equal to 1?",
      Yes; ``correctilluminationapply.py``, same commit). Clipping here gives the texture that
      CellProfiler's default pipeline measures, while the other families keep the values above 1;
    * below 0 ``img_as_ubyte`` gives level 0 as well (the contract never produces negatives).

    Parameters
    ----------
    pixels : (M, N) ndarray
        Image on the intensity contract's scale (float; values above 1 allowed). Integer images
        are first put on that scale by :func:`morph_assets.lib.plates.scale_image`.

    Returns
    -------
    (M, N) uint8 ndarray
        Gray levels 0..255.

    Raises
    ------
    ValueError
        If a pixel is NaN or infinite (it has no level).

    Examples
    --------
    >>> quantize(np.array([[0.0, 0.5, 1.0, 1.3]])).tolist()
    [[0, 128, 255, 255]]
    """
    pixels = np.asarray(pixels)
    if pixels.dtype.kind != "f":
        pixels = scale_image(pixels, dtype=np.float64)
    if not np.all(np.isfinite(pixels)):
        bad = int(np.count_nonzero(~np.isfinite(pixels)))
        raise ValueError(f"cannot quantise an image with {bad} NaN or infinite pixel(s)")
    levels = np.multiply(np.clip(pixels, 0.0, 1.0), 255, dtype=pixels.dtype)
    return np.rint(levels, out=levels).astype(np.uint8)


def haralick_features(
    labels: np.ndarray, levels: np.ndarray, n_objects: int, scale: int = 3, boxes: np.ndarray | None = None
) -> np.ndarray:
    """Haralick features of every object: array ``(4 directions, 13 features, n_objects)``.

    Parameters
    ----------
    labels : np.ndarray
        2-D label image with labels 1..n_objects (gaps allowed: a missing label gives NaN).
    levels : np.ndarray
        uint8 quantised image of the same shape (see :func:`quantize`).
    n_objects : int
        Number of label slots.
    scale : int
        Pixel distance of the pairs.
    boxes : np.ndarray, optional
        Precomputed :func:`bounding_boxes` (they depend on the labels only).

    Returns
    -------
    numpy.ndarray
        ``(4, 13, n_objects)`` float64 features, directions and features in CellProfiler's order.
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1 pixel, got {scale}")
    if labels.shape != levels.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape} and levels {levels.shape} must be one 2-D shape")
    if boxes is None:
        boxes = bounding_boxes(labels, n_objects)
    offsets = np.array(DIRECTIONS, np.int64) * scale
    out = np.empty((len(DIRECTIONS), len(HARALICK_FEATURES), n_objects))
    # The kernel reads the labels and levels in their own integer types (int32 labels, uint8
    # levels from quantize): widening both to int64 cost two full-image copies per call and made
    # the kernel read 8 bytes a pixel instead of 4 and 1 (a third of a full-size site's texture).
    labels, levels = (np.ascontiguousarray(image, dtype=None if image.dtype.kind in "iu" else np.int64)
                      for image in (labels, levels))
    _haralick_kernel(labels, levels, boxes, offsets, out)
    return out
