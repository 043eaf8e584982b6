"""Benchmark the per-object feature sets on one full-size (1080 x 1080, five-channel) synthetic site.

Times, in one run on the same objects (ground-truth masks of the synthetic site):

1. ``features.measure_regionprops`` (the study's regionprops features),
2. ``cellprofiler_features.measure_cellprofiler`` (CellProfiler's measurements, our fast path),
3. ``cellprofiler_features.measure_cp_measure`` (bare cp-measure, same families and objects),

and prints seconds per site, sites per second per core (the process is pinned to one thread),
the speed-up of (2) over (3), peak resident memory and the largest relative difference between
(2) and (3).

Usage: ``python bench/bench_features.py [--families texture,granularity,...]``
"""

from __future__ import annotations

import argparse
import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import resource  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402

from morph_assets.lib import cellprofiler_features as cpf  # noqa: E402
from morph_assets.lib.features import measure_regionprops  # noqa: E402
from morph_assets.lib.naming import CHANNEL_NAMES  # noqa: E402
from morph_assets.lib.synthetic import SyntheticConfig, render_site  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(label: str, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    seconds = time.perf_counter() - start
    print(f"{label:<34s} {seconds:8.2f} s/site  {1.0 / seconds:7.3f} sites/s/core  peak {_peak_mib():7.0f} MiB")
    return result, seconds


def max_relative_difference(ours, reference, atol: float = 1e-12) -> tuple[float, str]:
    """Largest ``|a - b| / max(|b|, atol)`` over all shared numeric columns, NaNs must coincide."""
    worst, where = 0.0, ""
    for column in reference.columns:
        if column == "ObjectNumber":
            continue
        a = ours[column].to_numpy().astype(float)
        b = reference[column].to_numpy().astype(float)
        if (np.isnan(a) != np.isnan(b)).any():
            return float("inf"), f"{column} (NaN pattern differs)"
        finite = ~np.isnan(b)
        if not finite.any():
            continue
        diff = np.abs(a[finite] - b[finite])
        rel = np.where(diff <= atol, 0.0, diff / np.maximum(np.abs(b[finite]), atol))
        if rel.max() > worst:
            worst, where = float(rel.max()), column
    return worst, where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(cpf.FAMILIES))
    parser.add_argument("--well", default="A01")
    args = parser.parse_args()
    families = tuple(f for f in args.families.split(",") if f)

    config = SyntheticConfig.full_size()
    start = time.perf_counter()
    site = render_site(config, 0, args.well, 1)
    print(f"rendered {site.images.shape} site in {time.perf_counter() - start:.1f} s")
    nuclei = site.nuclei_labels.astype(np.int32)
    cells = site.cell_labels.astype(np.int32)
    segmentation = SimpleNamespace(
        nuclei=nuclei, cells=cells, cytoplasm=np.where(nuclei > 0, 0, cells).astype(np.int32)
    )
    images = {CHANNEL_NAMES[c]: site.images[i] for i, c in enumerate(site.channels) if c <= 5}
    print(f"objects: {int(cells.max())} cells, channels: {list(images)}, families: {list(families)}")

    # warm-up on a crop: numba compilation (cached on disk after the first run) is not per-site cost
    crop = SimpleNamespace(**{k: v[:128, :128] for k, v in vars(segmentation).items()})
    cpf.measure_cellprofiler(crop, {k: v[:128, :128] for k, v in images.items()}, families)

    regionprops, t_regionprops = _timed("regionprops features", measure_regionprops, segmentation, images)
    ours, t_ours = _timed("CellProfiler features (ours)", cpf.measure_cellprofiler, segmentation, images, families)
    reference, t_reference = _timed(
        "bare cp-measure (same families)", cpf.measure_cp_measure, segmentation, images, families
    )
    worst, where = max_relative_difference(ours, reference)
    print(f"regionprops columns: {regionprops.width - 1}, CellProfiler columns: {ours.width - 1}")
    print(f"speed-up vs cp-measure: {t_reference / t_ours:.1f}x")
    print(f"max relative difference ours vs cp-measure: {worst:.3g} ({where})")
    print(f"peak memory (ru_maxrss): {_peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
