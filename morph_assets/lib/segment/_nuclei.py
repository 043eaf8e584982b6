"""The project's one rule for finding each cell's nucleus in the DNA image, given cell masks.

Imported cell masks usually come without nucleus masks, and a single Cellpose cell model gives
cells only; both then ask :func:`nuclei_from_dna`.

Why a threshold per cell rather than one over the whole site: in real Cell Painting images the
DNA (Hoechst) intensity differs between cells by more than the contrast between a dim nucleus
and a bright neighbour's cytoplasm (cell-cycle stage doubles the DNA content, illumination and
staining vary across the field). One global threshold then swallows the dim cells' nuclei whole
or, set higher, misses them; a threshold computed from each cell's own DNA values only has to
separate nucleus from cytoplasm inside that cell, whatever its brightness. The price: a cell
whose mask misses its nucleus (cut at the image border) gets its brightest patch as a nucleus,
where a global threshold would have given it none.

Holes in the thresholded nucleus are filled (nucleoli are dim in a DNA stain), as CellProfiler's
IdentifyPrimaryObjects does. The DNA image is not smoothed first: the largest connected piece
with its holes filled already absorbs pixel noise, and smoothing would blur each nucleus ~1 px
into its cytoplasm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from morph_assets.lib.segment._classical import global_threshold


def nuclei_from_dna(dna: np.ndarray, cells: np.ndarray, threshold_method: str = "otsu") -> np.ndarray:
    """Find nucleus ``k`` inside cell ``k`` by thresholding the cell's own DNA intensities.

    Parameters
    ----------
    dna : numpy.ndarray
        (M, N) DNA image, finite values.
    cells : numpy.ndarray
        (M, N) integer cell labels, 0 background.
    threshold_method : str, optional
        ``"otsu"`` (default) or ``"minimum_cross_entropy"``, computed over each cell's pixels
        (:func:`~morph_assets.lib.segment.global_threshold` applied to one cell).

    Returns
    -------
    numpy.ndarray
        int32 (M, N): for each cell, the largest connected set of its pixels brighter than its
        threshold, holes filled, labelled with the cell's label. A cell whose DNA is flat (or a
        single pixel) gets no nucleus, and :func:`~morph_assets.lib.segment.make_consistent`
        then drops it.
    """
    dna = np.asarray(dna, dtype=np.float32)
    cells = np.asarray(cells)
    nuclei = np.zeros(cells.shape, dtype=np.int32)
    for label, box in enumerate(ndimage.find_objects(cells), start=1):
        if box is None:
            continue
        inside = cells[box] == label
        # global_threshold of a flat set is its maximum, so nothing is above it: no nucleus.
        bright = inside & (dna[box] > global_threshold(dna[box][inside], threshold_method))
        pieces, count = ndimage.label(bright)
        if count == 0:
            continue
        if count > 1:
            sizes = np.bincount(pieces.ravel())
            sizes[0] = 0
            bright = pieces == int(np.argmax(sizes))
        # Filled holes stay inside the cell: a hole may be another cell's pixels.
        nuclei[box][ndimage.binary_fill_holes(bright) & inside] = label
    return nuclei
