"""Measuring one well: regionprops per object and CellProfiler per-image means, into the lake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from morph_assets.lib.features import image_aggregates, load_illumination, load_site, measure_regionprops
from morph_assets.lib.plates import site_prefix
from morph_assets.lib.features.cellprofiler import (
    FAMILIES,
    export_well_table,
    measure_cellprofiler_means,
    plate_well_rows,
)
from morph_assets.lib.schema import CELLPROFILER_MEAN, PLATE, REGIONPROPS_FEATURES, REGIONPROPS_IMAGE, SITE, WELL
from morph_assets.lib.segment import SiteSegmentation
from morph_assets.lib.tasks._masks import read_site_segmentation, rows_by_site
from morph_assets.lib.tasks._task import CorrectedWellTask


def _with_site_metadata(frame: pl.DataFrame, plate: str, well: str, site: int) -> pl.DataFrame:
    return frame.select(
        pl.lit(plate).alias(PLATE), pl.lit(well).alias(WELL),
        pl.lit(site, dtype=pl.Int32).alias(SITE), pl.all(),
    )


def segmented_sites(task: CorrectedWellTask) -> Iterator[tuple[int, SiteSegmentation, dict[str, np.ndarray]]]:
    """Yield each site of a well with its masks from the lake and its illumination-corrected images.

    Parameters
    ----------
    task : CorrectedWellTask
        The well, its image index rows, its plate's illumination functions and the lake.

    Yields
    ------
    site : int
        Site number.
    segmentation : SiteSegmentation
        Its nuclei, cells and cytoplasm.
    images : dict of str to numpy.ndarray
        Channel name -> corrected (M, N) float image.
    """
    lake = task.lake()
    illumination = load_illumination(task.illumination_files)
    for site, rows in rows_by_site(task.image_rows).items():
        segmentation = read_site_segmentation(lake, task.plate, task.well, site_prefix(str(rows[0]["path"])))
        yield site, segmentation, load_site(rows, illumination)


@dataclass(frozen=True, kw_only=True)
class RegionpropsTask(CorrectedWellTask):
    """Measure one well's objects with regionprops (:func:`measure_well_regionprops`).

    Attributes
    ----------
    well, lake_root, plate, image_rows, illumination_files
        As in :class:`CorrectedWellTask`; nothing more is needed.
    """


def measure_well_regionprops(task: RegionpropsTask) -> int:
    """Regionprops features of every object of one well, plus one aggregate row per image.

    Writes ``regionprops_features`` (one row per cell, Nuclei_/Cells_/Cytoplasm_ columns) and
    ``regionprops_image`` (the study's image-level table: one row per site, counts and means).
    A site without objects has a ``regionprops_image`` row all the same: ``Count_Objects`` and
    ``Count_<Compartment>`` 0 and every ``Mean_`` null; a cell-less well (a toxic compound) is
    a result, so it is written like any other.

    Parameters
    ----------
    task : RegionpropsTask
        The well, its images and illumination functions, and the lake.

    Returns
    -------
    int
        Number of object rows written.
    """
    plate, well = task.plate, task.well
    objects, per_image = [], []
    for site, segmentation, images in segmented_sites(task):
        measured = measure_regionprops(segmentation, images)
        objects.append(_with_site_metadata(measured, plate, well, site))
        # aggregated without keys: always one row per site, zero counts where there is no object
        per_image.append(_with_site_metadata(image_aggregates(measured, by=[]), plate, well, site))
    object_table = pl.concat(objects, how="diagonal_relaxed")
    lake = task.lake()
    lake.write_well(REGIONPROPS_FEATURES, plate, well, object_table)
    lake.write_well(REGIONPROPS_IMAGE, plate, well, pl.concat(per_image, how="diagonal_relaxed"))
    return object_table.height


@dataclass(frozen=True, kw_only=True)
class CellProfilerTask(CorrectedWellTask):
    """CellProfiler's per-image means of one well (:func:`cellprofiler_well`).

    Attributes
    ----------
    families : tuple of str
        Feature families to measure, all by default.
    export_folder : str or None
        The plate's ExportToSpreadsheet folder, when it has one: its rows are copied, not
        measured.
    """

    families: tuple[str, ...] = FAMILIES
    export_folder: str | None = None


def measure_well_cellprofiler(task: CellProfilerTask) -> int:
    """CellProfiler's per-image means (``Mean_<Object>_<Measurement>``, ``Count_<Object>``) of one well.

    One row per site; a site without objects has ``Count_<Object>`` 0 and no ``Mean_`` value
    (null in the plate's table). The task's ``export_folder`` is not read.

    Parameters
    ----------
    task : CellProfilerTask
        The well, its images and illumination functions, the families and the lake.

    Returns
    -------
    int
        Number of image rows written.
    """
    families = tuple(task.families)
    rows_out = [
        _with_site_metadata(measure_cellprofiler_means(segmentation, images, families), task.plate, task.well, site)
        for site, segmentation, images in segmented_sites(task)
    ]
    table = pl.concat(rows_out, how="diagonal_relaxed")
    task.lake().write_well(CELLPROFILER_MEAN, task.plate, task.well, table)
    return table.height


@lru_cache(maxsize=2)
def _export_means(folder: str) -> pl.DataFrame:
    return export_well_table(folder)


def cellprofiler_well(task: CellProfilerTask) -> int:
    """Write one well's ``cellprofiler_mean`` rows, from CellProfiler's own export when the plate has one.

    Otherwise the well is measured here (:func:`measure_well_cellprofiler`).

    Parameters
    ----------
    task : CellProfilerTask
        The well, its images and illumination functions, the families, the export folder if
        any, and the lake.

    Returns
    -------
    int
        Number of image rows written.
    """
    if task.export_folder is None:
        return measure_well_cellprofiler(task)
    rows = plate_well_rows(_export_means(task.export_folder), task.export_folder, task.plate, task.well)
    task.lake().write_well(CELLPROFILER_MEAN, task.plate, task.well, rows)
    return rows.height
