"""Radial distribution and radial Zernike features against cp-measure."""

from __future__ import annotations

import numpy as np

from morph_assets.lib.features.cellprofiler import RadialGeometry, RadialZernikeBasis
from morph_assets_tests.lib.features.cellprofiler.helpers import CORE, _close


def test_radial_families_match_cp_measure(site):
    segmentation, images = site
    pixels = images["RNA"] / 65535.0
    labels = segmentation.cells
    ours = RadialGeometry(labels).features(pixels)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = CORE["radial_distribution"](labels, pixels)
    assert ours.keys() == reference.keys()
    for name in reference:
        _close(ours[name], reference[name])
    zernikes = RadialZernikeBasis(labels).features({"RNA": pixels})["RNA"]
    reference = CORE["radial_zernikes"](labels, pixels)
    assert zernikes.keys() == reference.keys()
    for name in reference:
        _close(zernikes[name], reference[name])
