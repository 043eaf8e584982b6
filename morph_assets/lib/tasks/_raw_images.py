"""The ``raw_images`` table: one row per (site, channel) file with pixel statistics and QC.

``dtype`` is the file's pixel type; ``mean/std/min/max_intensity`` are on the intensity contract
of :mod:`morph_assets.lib.plates` (fractions of the file type's full scale: uint16 / 65535,
uint8 / 255, ...), so plates stored in different types compare; ``saturated_fraction`` is the
fraction of pixels at that full scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from morph_assets.lib.plates import pixel_statistics, read_image
from morph_assets.lib.schema import PLATE, RAW_IMAGES, SITE, WELL
from morph_assets.lib.tasks._task import WellTask


RAW_IMAGES_SCHEMA = {
    PLATE: pl.String,
    WELL: pl.String,
    SITE: pl.Int32,
    "channel": pl.Int32,
    "channel_name": pl.String,
    "path": pl.String,
    "height": pl.Int32,
    "width": pl.Int32,
    "dtype": pl.String,
    "mean_intensity": pl.Float64,
    "std_intensity": pl.Float64,
    "min_intensity": pl.Float64,
    "max_intensity": pl.Float64,
    "saturated_fraction": pl.Float64,
    "power_log_log_slope": pl.Float64,
}


def measure_images(image_rows: list[dict]) -> pl.DataFrame:
    """Read every image of ``image_rows`` and return its raw-image table rows.

    Parameters
    ----------
    image_rows : list of dict
        Rows of a plate's image index (see :data:`morph_assets.lib.plates.IMAGE_INDEX_SCHEMA`).

    Returns
    -------
    polars.DataFrame
        One row per image with :data:`RAW_IMAGES_SCHEMA`; intensities on the contract scale
        (:func:`morph_assets.lib.plates.pixel_statistics`).

    Raises
    ------
    morph_assets.lib.plates.ImageReadError
        On the first image that cannot be read or mapped onto the contract (naming the file).
    """
    records = []
    for row in image_rows:
        image = read_image(row["path"])
        records.append({
            **{key: row[key] for key in (PLATE, WELL, SITE, "channel", "channel_name", "path")},
            "height": image.shape[0], "width": image.shape[1], "dtype": str(image.dtype),
            **pixel_statistics(image, row["path"]),
        })
    return pl.DataFrame(records, schema=RAW_IMAGES_SCHEMA)


@dataclass(frozen=True, kw_only=True)
class IngestTask(WellTask):
    """Read one well's images and write its ``raw_images`` rows (:func:`ingest_well`).

    Attributes
    ----------
    well, lake_root, plate, image_rows
        As in :class:`WellTask`; nothing more is needed.
    """


def ingest_well(task: IngestTask) -> int:
    """Measure one well's images and write its ``raw_images`` file into the lake.

    The well's previous file (if any) is replaced only once every image has been read, so a
    corrupt image leaves the lake as it was.

    Parameters
    ----------
    task : IngestTask
        The well, its plate, its image index rows and the lake.

    Returns
    -------
    int
        Number of rows written.
    """
    frame = measure_images(task.image_rows)
    task.lake().write_well(RAW_IMAGES, task.plate, task.well, frame)
    return frame.height
