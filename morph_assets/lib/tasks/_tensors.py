"""One well's sites as small image tensors (channels + cell mask) for the networks, in the lake."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from morph_assets.lib.features import CHANNEL_ORDER, load_well_tensors, save_well_tensors, site_tensor
from morph_assets.lib.schema import IMAGE_TENSORS, PLATE, SITE, WELL
from morph_assets.lib.tasks._features import segmented_sites
from morph_assets.lib.tasks._task import CorrectedWellTask

TENSOR_FILE = "tensors.npz"
DEFAULT_SIZE = 64


@dataclass(frozen=True, kw_only=True)
class TensorTask(CorrectedWellTask):
    """Downsample one well's sites into network inputs (:func:`tensor_well`).

    Attributes
    ----------
    size : int
        Side of the downsampled images.
    """

    size: int = DEFAULT_SIZE


def tensor_well(task: TensorTask) -> int:
    """Downsample every site of a well to ``(5 channels + cell mask, size, size)`` and store it.

    A Cell Painting channel the plate does not have is an all-zero plane.

    Writes ``tensors.npz`` in the well's folder of the ``image_tensors`` table and an index row
    per site (plate, well, site, file, shape) as the well's Parquet file.

    Parameters
    ----------
    task : TensorTask
        The well, its images and illumination functions, the size and the lake.

    Returns
    -------
    int
        Number of sites stored.
    """
    plate, well, size = task.plate, task.well, task.size
    lake = task.lake()
    sites, tensors = [], []
    for site, segmentation, images in segmented_sites(task):
        sites.append(site)
        # A plate imaged without some Cell Painting stains (a real 2- or 3-channel plate) gets
        # all-zero planes for them: tensors keep one shape on every plate, so models train across plates.
        blank = np.zeros(segmentation.cells.shape, dtype=np.float32)
        tensors.append(site_tensor({**dict.fromkeys(CHANNEL_ORDER, blank), **images}, segmentation.cells, size=size))
    path = save_well_tensors(lake.well_folder(IMAGE_TENSORS, plate, well) / TENSOR_FILE, np.stack(tensors), sites)
    index = pl.DataFrame({
        PLATE: plate, WELL: well, SITE: pl.Series(sites, dtype=pl.Int32),
        "tensor_index": pl.Series(range(len(sites)), dtype=pl.Int32), "tensor_file": str(path),
        "channels": ",".join([*CHANNEL_ORDER, "cell_mask"]), "size": size,
    })
    lake.write_well(IMAGE_TENSORS, plate, well, index)
    return len(sites)


def load_tensors(index: pl.DataFrame) -> np.ndarray:
    """The tensors of the sites listed in an ``image_tensors`` index, in its row order.

    Parameters
    ----------
    index : pl.DataFrame
        Rows of the ``image_tensors`` table (``tensor_file``, ``tensor_index``).

    Returns
    -------
    np.ndarray
        ``(len(index), channels + 1, size, size)`` float32.
    """
    return gather_rows(index.select("tensor_file", "tensor_index").iter_rows(), lambda file: load_well_tensors(file)[0],
                       len(CHANNEL_ORDER) + 1)


def gather_rows(rows: Iterable[tuple[str, int]], read: Callable[[str], np.ndarray], planes: int) -> np.ndarray:
    """Stack the arrays at ``(file, position)`` pairs, reading each run of one file once.

    Parameters
    ----------
    rows : iterable of (str, int)
        File and row in it, in the order wanted; rows of one file should come together (only
        the last file read is kept open).
    read : callable
        File -> its ``(n, planes, s, s)`` array.
    planes : int
        Planes of an empty result.

    Returns
    -------
    np.ndarray
        ``(len(rows), planes, s, s)`` float32; ``(0, planes, 0, 0)`` when there is no row.
    """
    out: list[np.ndarray] = []
    cache: dict[str, np.ndarray] = {}
    for file, position in rows:
        if file not in cache:
            cache = {file: read(file)}  # rows come grouped by well: keep one file open
        out.append(cache[file][position])
    return np.stack(out).astype(np.float32) if out else np.empty((0, planes, 0, 0), np.float32)
