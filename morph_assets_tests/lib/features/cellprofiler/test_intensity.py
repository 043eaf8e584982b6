"""Vectorised intensity (cellprofiler_intensity) against cp-measure's get_intensity(legacy=True)."""

from __future__ import annotations

import numpy as np
import skimage.segmentation

from morph_assets.lib.features.cellprofiler import IntensityObjects, inner_boundaries
from morph_assets_tests.lib.features.cellprofiler.helpers import CORE, _close

ORDER_STATISTICS = (
    "Intensity_MinIntensity", "Intensity_MaxIntensity", "Intensity_LowerQuartileIntensity",
    "Intensity_MedianIntensity", "Intensity_MADIntensity", "Intensity_UpperQuartileIntensity",
    "Intensity_MinIntensityEdge", "Intensity_MaxIntensityEdge", "Location_MaxIntensity_X",
    "Location_MaxIntensity_Y",
)


def _intensity_variants(pixels, labels):
    rng = np.random.default_rng(7)
    with_nan = pixels.copy()
    with_nan[::5, ::3] = np.nan  # non-finite pixels are skipped
    dark = pixels.copy()
    dark[labels == 1] = 0.0  # zero integrated intensity: NaN centre of mass and displacement
    return {
        "plain": pixels,
        "ties": np.round(pixels * 9) / 9,  # many equal values: quartiles and first maximum on ties
        "nan": with_nan,
        "dark": dark,
        "noise": rng.random(pixels.shape),
    }


def test_intensity_matches_cp_measure(site):
    segmentation, images = site
    for labels in (segmentation.nuclei, segmentation.cells, segmentation.cytoplasm):
        objects = IntensityObjects(labels)
        for channel in ("DNA", "RNA"):
            for variant, pixels in _intensity_variants(images[channel] / 65535.0, labels).items():
                ours = objects.features(pixels)
                with np.errstate(invalid="ignore", divide="ignore"):
                    reference = CORE["intensity"](labels, pixels)
                assert list(ours) == list(reference)
                for name, values in reference.items():
                    _close(ours[name], values)
                    if name in ORDER_STATISTICS:  # no arithmetic reordering: bit for bit
                        assert np.array_equal(ours[name], values), (variant, name)


def test_intensity_hand_built_objects():
    labels = np.zeros((12, 12), np.int32)
    labels[1:6, 1:6] = 1
    labels[7, 7] = 2  # single pixel: every quantile is that pixel
    labels[8:11, 2:9] = 3
    pixels = np.linspace(0.0, 1.0, 144).reshape(12, 12)
    pixels[labels == 3] = np.nan  # object without a finite pixel: zeros, as cp-measure
    ours = IntensityObjects(labels).features(pixels)
    reference = CORE["intensity"](labels, pixels)
    for name, values in reference.items():
        _close(ours[name], values)
    assert ours["Intensity_MedianIntensity"][1] == pixels[7, 7]
    assert ours["Intensity_IntegratedIntensity"][2] == 0.0


def test_inner_boundaries_equal_find_boundaries(site):
    segmentation, _ = site
    rng = np.random.default_rng(3)
    for labels in (segmentation.nuclei, segmentation.cells, segmentation.cytoplasm, rng.integers(0, 4, (17, 23))):
        expected = skimage.segmentation.find_boundaries(labels[np.newaxis], mode="inner")[0]
        assert np.array_equal(inner_boundaries(labels), expected)
