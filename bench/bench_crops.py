"""Benchmark the ``single_cell_crops`` task (``crop_well``) on generated wells: seconds and bytes per well.

Generates one synthetic plate (``--image-size`` px, ``--sites`` sites per well, ``--wells``
wells; ``--full-size`` is CPJUMP1's 1080 px, 9 sites, 60 px cells), puts each site's true
cell and nucleus masks into a lake as the ``masks`` table would (segmentation is not what is
measured), sizes the box from the true cells' equivalent diameters as the asset does from the
regionprops table, then runs ``crop_well`` once per well (one process, one torch thread) and
prints per well: cells, seconds, bytes of ``crops.npz``, and the plate's box size.

Usage: ``python bench/bench_crops.py [--full-size] [--wells 2] [--view-size 32]``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from morph_assets.lib.features import crop_size_from_diameters
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import WELLS_384, read_plate, site_prefix
from morph_assets.lib.synthetic import SyntheticConfig, generate_plate
from morph_assets.lib.tasks import CropTask, crop_well, mask_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-size", action="store_true")
    parser.add_argument("--wells", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=192)
    parser.add_argument("--sites", type=int, default=1)
    parser.add_argument("--view-size", type=int, default=32)
    args = parser.parse_args()
    wells = tuple(WELLS_384[:args.wells])
    overrides = {"n_plates": 1, "wells": wells, "include_brightfield": False, "seed": 0}
    config = (SyntheticConfig.full_size(**overrides) if args.full_size
              else SyntheticConfig(image_size=args.image_size, sites_per_well=args.sites, **overrides))
    root = Path(tempfile.mkdtemp(prefix="bench_crops_"))
    try:
        start = time.perf_counter()
        folder = generate_plate(config, 0, root / "source")
        print(f"generated {len(wells)} wells x {config.sites_per_well} sites of {config.image_size} px "
              f"in {time.perf_counter() - start:.1f} s")
        index, lake = read_plate(folder), Lake(root / "lake")
        diameters = []
        for well in wells:
            for path in sorted(set(index.well_images(well)["path"].to_list())):
                prefix = site_prefix(str(path))
                for kind, truth in (("nuclei", "nuclei"), ("cells", "cells"), ("cytoplasm", "cells")):
                    target = mask_path(lake, index.barcode, well, prefix, kind)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(folder / "GroundTruth" / f"{prefix}-{truth}.tiff", target)
                cells = tifffile.imread(folder / "GroundTruth" / f"{prefix}-cells.tiff")
                areas = np.bincount(cells.ravel())[1:]
                diameters += np.sqrt(4 * areas[areas > 0] / np.pi).tolist()
        box = crop_size_from_diameters(diameters)
        print(f"box {box} px (p95 diameter {np.percentile(diameters, 95):.1f} px) -> view {args.view_size} px")
        for well in wells:
            task = CropTask(well=well, lake_root=str(lake.root), plate=index.barcode,
                            image_rows=index.well_images(well).to_dicts(), illumination_files={},
                            box_size=box, view_size=args.view_size)
            start = time.perf_counter()
            cells = crop_well(task)
            seconds = time.perf_counter() - start
            size = (lake.well_folder("single_cell_crops", index.barcode, well) / "crops.npz").stat().st_size
            print(f"well {well}: {cells} cells, {seconds:.2f} s, crops.npz {size / 1e6:.2f} MB "
                  f"({size / max(cells, 1) / 1e3:.1f} kB per cell)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
