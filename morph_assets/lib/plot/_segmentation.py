"""Figures of segmentations: outlines over the stains, and a row of such pictures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from morph_assets.lib.plot._canvas import new_axes_grid


def outlined_composite(dna: np.ndarray, cell_body: np.ndarray, nuclei: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Make an RGB picture: cell-body stain green, DNA blue, nucleus outlines yellow, cell outlines magenta.

    Parameters
    ----------
    dna, cell_body : numpy.ndarray
        (M, N) images of the DNA and cell-body (AGP) stains, any scale (each is stretched
        between its 1st and 99.5th percentile).
    nuclei, cells : numpy.ndarray
        (M, N) label images.

    Returns
    -------
    numpy.ndarray
        (M, N, 3) float RGB image in [0, 1].
    """
    from skimage.segmentation import find_boundaries

    def stretch(image: np.ndarray) -> np.ndarray:
        low, high = np.percentile(image, (1, 99.5))
        return np.clip((image - low) / max(high - low, 1e-9), 0, 1)

    rgb = np.zeros((*dna.shape, 3))
    rgb[..., 1] = stretch(cell_body)
    rgb[..., 2] = stretch(dna)
    rgb[find_boundaries(cells, mode="inner")] = (1.0, 0.0, 1.0)
    rgb[find_boundaries(nuclei, mode="inner")] = (1.0, 1.0, 0.0)
    return rgb


def montage(panels: Sequence[tuple[str, np.ndarray]], *, title: str, axes: Sequence[Axes] | None = None) -> np.ndarray:
    """Draw RGB panels in a row, each with its caption.

    Parameters
    ----------
    panels : sequence of (str, numpy.ndarray)
        Caption and (M, N, 3) RGB image of each panel, e.g. from :func:`outlined_composite`.
    title : str
        Figure title.
    axes : sequence of matplotlib.axes.Axes, optional
        At least one axes per panel, all on one figure; a new figure when None.

    Returns
    -------
    numpy.ndarray
        The axes drawn on.
    """
    count = max(1, len(panels))
    own = axes is None
    row = new_axes_grid(1, count, (3.0 * count, 3.3), dpi=80)[0] if axes is None else np.asarray(axes)
    for axis, (caption, rgb) in zip(row, panels, strict=False):
        axis.imshow(rgb)
        axis.set_title(caption, fontsize=8)
        axis.axis("off")
    row[0].figure.suptitle(title, fontsize=9)
    if own:
        row[0].figure.tight_layout()
    return row


def crop_grid(crops: np.ndarray, captions: Sequence[str], *, title: str, columns: int = 4,
              axes: np.ndarray | None = None) -> np.ndarray:
    """Draw single-cell crops in a grid: the DNA plane in grey with the cell's mask outlined in magenta.

    Parameters
    ----------
    crops : (n, P, s, s) ndarray
        Crops whose first plane is DNA and last plane the cell's mask (any value > 0.5 is the
        cell), e.g. from :func:`morph_assets.lib.tasks.load_crops`.
    captions : sequence of str
        One caption per crop (e.g. ``"A01 s1 #12"``).
    title : str
        Figure title.
    columns : int, default 4
        Crops per row.
    axes : (rows, columns) ndarray of matplotlib.axes.Axes, optional
        Axes to draw on, at least one per crop, all on one figure; a new figure when None.

    Returns
    -------
    numpy.ndarray
        The (rows, columns) axes drawn on; axes beyond the crops are left blank.

    Raises
    ------
    ValueError
        When ``crops`` is not 4-D or the captions are not one per crop.
    """
    from skimage.segmentation import find_boundaries

    crops = np.asarray(crops)
    if crops.ndim != 4 or len(captions) != len(crops):
        raise ValueError(f"need (n, P, s, s) crops and one caption each: {crops.shape}, {len(captions)} captions")
    rows = max(1, -(-len(crops) // columns))
    own = axes is None
    grid = new_axes_grid(rows, columns, (1.6 * columns, 1.7 * rows + 0.3), dpi=80) if own else np.asarray(axes)
    for axis in grid.ravel():
        axis.axis("off")
    for axis, crop, caption in zip(grid.ravel(), crops, captions, strict=False):
        dna = np.clip(crop[0], 0, 1)
        rgb = np.repeat(dna[..., None], 3, axis=-1)
        rgb[find_boundaries(crop[-1] > 0.5, mode="inner")] = (1.0, 0.0, 1.0)
        axis.imshow(rgb, interpolation="nearest")
        axis.set_title(caption, fontsize=7)
    grid.ravel()[0].figure.suptitle(title, fontsize=9)
    if own:
        grid.ravel()[0].figure.tight_layout()
    return grid
