"""One well's single-cell crops (five channels + the cell's mask around every cell), in the lake."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from morph_assets.lib.features import (
    CHANNEL_ORDER,
    CROP_META_SCHEMA,
    load_well_crops,
    resize_crops,
    save_well_crops,
    single_cell_crops,
)
from morph_assets.lib.schema import OBJECT_NUMBER, PLATE, SINGLE_CELL_CROPS, SITE, WELL
from morph_assets.lib.tasks._features import segmented_sites
from morph_assets.lib.tasks._task import CorrectedWellTask
from morph_assets.lib.tasks._tensors import gather_rows

CROP_FILE = "crops.npz"
DEFAULT_VIEW_SIZE = 32
#: Planes of a crop: the five Cell Painting channels, then the cell's own mask.
CROP_PLANES = (*CHANNEL_ORDER, "cell_mask")
#: One row per stored cell: its keys (joining the regionprops / CellProfiler rows), where its crop
#: is, the crop's sizes and the library's crop columns (:data:`CROP_META_SCHEMA`).
CROPS_INDEX_SCHEMA: dict[str, pl.DataType] = {
    PLATE: pl.String,
    WELL: pl.String,
    SITE: pl.Int32,
    OBJECT_NUMBER: pl.Int64,
    "crop_index": pl.Int32,
    "crop_file": pl.String,
    "box_size": pl.Int32,
    "view_size": pl.Int32,
    **{name: dtype for name, dtype in CROP_META_SCHEMA.items() if name != OBJECT_NUMBER},
}


@dataclass(frozen=True, kw_only=True)
class CropTask(CorrectedWellTask):
    """Cut one well's single-cell crops (:func:`crop_well`).

    Attributes
    ----------
    box_size : int
        Side of the window cut around each cell, in pixels of the site (> 0); the same for every
        well of a plate (the ``single_cell_crops`` asset takes it from the plate's cell diameters).
    view_size : int, default 32
        Side of the stored crops: each ``box_size`` window is area-averaged to this (> 0).
    """

    box_size: int
    view_size: int = DEFAULT_VIEW_SIZE


def crop_well(task: CropTask) -> int:
    """Cut a crop around every cell of a well, resize it, and store the well's crops and index.

    For each site (its cell mask from the ``masks`` table, its illumination-corrected images) the
    ``box_size`` window around every cell is cut by
    :func:`~morph_assets.lib.features.single_cell_crops` (channels scaled over the whole site,
    zero outside the image, last plane the cell's own mask), then area-averaged to ``view_size``
    by :func:`resize_crops` when the two differ: DeepProfiler's recipe, a ``box_size`` window per
    cell resized to the network's ``view_size`` input. A Cell Painting channel the plate lacks is
    an all-zero plane, so crops keep one shape on every plate. A site without cells adds nothing.

    Writes ``crops.npz`` (every site's crops of the well, float16 on disk, :func:`save_well_crops`,
    with the site and crop columns) in the well's folder of the ``single_cell_crops`` table, and
    the well's index (:data:`CROPS_INDEX_SCHEMA`, one row per cell, ``crop_index`` its row in the
    file) as the well's Parquet file. A well without cells writes an empty file and index.

    Parameters
    ----------
    task : CropTask
        The well, its images and illumination functions, the box and view sizes and the lake.

    Returns
    -------
    int
        Number of cells stored.

    Raises
    ------
    ValueError
        When ``box_size`` or ``view_size`` is not positive.
    """
    plate, well, box_size, view_size = task.plate, task.well, task.box_size, task.view_size
    if box_size < 1 or view_size < 1:
        raise ValueError(f"box_size and view_size must be positive, got {box_size} and {view_size}")
    lake = task.lake()
    crops, metas = [], []
    for site, segmentation, images in segmented_sites(task):
        blank = np.zeros(segmentation.cells.shape, dtype=np.float32)
        site_crops, meta = single_cell_crops({**dict.fromkeys(CHANNEL_ORDER, blank), **images}, segmentation.cells,
                                             size=box_size)
        if meta.height:
            crops.append(resize_crops(site_crops, view_size))
            metas.append(meta.with_columns(pl.lit(site, dtype=pl.Int32).alias(SITE)))
    stacked = (np.concatenate(crops) if crops
               else np.zeros((0, len(CROP_PLANES), view_size, view_size), np.float32))
    meta = (pl.concat(metas) if metas else pl.DataFrame(schema={**CROP_META_SCHEMA, SITE: pl.Int32}))
    meta = meta.select(SITE, *CROP_META_SCHEMA)
    path = save_well_crops(lake.well_folder(SINGLE_CELL_CROPS, plate, well) / CROP_FILE, stacked, meta)
    index = meta.with_columns(
        pl.lit(plate).alias(PLATE), pl.lit(well).alias(WELL),
        pl.int_range(pl.len(), dtype=pl.Int32).alias("crop_index"), pl.lit(str(path)).alias("crop_file"),
        pl.lit(box_size).alias("box_size"), pl.lit(view_size).alias("view_size"),
    ).select(list(CROPS_INDEX_SCHEMA)).cast(CROPS_INDEX_SCHEMA)
    lake.write_well(SINGLE_CELL_CROPS, plate, well, index)
    return index.height


def load_crops(index: pl.DataFrame) -> np.ndarray:
    """The crops of the cells listed in a ``single_cell_crops`` index, in its row order.

    Parameters
    ----------
    index : pl.DataFrame
        Rows of the ``single_cell_crops`` table (``crop_file``, ``crop_index``), e.g. filtered or
        joined to regionprops rows; rows of one well should come together (one file is kept
        open at a time, as :func:`~morph_assets.lib.tasks.load_tensors` does).

    Returns
    -------
    np.ndarray
        ``(len(index), 6, view_size, view_size)`` float32: DNA, ER, RNA, AGP, Mito scaled to
        [0, 1], then the cell's mask (its fraction of each pixel); ``(0, 6, 0, 0)`` for an
        empty index.

    Raises
    ------
    ValueError
        When a crops file cannot be read (naming it).
    """
    return gather_rows(index.select("crop_file", "crop_index").iter_rows(), lambda file: load_well_crops(file)[0],
                       len(CROP_PLANES))
