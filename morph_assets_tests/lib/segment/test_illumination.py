"""Illumination functions recovered from synthetic plates, and the Apply step."""

from __future__ import annotations

import numpy as np
import pytest

from morph_assets.lib.plates import FLUORESCENCE_CHANNELS, WELLS_384
from morph_assets.lib.segment import (
    apply_illumination_function,
    compare_to_truth,
    estimate_illumination_function,
    smooth_illumination,
)
from morph_assets.lib.synthetic import SyntheticConfig, illumination_field, render_site

CONFIG = SyntheticConfig(n_plates=1, image_size=192, sites_per_well=2, seed=5)
# 20 wells spread over the plate x 2 sites = 40 sites of one plate.
WELLS = WELLS_384[::4][:20]


@pytest.fixture(scope="module")
def plate_sites() -> list[np.ndarray]:
    """(C, H, W) uint16 stacks of 40 sites of plate 0."""
    return [render_site(CONFIG, 0, well, site).images for well in WELLS for site in (1, 2)]


@pytest.mark.parametrize("channel", FLUORESCENCE_CHANNELS)
def test_recovers_the_true_flat_field_from_40_sites(plate_sites: list[np.ndarray], channel: int) -> None:
    # A generator: the estimate must work in one streaming pass.
    images = (stack[channel - 1] for stack in plate_sites)
    estimate = estimate_illumination_function(images)
    assert estimate.dtype == np.float32 and estimate.shape == (192, 192)
    assert estimate.mean() == pytest.approx(1.0, abs=1e-5)
    score = compare_to_truth(estimate, illumination_field(CONFIG, 0, channel))
    # Measured r 0.94-0.98 and relative RMSE 0.019-0.036 over the five channels.
    assert score["pearson_r"] > 0.9
    assert score["relative_rmse"] < 0.05


def test_polynomial_and_median_smoothing(plate_sites: list[np.ndarray]) -> None:
    truth = illumination_field(CONFIG, 0, 3)
    polynomial = estimate_illumination_function((s[2] for s in plate_sites), method="polynomial")
    median = estimate_illumination_function((s[2] for s in plate_sites), method="median")
    assert compare_to_truth(polynomial, truth)["pearson_r"] > 0.95  # measured 0.98
    assert compare_to_truth(median, truth)["pearson_r"] > 0.8


def test_correction_flattens_a_shaded_uniform_image() -> None:
    truth = illumination_field(CONFIG, 0, 1)
    rng = np.random.default_rng(0)
    shaded = [1000.0 * truth * rng.normal(1.0, 0.02, truth.shape) for _ in range(5)]
    # Little noise to average away: a light filter keeps the vignette's curvature.
    function = estimate_illumination_function(shaded, smoothing_sigma=12.0)
    corrected = apply_illumination_function(shaded[0], function)
    assert corrected.dtype == np.float32
    # Variation drops from the vignette's ~9 % to the noise's 2 %; the mean is kept.
    assert np.std(shaded[0]) / np.mean(shaded[0]) > 0.08
    assert np.std(corrected) / np.mean(corrected) < 0.03
    assert np.mean(corrected) == pytest.approx(np.mean(shaded[0]), rel=0.02)


def test_polynomial_fit_is_exact_for_a_quadratic() -> None:
    y, x = np.mgrid[0:64, 0:80] / 64.0
    quadratic = 2.0 + 0.3 * x - 0.2 * y + 0.5 * (x - 0.4) ** 2 + 0.1 * x * y
    fitted = smooth_illumination(quadratic, method="polynomial", smoothing_sigma=1.0)
    np.testing.assert_allclose(fitted, quadratic, rtol=1e-9)


def test_robust_minimum_normalisation() -> None:
    truth = illumination_field(CONFIG, 0, 2)
    function = estimate_illumination_function([truth * 500.0], normalisation="robust_minimum")
    assert np.percentile(function, 2) == pytest.approx(1.0, rel=1e-4)
    assert np.mean(function >= 1.0) > 0.97


def test_errors() -> None:
    with pytest.raises(ValueError, match="no images"):
        estimate_illumination_function(iter([]))
    with pytest.raises(ValueError, match="shape"):
        estimate_illumination_function([np.ones((8, 8)), np.ones((8, 9))])
    with pytest.raises(ValueError, match="method"):
        estimate_illumination_function([np.ones((8, 8))], method="spline")
    with pytest.raises(ValueError, match="shape"):
        apply_illumination_function(np.ones((8, 8)), np.ones((8, 9)))
    with pytest.raises(ValueError, match="positive"):
        apply_illumination_function(np.ones((2, 2)), np.zeros((2, 2)))


def test_function_is_the_same_from_counts_and_from_contract_images(plate_sites: list[np.ndarray]) -> None:
    # the illumination asset estimates from contract images (uint16 / 65535, float64); the mean-1
    # function is scale-free, so it must equal the estimate from the raw counts
    from_counts = estimate_illumination_function(sites[4] for sites in plate_sites)
    from_contract = estimate_illumination_function(sites[4].astype(np.float64) / 65535.0 for sites in plate_sites)
    np.testing.assert_allclose(from_contract, from_counts, rtol=1e-6)


def test_non_finite_images_are_refused() -> None:
    bad = np.ones((8, 8))
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="image 1 holds NaN or infinite pixels"):
        estimate_illumination_function([np.ones((8, 8)), bad])


def test_a_function_below_one_lifts_pixels_past_full_scale() -> None:
    image = np.full((4, 4), 0.9, np.float32)  # contract scale
    function = np.full((4, 4), 1.2, np.float32)
    function[0, 0] = 0.6
    corrected = apply_illumination_function(image, function)
    assert corrected[0, 0] == pytest.approx(1.5) and corrected[1, 1] == pytest.approx(0.75)
