"""Single-cell crops: a fixed-size window of every channel plus the cell's own mask, per cell.

DeepProfiler (Moshkov et al. 2024, "Learning representations for image-based profiling of
perturbations", Nat Commun 15:1594; DeepProfiler docs, "box_size" of the profiling config) cuts
one fixed-size box around each cell's centre, the same size for the whole experiment, large
enough to hold most cells, and feeds the stacked channels to the network. We do the same: one
side per plate or well from the cells' diameters (:func:`crop_size_from_diameters`), a window
centred on each cell's centroid (:func:`single_cell_crops`), zero outside the image, and a last
plane that is this cell's mask so a model knows which of the touching cells is meant. Each crop
carries the cell's ``ObjectNumber`` (its label value, the number the regionprops and CellProfiler
tables give it), so crops join those rows on (plate, well, site, ObjectNumber).
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from scipy import ndimage

from morph_assets.lib.features._tensors import CHANNEL_ORDER, atomic_savez, robust_scale
from morph_assets.lib.schema import OBJECT_NUMBER

#: Percentile of the cells' equivalent diameters a crop must hold (the rare giant cell is clipped).
DIAMETER_PERCENTILE = 95.0
#: Crop columns besides the planes: the label, the crop centre, the cell's area, whether it was cut.
CROP_META_SCHEMA: dict[str, pl.DataType] = {
    OBJECT_NUMBER: pl.Int64,
    "crop_center_row": pl.Int32,
    "crop_center_col": pl.Int32,
    "cell_area_px": pl.Int64,
    "crop_clipped": pl.Boolean,
}


def crop_size_from_diameters(
    diameters: Sequence[float] | np.ndarray,
    *,
    scale: float = 1.5,
    minimum: int = 32,
    multiple: int = 8,
    percentile: float = DIAMETER_PERCENTILE,
) -> int:
    """One crop side for a plate or well: a high percentile of the cell diameters, with a margin.

    Rule: ``side = max(minimum, ceil(scale * P / multiple) * multiple)`` with ``P`` the
    ``percentile``-th percentile of the finite, positive diameters. The percentile (not the
    maximum) keeps one merged or giant object from inflating every crop; ``scale`` leaves context
    around the cell (a centroid is not the box centre of an irregular cell, and neighbours and
    the local background help the model); a multiple of 8 lets a network halve the side three
    times without remainders. This follows DeepProfiler's recipe (one fixed ``box_size`` per
    experiment, centred on each cell, chosen to contain most cells; Moshkov et al. 2024, Nat
    Commun 15:1594, and the DeepProfiler documentation); the factor 1.5 and the 95th percentile
    are this project's choices, not theirs.

    Parameters
    ----------
    diameters : sequence of float
        Cells' equivalent diameters in pixels (``Cells_AreaShape_EquivalentDiameter`` of the
        regionprops table); NaN, infinite and non-positive values are ignored.
    scale : float, default 1.5
        Margin factor on the percentile diameter; must be positive.
    minimum : int, default 32
        Smallest side returned, also the side when no diameter is usable.
    multiple : int, default 8
        The side is rounded up to a multiple of this.
    percentile : float, default 95
        Percentile of the diameters, in [0, 100].

    Returns
    -------
    int
        The crop side in pixels.

    Raises
    ------
    ValueError
        When ``scale``, ``minimum`` or ``multiple`` is not positive or ``percentile`` is outside [0, 100].

    Examples
    --------
    >>> crop_size_from_diameters([20.0, 30.0, 40.0], percentile=100)
    64
    """
    if scale <= 0 or minimum < 1 or multiple < 1:
        raise ValueError(f"scale, minimum and multiple must be positive, got {scale}, {minimum}, {multiple}")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile}")
    values = np.asarray(diameters, dtype=np.float64).ravel()
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return int(minimum)
    wanted = scale * float(np.percentile(values, percentile))
    return int(max(minimum, math.ceil(wanted / multiple) * multiple))


def _empty_meta() -> pl.DataFrame:
    return pl.DataFrame(schema=CROP_META_SCHEMA)


def single_cell_crops(
    images: dict[str, np.ndarray],
    cell_labels: np.ndarray,
    *,
    size: int,
    channels: Sequence[str] = CHANNEL_ORDER,
) -> tuple[np.ndarray, pl.DataFrame]:
    """Cut a ``size x size`` window of every channel, plus the cell's own mask, around each cell.

    Each channel is scaled over the whole site by :func:`robust_scale` (as :func:`site_tensor`
    scales it, so crops and site tensors share one intensity scale) and then cut, so a crop's
    values do not depend on which cells it holds. The window of a cell centred at row ``r``,
    column ``c`` (its centroid, rounded half up) covers rows ``r - size // 2`` to
    ``r - size // 2 + size - 1``: the centre pixel is at index ``size // 2`` of the crop.

    Parameters
    ----------
    images : dict of str to (M, N) ndarray
        Channel name -> one site's image, any dtype (uint8, uint16, float).
    cell_labels : (M, N) integer ndarray
        Cell label image, 0 for background; labels need not be consecutive.
    size : int
        Crop side in pixels (see :func:`crop_size_from_diameters`).
    channels : sequence of str, default :data:`CHANNEL_ORDER`
        Channels to stack, in this order (DNA, ER, RNA, AGP, Mito).

    Returns
    -------
    crops : (n_cells, len(channels) + 1, size, size) float32 ndarray
        Scaled intensities in [0, 1], zero where the window leaves the image; the last plane is 1
        on this cell's pixels and 0 elsewhere (other cells, background, outside the image). Cells
        in ascending label order.
    meta : polars.DataFrame
        One row per crop, same order, with :data:`CROP_META_SCHEMA`: ``ObjectNumber`` (the label),
        ``crop_center_row``/``crop_center_col`` (px, the rounded centroid), ``cell_area_px`` and
        ``crop_clipped`` (True when some of the cell's pixels fall outside its window: the cell is
        cut, never resized).

    Raises
    ------
    ValueError
        When ``size`` is not positive, no channel is named, a channel is missing, a shape differs,
        or ``cell_labels`` is not an integer image or holds negative labels.
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if len(channels) == 0:
        raise ValueError("channels must name at least one channel")
    labels = np.asarray(cell_labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"cell_labels must be a 2-D integer image, got {labels.dtype} of shape {labels.shape}")
    for name in channels:
        if name not in images:
            raise ValueError(f"channel {name!r} missing from images (have {sorted(images)})")
        if np.shape(images[name]) != labels.shape:
            raise ValueError(f"channel {name!r} has shape {np.shape(images[name])}, cell_labels has {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError("cell_labels must not be negative (0 is background, cells are 1, 2, ...)")
    n_planes = len(channels) + 1
    object_numbers = np.unique(labels[labels > 0]).astype(np.int64)
    if object_numbers.size == 0:
        return np.zeros((0, n_planes, size, size), np.float32), _empty_meta()

    # centroids and areas in one pass over the pixels (bincount), not one regionprops per cell
    flat = labels.ravel().astype(np.intp)
    n_bins = int(object_numbers[-1]) + 1
    areas = np.bincount(flat, minlength=n_bins)
    rows, cols = np.indices(labels.shape)
    row_sums = np.bincount(flat, weights=rows.ravel(), minlength=n_bins)
    col_sums = np.bincount(flat, weights=cols.ravel(), minlength=n_bins)
    cell_areas = areas[object_numbers]
    # half up, not numpy's half to even: a cell centred between two pixels always goes the same way
    centre_rows = np.floor(row_sums[object_numbers] / cell_areas + 0.5).astype(np.int64)
    centre_cols = np.floor(col_sums[object_numbers] / cell_areas + 0.5).astype(np.int64)

    # pad once by the crop side so every window is a plain slice, zeros outside the image
    padded = np.zeros((len(channels), labels.shape[0] + 2 * size, labels.shape[1] + 2 * size), np.float32)
    for plane, name in enumerate(channels):
        padded[plane, size:-size, size:-size] = robust_scale(images[name])
    padded_labels = np.pad(labels, size)
    boxes = ndimage.find_objects(labels)

    crops = np.empty((object_numbers.size, n_planes, size, size), np.float32)
    clipped = np.zeros(object_numbers.size, bool)
    centres = zip(object_numbers, centre_rows, centre_cols, strict=True)
    for index, (number, centre_row, centre_col) in enumerate(centres):
        top, left = int(centre_row) - size // 2, int(centre_col) - size // 2
        window = (slice(top + size, top + 2 * size), slice(left + size, left + 2 * size))
        crops[index, :-1] = padded[(slice(None), *window)]
        crops[index, -1] = padded_labels[window] == number
        box = boxes[number - 1]
        clipped[index] = (box[0].start < top or box[0].stop > top + size
                          or box[1].start < left or box[1].stop > left + size)
    meta = pl.DataFrame({
        OBJECT_NUMBER: object_numbers, "crop_center_row": centre_rows, "crop_center_col": centre_cols,
        "cell_area_px": cell_areas.astype(np.int64), "crop_clipped": clipped,
    }, schema=CROP_META_SCHEMA)
    return crops, meta


#: Prefix of the meta columns' arrays inside a crops archive (the crops are ``crops``).
_META_PREFIX = "meta:"


def save_well_crops(path: str | Path, crops: np.ndarray, meta: pl.DataFrame) -> Path:
    """Write one well's crops and their rows as an uncompressed ``.npz`` that appears whole or not at all.

    Uncompressed because reading is what training does over and over: ``np.load`` then copies
    each array's bytes straight out of the zip, no inflating (zlib inflate of image noise costs
    more CPU than it saves disk: noisy float planes shrink little). The planes are stored as
    float16 (values in [0, 1]; a step of at most 2**-11, finer than the networks can use, as in
    :func:`save_well_tensors`), halving disk and read bytes; :func:`load_well_crops` returns float32.
    The meta columns are stored as plain arrays (no pickle), one per column, in order.

    Parameters
    ----------
    path : path-like
        Destination file; parent folders are created.
    crops : (n, P, s, s) ndarray
        Crops of :func:`single_cell_crops`, several sites stacked.
    meta : polars.DataFrame
        One row per crop, e.g. :data:`CROP_META_SCHEMA` plus ``Metadata_Site``; numeric, boolean
        or string columns without nulls.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    ValueError
        When ``crops`` is not 4-D, ``meta`` has another number of rows, or a column has nulls or
        an unsupported type.
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[0] != meta.height:
        raise ValueError(f"need (n, P, s, s) crops and one meta row per crop: {crops.shape}, {meta.height} rows")
    arrays = {"crops": crops.astype(np.float16), "columns": np.asarray(meta.columns, dtype=str)}
    for name, column in meta.to_dict().items():
        if column.null_count():
            raise ValueError(f"meta column {name!r} has nulls; crops files store no nulls")
        if column.dtype == pl.String:
            values = np.asarray(column.to_list(), dtype=str)
        elif column.dtype.is_numeric() or column.dtype == pl.Boolean:
            values = column.to_numpy()
        else:
            raise ValueError(f"meta column {name!r} has type {column.dtype}; store numbers, booleans or strings")
        arrays[_META_PREFIX + name] = values

    return atomic_savez(path, arrays, compress=False)


def load_well_crops(path: str | Path) -> tuple[np.ndarray, pl.DataFrame]:
    """Read a file written by :func:`save_well_crops`.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.

    Returns
    -------
    (crops, meta) : tuple
        The (n, P, s, s) crops as float32, and their rows with the columns and types written.

    Raises
    ------
    ValueError
        Naming the file when it cannot be read or is not a crops archive.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not {"crops", "columns"} <= set(archive.files):
                raise ValueError(f"{path} is not a crops archive (arrays {sorted(archive.files)})")
            crops = archive["crops"].astype(np.float32)
            meta = pl.DataFrame({name: archive[_META_PREFIX + name] for name in archive["columns"].tolist()})
    except (OSError, EOFError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot read well crops from {path}: {error}") from error
    return crops, meta


def resize_crops(crops: np.ndarray, view_size: int) -> np.ndarray:
    """Area-average crops to ``view_size x view_size`` (DeepProfiler's ``box_size`` -> ``view_size``).

    Parameters
    ----------
    crops : (n, P, s, s) float ndarray
        Crops of :func:`~morph_assets.lib.features.single_cell_crops`.
    view_size : int
        Side of the result in pixels.

    Returns
    -------
    (n, P, view_size, view_size) float32 ndarray
        ``crops`` itself (as float32) when ``s == view_size``; otherwise each output pixel is the
        mean of the input pixels it covers (``torch.nn.functional.interpolate(mode="area")``), so
        values stay within the input's range, [0, 1] for crops, and the mask plane becomes the
        cell's fraction of each output pixel.

    Raises
    ------
    ValueError
        When ``crops`` is not 4-D or ``view_size`` is not positive.
    """
    crops = np.asarray(crops, dtype=np.float32)
    if crops.ndim != 4 or view_size < 1:
        raise ValueError(f"need (n, P, s, s) crops and a positive view_size, got {crops.shape} and {view_size}")
    if crops.shape[-1] == view_size and crops.shape[-2] == view_size:
        return crops
    if crops.shape[0] == 0:
        return np.zeros((0, crops.shape[1], view_size, view_size), np.float32)
    import torch  # imported here: only a resize needs it, and it costs a second to import

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one worker process per core already; more threads only contend
    try:
        with torch.no_grad():
            resized = torch.nn.functional.interpolate(torch.from_numpy(crops), size=(view_size, view_size), mode="area")
    finally:
        torch.set_num_threads(threads)
    return resized.numpy()
