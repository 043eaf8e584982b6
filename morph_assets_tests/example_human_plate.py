"""A small plate of real 8-bit images, laid out as a user brings one (README, "Add a real plate").

The images are CellProfiler's ExampleHuman field (HT29 cells, 512 x 512 uint8), vendored
unchanged in ``data/example_human/``. The plate's own files (``load_data.csv``, ``platemap.tsv``
with an empty ``broad_sample`` for DMSO, ``compound_metadata.tsv`` without a DMSO row) are in
``data/example_human_plate/``; see its ``SOURCES.md`` for the origin of every file and the layout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import tifffile

DATA = Path(__file__).parent / "data"
PLATE_FILES = DATA / "example_human_plate"
FIELD_FILES = {
    # The plate's stain name -> the vendored ExampleHuman image (d0 Hoechst, d2 cell body stain).
    "DNA": DATA / "example_human" / "AS_09125_050116030001_D03f00d0.tif",
    "AGP": DATA / "example_human" / "AS_09125_050116030001_D03f00d2.tif",
}
BARCODE = "ExampleHuman-HT29"
#: Side of one site: the 512 px field cut into a 4 x 4 grid of tiles.
TILE = 128


def tile_position(well: str, site: int, wells: list[str]) -> tuple[int, int]:
    """Row and column of the tile that is ``site`` of ``well``: tile k = 2 * well index + site - 1,
    read row by row over the 4 x 4 grid."""
    k = 2 * wells.index(well) + site - 1
    return divmod(k, 512 // TILE)


def build_plate(source_root: Path) -> Path:
    """Write the plate folder ``<source_root>/ExampleHuman-HT29/`` and return it.

    Every site listed in ``load_data.csv`` becomes a 128 x 128 crop of the vendored field, pixel
    values unchanged (uint8), so the plate holds only real pixels.
    """
    folder = Path(source_root) / BARCODE
    (folder / "Images").mkdir(parents=True)
    for name in ("load_data.csv", "platemap.tsv", "compound_metadata.tsv"):
        shutil.copyfile(PLATE_FILES / name, folder / name)
    fields = {stain: tifffile.imread(path) for stain, path in FIELD_FILES.items()}
    load_data = pl.read_csv(folder / "load_data.csv", infer_schema=False)
    wells = list(dict.fromkeys(load_data["Metadata_Well"].to_list()))
    for row in load_data.iter_rows(named=True):
        top, left = (TILE * i for i in tile_position(row["Metadata_Well"], int(row["Metadata_Site"]), wells))
        for stain, field in fields.items():
            tile = np.ascontiguousarray(field[top:top + TILE, left:left + TILE])
            tifffile.imwrite(folder / row[f"PathName_Orig{stain}"] / row[f"FileName_Orig{stain}"], tile)
    (folder / "ACQUISITION_COMPLETE").touch()
    return folder
