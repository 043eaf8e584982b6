"""Pictures a scientist looks at before trusting a segmentation: outlines over the stains."""

from __future__ import annotations

import numpy as np
import polars as pl

from morph_assets.lib.io import Lake
from morph_assets.lib.plates import read_image
from morph_assets.lib.plot import montage, outlined_composite, to_png
from morph_assets.lib.schema import COUNT_CELLS, RAW_IMAGES, SITE, SITE_PREFIX, WELL
from morph_assets.lib.tasks import read_site_segmentation


def segmentation_montage_png(lake: Lake, plate: str, sites: pl.DataFrame, n_sites: int = 4) -> bytes:
    """Render nucleus and cell outlines over DNA and AGP for a few sites spread over a plate.

    Parameters
    ----------
    lake : Lake
        The lake holding the plate's ``raw_images`` table and masks.
    plate : str
        Plate barcode.
    sites : polars.DataFrame
        The plate's rows of the ``masks`` index (``Metadata_Well``, ``Metadata_Site``,
        ``site_prefix``, ``Count_Cells``).
    n_sites : int, optional
        Panels to draw, spread evenly over the sorted sites, by default 4.

    Returns
    -------
    bytes
        A PNG image.
    """
    images = pl.read_parquet(lake.plate_file(RAW_IMAGES, plate)).filter(pl.col("channel_name").is_in(["DNA", "AGP"]))
    chosen = sites.sort(WELL, SITE)
    chosen = chosen[np.linspace(0, chosen.height - 1, min(n_sites, chosen.height)).astype(int)]
    panels = []
    for row in chosen.iter_rows(named=True):
        paths = dict(images.filter((pl.col(WELL) == row[WELL]) & (pl.col(SITE) == row[SITE]))
                     .select("channel_name", "path").iter_rows())
        segmentation = read_site_segmentation(lake, plate, row[WELL], row[SITE_PREFIX])
        rgb = outlined_composite(read_image(paths["DNA"]).astype(float), read_image(paths.get("AGP", paths["DNA"])).astype(float),
                                 segmentation.nuclei, segmentation.cells)
        panels.append((f"{row[WELL]} site {row[SITE]}: {row[COUNT_CELLS]} cells", rgb))
    # composed here because the Dagster layer wants the picture as PNG bytes for its metadata
    return to_png(montage(panels, title=f"{plate}: nuclei (yellow) and cells (magenta)")[0].figure)
