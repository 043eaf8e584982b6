"""Granularity against cp-measure, and our grey reconstruction against scikit-image's."""

from __future__ import annotations

import numpy as np
import skimage.morphology

from morph_assets.lib.features.cellprofiler import GranularityObjects, granularity_spectrum, reconstruction
from morph_assets_tests.lib.features.cellprofiler.helpers import CORE, _close


def test_reconstruction_is_identical_to_skimage():
    rng = np.random.default_rng(3)
    mask = rng.random((40, 37))
    seed = skimage.morphology.erosion(mask, footprint=skimage.morphology.disk(1))
    expected = skimage.morphology.reconstruction(seed, mask, footprint=skimage.morphology.disk(1))
    assert np.array_equal(reconstruction(seed, mask), expected)


def test_granularity_matches_cp_measure(site):
    segmentation, images = site
    pixels = images["Mito"] / 65535.0
    spectrum = granularity_spectrum(pixels)
    for labels in (segmentation.nuclei, segmentation.cells):
        ours = GranularityObjects(labels, spectrum).features(spectrum)
        reference = CORE["granularity"](labels, pixels)
        _close(ours, [reference[f"Granularity_{k}"] for k in range(1, 17)])
