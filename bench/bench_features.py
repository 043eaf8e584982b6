"""Benchmark the per-object feature sets on one full-size (1080 x 1080, five-channel) synthetic site.

Times, in one run on the same objects (ground-truth masks of the synthetic site):

1. ``features.measure_regionprops`` (the study's regionprops features),
2. ``cellprofiler_features.measure_cellprofiler`` (CellProfiler's measurements, our fast path),
3. ``cellprofiler_features.measure_cp_measure`` (bare cp-measure, same families and objects),
4. per-image means (``Mean_<Object>_<Measurement>``, ``Count_<Object>``) three ways: as before
   (cp-measure's intensity, per-object table, ``mean_table``), ``mean_table(measure_cellprofiler)``
   and ``measure_cellprofiler_means`` (column arrays straight to means, vectorised intensity),

and prints seconds per site, sites per second per core (the process is pinned to one thread),
the speed-up of (2) over (3), peak resident memory and the largest relative difference between
(2) and (3).

Usage: ``python bench/bench_features.py [--families texture,granularity,...] [--image-size 192]
[--repeat 20]`` (``--image-size`` renders a site of the default synthetic geometry, 34 px cells, at that size; ``--repeat``
reports the best of that many runs of each timing).
"""

from __future__ import annotations

import argparse
import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import resource  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
from cp_measure.bulk import get_core_measurements  # noqa: E402

from morph_assets.lib.features import cellprofiler as cpf  # noqa: E402
from morph_assets.lib.features import measure_regionprops  # noqa: E402
from morph_assets.lib.plates import CHANNEL_NAMES  # noqa: E402
from morph_assets.lib.synthetic import SyntheticConfig, render_site  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


REPEAT = 1


def _timed(label: str, function, *args, **kwargs):
    seconds = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        seconds = min(seconds, time.perf_counter() - start)
    print(f"{label:<34s} {seconds:8.3f} s/site  {1.0 / seconds:7.3f} sites/s/core  peak {_peak_mib():7.0f} MiB")
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


class _CpMeasureIntensity:
    """cp-measure's own ``get_intensity`` behind :class:`IntensityObjects`' interface (the old path)."""

    _intensity = staticmethod(get_core_measurements(legacy=True, sanitize=False)["intensity"])

    def __init__(self, labels, n=None):
        self.labels = labels

    def features(self, pixels):
        return self._intensity(self.labels, pixels)


@contextmanager
def _cp_measure_intensity():
    saved = cpf.IntensityObjects
    cpf.IntensityObjects = _CpMeasureIntensity
    try:
        yield
    finally:
        cpf.IntensityObjects = saved


def _means_before(segmentation, images, families):
    """Per-image means as computed before: cp-measure intensity, per-object table, ``mean_table``."""
    with _cp_measure_intensity():
        return cpf.mean_table(cpf.measure_cellprofiler(segmentation, images, families))


def _means_via_table(segmentation, images, families):
    return cpf.mean_table(cpf.measure_cellprofiler(segmentation, images, families))


def _means_difference(ours, reference) -> float:
    if ours.columns != reference.columns:
        return float("inf")
    a = ours.to_numpy().astype(float).ravel()
    b = reference.to_numpy().astype(float).ravel()
    if (np.isnan(a) != np.isnan(b)).any():
        return float("inf")
    finite = ~np.isnan(b)
    diff = np.abs(a[finite] - b[finite])
    return float(np.where(diff <= 1e-12, 0.0, diff / np.maximum(np.abs(b[finite]), 1e-12)).max(initial=0.0))


def main() -> None:
    global REPEAT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(cpf.FAMILIES))
    parser.add_argument("--well", default="A01")
    parser.add_argument("--image-size", type=int, default=None, help="site size in px (default: full size)")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs per timing")
    parser.add_argument("--skip-reference", action="store_true", help="do not time bare cp-measure")
    args = parser.parse_args()
    families = tuple(f for f in args.families.split(",") if f)
    REPEAT = max(1, args.repeat)

    config = SyntheticConfig.full_size()
    if args.image_size is not None:  # the platform's synthetic sites: default geometry, given size
        config = SyntheticConfig(image_size=args.image_size)
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
    cpf.measure_cellprofiler_means(crop, {k: v[:128, :128] for k, v in images.items()}, families)

    regionprops, t_regionprops = _timed("regionprops features", measure_regionprops, segmentation, images)
    ours, t_ours = _timed("CellProfiler features (ours)", cpf.measure_cellprofiler, segmentation, images, families)
    before, t_before = _timed("means, before (cp-measure int.)", _means_before, segmentation, images, families)
    via_table, t_via_table = _timed("means via per-object table", _means_via_table, segmentation, images, families)
    means, t_means = _timed("means, measure_cellprofiler_means", cpf.measure_cellprofiler_means, segmentation, images, families)
    print(f"means speed-up vs before: {t_before / t_means:.2f}x, vs mean_table path: {t_via_table / t_means:.2f}x")
    print(f"max relative difference of the means: vs before {_means_difference(means, before):.3g}, "
          f"vs mean_table(measure_cellprofiler) {_means_difference(means, via_table):.3g} "
          f"({means.width} columns)")
    print(f"regionprops columns: {regionprops.width - 1}, CellProfiler columns: {ours.width - 1}")
    if not args.skip_reference:
        reference, t_reference = _timed(
            "bare cp-measure (same families)", cpf.measure_cp_measure, segmentation, images, families
        )
        worst, where = max_relative_difference(ours, reference)
        print(f"speed-up vs cp-measure: {t_reference / t_ours:.1f}x")
        print(f"max relative difference ours vs cp-measure: {worst:.3g} ({where})")
    print(f"peak memory (ru_maxrss): {_peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
