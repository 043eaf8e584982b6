"""Per-image feature tables of each representation, annotated with the plate layout.

A *representation* is one way of turning a site into numbers: the study's pixel statistics
(baseline), its regionprops aggregates (enhanced), CellProfiler's ``Mean_`` table, and learned
embeddings. Each comes from one lake table; this module puts them all into the same shape
(``Metadata_Plate``, ``Metadata_Well``, ``Metadata_Site``, the perturbation's metadata, then
feature columns) so that profiling and retrieval treat them alike.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from morph_assets.lib.profiles._aggregate import feature_columns
from morph_assets.lib.schema import (
    BROAD_SAMPLE,
    CELLPROFILER_MEAN,
    CONTROL_TYPE,
    CROP_EMBEDDINGS,
    CROP_REPRESENTATION,
    METADATA_PREFIX,
    PERT_INAME,
    PERT_TYPE,
    PLATE,
    RAW_IMAGES,
    REGIONPROPS_IMAGE,
    SITE,
    TARGET_LIST,
    VAE_EMBEDDINGS,
    WELL,
)

IMAGE_KEYS = (PLATE, WELL, SITE)

#: The perturbation columns carried from the plate layout into every profile.
LAYOUT_COLUMNS = (
    BROAD_SAMPLE,
    PERT_INAME,
    TARGET_LIST,
    PERT_TYPE,
    CONTROL_TYPE,
)

#: Representation -> the lake table it is computed from.
SOURCE_TABLES: Mapping[str, str] = {
    "pixel_statistics": RAW_IMAGES,
    "regionprops": REGIONPROPS_IMAGE,
    "cellprofiler": CELLPROFILER_MEAN,
    "vae": VAE_EMBEDDINGS,
    CROP_REPRESENTATION: CROP_EMBEDDINGS,
}

_PIXEL_STATISTICS = ("mean_intensity", "std_intensity", "min_intensity", "max_intensity")


def pixel_statistics_table(raw_images: pl.DataFrame) -> pl.DataFrame:
    """The study's baseline features: mean, std, min and max of every channel of every site.

    Parameters
    ----------
    raw_images : pl.DataFrame
        The ``raw_images`` lake table (one row per site and channel).

    Returns
    -------
    pl.DataFrame
        One row per site: image keys, then ``Pixel_<statistic>_<channel>`` columns.
    """
    missing = [c for c in (*IMAGE_KEYS, "channel_name", *_PIXEL_STATISTICS) if c not in raw_images.columns]
    if missing:
        raise ValueError(f"raw_images table lacks columns {missing}")
    wide = raw_images.pivot(
        on="channel_name", index=list(IMAGE_KEYS), values=list(_PIXEL_STATISTICS), aggregate_function="first"
    )
    renamed = {
        column: f"Pixel_{column.replace('_intensity_', '_')}" for column in wide.columns if column not in IMAGE_KEYS
    }
    return wide.rename(renamed).sort(list(IMAGE_KEYS))


def image_features(representation: str, source: pl.DataFrame) -> pl.DataFrame:
    """One representation's per-image table: image keys then numeric feature columns.

    Parameters
    ----------
    representation : str
        A key of :data:`SOURCE_TABLES`.
    source : pl.DataFrame
        That representation's lake table.

    Returns
    -------
    pl.DataFrame
        One row per site with :data:`IMAGE_KEYS` and the features (other metadata dropped).
    """
    if representation not in SOURCE_TABLES:
        raise ValueError(f"unknown representation {representation!r}; choose from {list(SOURCE_TABLES)}")
    if representation == "pixel_statistics":
        return pixel_statistics_table(source)
    missing = [c for c in IMAGE_KEYS if c not in source.columns]
    if missing:
        raise ValueError(f"{SOURCE_TABLES[representation]} table lacks key columns {missing}")
    features = [c for c in feature_columns(source) if c not in ("ImageNumber", "ObjectNumber")]
    return source.select([*IMAGE_KEYS, *features]).sort(list(IMAGE_KEYS))


def annotate(per_image: pl.DataFrame, layout: pl.DataFrame) -> pl.DataFrame:
    """Join the perturbation of each well (from the plate layout) in front of the features.

    Parameters
    ----------
    per_image : pl.DataFrame
        Rows keyed by ``Metadata_Plate`` and ``Metadata_Well``.
    layout : pl.DataFrame
        The ``plate_layout`` lake table.

    Returns
    -------
    pl.DataFrame
        ``per_image`` with :data:`LAYOUT_COLUMNS` after its key columns. Wells missing from the
        layout raise, since a profile without a perturbation cannot be scored.
    """
    carried = [c for c in LAYOUT_COLUMNS if c in layout.columns]
    duplicated = layout.filter(pl.struct(PLATE, WELL).is_duplicated())
    if duplicated.height:
        examples = duplicated.select(PLATE, WELL).unique().sort([PLATE, WELL]).head(3).rows()
        raise ValueError(f"the plate layout lists a well twice, e.g. {examples}; one perturbation per well expected")
    annotations = layout.select([PLATE, WELL, *carried]).with_columns(pl.lit(True).alias("_in_layout"))
    joined = per_image.join(annotations, on=[PLATE, WELL], how="left")
    unmatched = joined.filter(pl.col("_in_layout").is_null())
    if unmatched.height:
        examples = unmatched.select(PLATE, WELL).unique().sort([PLATE, WELL]).head(3).rows()
        raise ValueError(f"{unmatched.height} rows have no perturbation in the plate layout, e.g. {examples}")
    keys = [c for c in per_image.columns if c.startswith(METADATA_PREFIX)]
    features = [c for c in per_image.columns if c not in keys]
    return joined.select([*keys, *carried, *features])
