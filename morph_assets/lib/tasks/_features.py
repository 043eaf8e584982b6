"""Measuring one well: regionprops per object and CellProfiler per-image means, into the lake."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from morph_assets.lib.features import image_aggregates, load_illumination, load_site, measure_regionprops, site_prefix
from morph_assets.lib.features.cellprofiler import (
    FAMILIES,
    export_well_table,
    measure_cellprofiler_means,
    plate_well_rows,
)
from morph_assets.lib.io import Lake
from morph_assets.lib.schema import CELLPROFILER_MEAN, REGIONPROPS_FEATURES, REGIONPROPS_IMAGE
from morph_assets.lib.segment import SiteSegmentation
from morph_assets.lib.tasks._masks import read_site_segmentation, rows_by_site



def _with_site_metadata(frame: pl.DataFrame, plate: str, well: str, site: int) -> pl.DataFrame:
    return frame.select(
        pl.lit(plate).alias("Metadata_Plate"), pl.lit(well).alias("Metadata_Well"),
        pl.lit(site, dtype=pl.Int32).alias("Metadata_Site"), pl.all(),
    )


def segmented_sites(
    lake_root: str, plate: str, well: str, image_rows: list[dict], illumination_files: dict[str, str]
) -> Iterator[tuple[int, SiteSegmentation, dict[str, np.ndarray]]]:
    """Yield each site of a well with its masks from the lake and its illumination-corrected images.

    Parameters
    ----------
    lake_root : str
        Root folder of the lake (text, as the arguments cross process boundaries).
    plate : str
        Plate barcode.
    well : str
        Well name, e.g. ``"A01"``.
    image_rows : list of dict
        The well's rows of the plate's image index, one per site and channel.
    illumination_files : dict of str to str
        Channel name -> float TIFF of the plate's illumination function.

    Yields
    ------
    site : int
        Site number.
    segmentation : SiteSegmentation
        Its nuclei, cells and cytoplasm.
    images : dict of str to numpy.ndarray
        Channel name -> corrected (M, N) float image.
    """
    lake = Lake(Path(lake_root))
    illumination = load_illumination(illumination_files)
    for site, rows in rows_by_site(image_rows).items():
        segmentation = read_site_segmentation(lake, plate, well, site_prefix(str(rows[0]["path"])))
        yield site, segmentation, load_site(rows, illumination)


def measure_well_regionprops(
    well: str, lake_root: str, plate: str, image_rows: list[dict], illumination_files: dict[str, str]
) -> int:
    """Regionprops features of every object of one well, plus one aggregate row per image.

    Writes ``regionprops_features`` (one row per cell, Nuclei_/Cells_/Cytoplasm_ columns) and
    ``regionprops_image`` (the study's image-level table: one row per site, counts and means).
    A site without objects has a ``regionprops_image`` row all the same: ``Count_Objects`` and
    ``Count_<Compartment>`` 0 and every ``Mean_`` null; a cell-less well (a toxic compound) is
    a result, so it is written like any other.

    Parameters
    ----------
    well : str
        Well name, e.g. ``"A01"``.
    lake_root : str
        Root folder of the lake (text, as the arguments cross process boundaries).
    plate : str
        Plate barcode.
    image_rows : list of dict
        The well's rows of the plate's image index, one per site and channel.
    illumination_files : dict of str to str
        Channel name -> float TIFF of the plate's illumination function.

    Returns
    -------
    int
        Number of object rows written.
    """
    objects, per_image = [], []
    for site, segmentation, images in segmented_sites(lake_root, plate, well, image_rows, illumination_files):
        measured = measure_regionprops(segmentation, images)
        objects.append(_with_site_metadata(measured, plate, well, site))
        # aggregated without keys: always one row per site, zero counts where there is no object
        per_image.append(_with_site_metadata(image_aggregates(measured, by=[]), plate, well, site))
    object_table = pl.concat(objects, how="diagonal_relaxed")
    lake = Lake(Path(lake_root))
    lake.write_well(REGIONPROPS_FEATURES, plate, well, object_table)
    lake.write_well(REGIONPROPS_IMAGE, plate, well, pl.concat(per_image, how="diagonal_relaxed"))
    return object_table.height


def measure_well_cellprofiler(
    well: str, lake_root: str, plate: str, image_rows: list[dict], illumination_files: dict[str, str],
    families: Iterable[str] = FAMILIES,
) -> int:
    """CellProfiler's per-image means (``Mean_<Object>_<Measurement>``, ``Count_<Object>``) of one well.

    One row per site; a site without objects has ``Count_<Object>`` 0 and no ``Mean_`` value
    (null in the plate's table).

    Parameters
    ----------
    well : str
        Well name, e.g. ``"A01"``.
    lake_root : str
        Root folder of the lake (text, as the arguments cross process boundaries).
    plate : str
        Plate barcode.
    image_rows : list of dict
        The well's rows of the plate's image index, one per site and channel.
    illumination_files : dict of str to str
        Channel name -> float TIFF of the plate's illumination function.
    families : iterable of str, optional
        Feature families to measure, all by default.

    Returns
    -------
    int
        Number of image rows written.
    """
    families = tuple(families)
    rows_out = [
        _with_site_metadata(measure_cellprofiler_means(segmentation, images, families), plate, well, site)
        for site, segmentation, images in segmented_sites(lake_root, plate, well, image_rows, illumination_files)
    ]
    table = pl.concat(rows_out, how="diagonal_relaxed")
    Lake(Path(lake_root)).write_well(CELLPROFILER_MEAN, plate, well, table)
    return table.height


@lru_cache(maxsize=2)
def _export_means(folder: str) -> pl.DataFrame:
    return export_well_table(folder)


def cellprofiler_well(
    well: str, lake_root: str, plate: str, image_rows: list[dict], illumination_files: dict[str, str],
    families: Iterable[str] = FAMILIES, export_folder: str | None = None,
) -> int:
    """Write one well's ``cellprofiler_mean`` rows, from CellProfiler's own export when the plate has one.

    Otherwise the well is measured here (:func:`measure_well_cellprofiler`).

    Parameters
    ----------
    well : str
        Well name, e.g. ``"A01"``.
    lake_root : str
        Root folder of the lake (text, as the arguments cross process boundaries).
    plate : str
        Plate barcode.
    image_rows : list of dict
        The well's rows of the plate's image index, one per site and channel.
    illumination_files : dict of str to str
        Channel name -> float TIFF of the plate's illumination function.
    families : iterable of str, optional
        Feature families to measure, all by default.
    export_folder : str, optional
        The plate's ExportToSpreadsheet folder, when it has one.

    Returns
    -------
    int
        Number of image rows written.
    """
    if export_folder is None:
        return measure_well_cellprofiler(well, lake_root, plate, image_rows, illumination_files, families)
    rows = plate_well_rows(_export_means(export_folder), export_folder, plate, well)
    Lake(Path(lake_root)).write_well(CELLPROFILER_MEAN, plate, well, rows)
    return rows.height
