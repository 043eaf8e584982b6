"""Texture quantisation against CellProfiler's rule, in and above [0, 1].

CellProfiler's MeasureTexture quantises with ``skimage.util.img_as_ubyte`` (which raises above 1),
and its CorrectIlluminationApply clips corrected images at 1 by default; the reference here is
that pair of steps, run with scikit-image and cp-measure, not with our code.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.util
from mahotas.features import haralick
from scipy import ndimage

from morph_assets.lib.features.cellprofiler import HARALICK_FEATURES, haralick_features, quantize
from morph_assets_tests.lib.features.cellprofiler.helpers import CORE, _close


def _blobs(seed: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A textured image with values up to 1.3 and a label image of 9 square objects."""
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.random((size, size)), 1.5)
    image = 1.3 * (image - image.min()) / np.ptp(image)
    labels = np.zeros((size, size), np.int32)
    for k in range(9):
        y, x = divmod(k, 3)
        labels[4 + 30 * y : 26 + 30 * y, 4 + 30 * x : 26 + 30 * x] = k + 1
    return image, labels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantize_equals_img_as_ubyte_in_unit_range(dtype):
    rng = np.random.default_rng(0)
    pixels = rng.random((64, 64)).astype(dtype)
    pixels[0, :4] = (0.0, 1.0, 127.5 / 255, 0.5 / 255)  # the ends and exact rounding ties
    np.testing.assert_array_equal(quantize(pixels), skimage.util.img_as_ubyte(pixels))


def test_quantize_above_one_is_cellprofilers_default_pipeline():
    image, _ = _blobs(1)
    assert image.max() > 1.25
    with pytest.raises(ValueError, match="between -1 and 1"):  # MeasureTexture alone
        skimage.util.img_as_ubyte(image)
    # CorrectIlluminationApply's default "values greater than 1 set to 1", then MeasureTexture
    reference = skimage.util.img_as_ubyte(np.minimum(image, 1.0))
    levels = quantize(image)
    np.testing.assert_array_equal(levels, reference)
    assert levels.dtype == np.uint8 and (levels == 255).sum() == (image >= 1.0 - 0.5 / 255).sum()


def test_haralick_above_one_equals_cp_measure_on_the_clipped_image():
    image, labels = _blobs(2)
    ours = haralick_features(labels, quantize(image), int(labels.max()), 3)
    result = CORE["texture"](labels, np.minimum(image, 1.0))
    reference = np.array([[result[f"{f}_3_{d:02d}_256"] for f in HARALICK_FEATURES] for d in range(4)])
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)


def test_quantize_integers_go_through_the_contract():
    # uint8 levels are the file's own values: v / 255 * 255
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(quantize(pixels), pixels)


def test_quantize_refuses_nan():
    pixels = np.zeros((8, 8))
    pixels[2, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        quantize(pixels)


def _texture_reference(labels, pixels):
    result = CORE["texture"](labels, pixels)
    return np.array(
        [[result[f"{f}_3_{d:02d}_256"] for f in HARALICK_FEATURES] for d in range(4)]
    )


def test_texture_matches_cp_measure_on_synthetic_site(site):
    segmentation, images = site
    for labels in (segmentation.nuclei, segmentation.cytoplasm):
        for channel in ("DNA", "Mito"):
            pixels = images[channel] / 65535.0
            ours = haralick_features(labels, quantize(pixels), int(labels.max()), 3)
            _close(ours, _texture_reference(labels, pixels))


def test_texture_hand_built_objects():
    labels = np.zeros((20, 20), np.int32)
    labels[2:10, 2:10] = 1  # uniform square
    labels[12:18, 2:16] = 2  # horizontal gradient
    labels[2:4, 12:18] = 3  # two rows high: no vertical pair at distance 3 -> NaN
    pixels = np.zeros((20, 20))
    pixels[labels == 1] = 0.5
    pixels[12:18, 2:16] = np.linspace(0.1, 0.9, 14)[None, :]
    pixels[labels == 3] = 0.3
    ours = haralick_features(labels, quantize(pixels), 3, 3)
    uniform = ours[:, :, 0]
    assert np.all(uniform[:, 0] == 1.0)  # angular second moment
    assert np.all(uniform[:, 1] == 0.0)  # contrast
    assert np.all(uniform[:, 2] == 1.0)  # correlation of a zero-variance matrix
    assert np.isnan(ours[:, :, 2]).all()
    crop = (quantize(pixels) * (labels == 2))[12:18, 2:16]
    _close(ours[:, :, 1], haralick(crop, distance=3, ignore_zeros=True))
    _close(ours, _texture_reference(labels, pixels))
