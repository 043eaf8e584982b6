"""Benchmark: seconds per site and sites per second per core of each segmenter.

On synthetic sites (default 192 px and full-size 1080 px, five channels, ground truth known):
classical (CellProfiler recipe), imported (reading masks made elsewhere, here the ground truth
written as Cellpose-named files), and cellpose when a trained model folder is given
(``--cellpose-model data_lake/models/cellpose``, written by the segmentation_model asset).
One process, one thread; AP@0.5 against ground truth is printed beside each time.

Usage: .venv/bin/python bench/bench_segment.py [--sizes 192 1080] [--sites 4] [--cellpose-model DIR]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from morph_assets.lib.segment import SegmentationSettings, score_segmentation, segment_site
from morph_assets.lib.synthetic import SyntheticConfig, render_site

CHANNELS = ("Mito", "AGP", "RNA", "ER", "DNA")


def synthetic_sites(size: int, n_sites: int) -> list:
    config = SyntheticConfig(n_plates=1, image_size=size) if size < 1080 else SyntheticConfig.full_size(n_plates=1)
    sites = []
    for index in range(n_sites):
        site = render_site(config, 0, ("B03", "C05", "H12", "K17")[index % 4], 1 + index // 4)
        images = {name: site.images[channel].astype(np.float32) / 65535 for channel, name in enumerate(CHANNELS)}
        sites.append((images, site.nuclei_labels, site.cell_labels))
    return sites


def time_method(name: str, sites: list, settings: SegmentationSettings, extra: list[dict] | None = None) -> None:
    """Print ms per site, sites per second per core and the mean cell AP@0.5 of one method."""
    extra = extra or [{} for _ in sites]
    segment_site(sites[0][0], name, settings, **extra[0])  # warm-up: imports, model loading, JIT
    scores = []
    started = time.perf_counter()
    for (images, _, cells), arguments in zip(sites, extra, strict=True):
        scores.append(score_segmentation(cells, segment_site(images, name, settings, **arguments).cells)["average_precision"])
    seconds = (time.perf_counter() - started) / len(sites)
    print(f"  {name:10s} {seconds * 1000:9.1f} ms/site  {1 / seconds:7.2f} sites/s/core  cells AP@0.5 {np.mean(scores):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[192, 1080])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--cellpose-model", default="")
    args = parser.parse_args()
    for size in args.sizes:
        sites = synthetic_sites(size, args.sites)
        diameter = (8.0, 40.0) if size < 1080 else (14.0, 80.0)
        # Ground truth keeps border objects; so does the benchmark, to score like for like.
        settings = SegmentationSettings(nucleus_diameter_range=diameter, discard_border_objects=False)
        print(f"{size} px sites ({args.sites}), {sum(int(cells.max()) for _, _, cells in sites) / len(sites):.0f} cells per site")
        time_method("classical", sites, settings)
        with tempfile.TemporaryDirectory() as folder:
            files = []
            for index, (_, nuclei, cells) in enumerate(sites):
                cell_file, nucleus_file = Path(folder) / f"s{index}_cp_masks.tif", Path(folder) / f"s{index}_nuclei_cp_masks.tif"
                tifffile.imwrite(cell_file, cells)
                tifffile.imwrite(nucleus_file, nuclei)
                files.append({"cell_masks": str(cell_file), "nuclei_masks": str(nucleus_file)})
            time_method("imported", sites, settings, files)
        if args.cellpose_model:
            import torch

            torch.set_num_threads(1)
            cellpose = SegmentationSettings(nucleus_diameter_range=diameter, discard_border_objects=False,
                                            cellpose_model_path=args.cellpose_model,
                                            cellpose_diameter=None if size < 1080 else 60.0)
            time_method("cellpose", sites, cellpose)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
