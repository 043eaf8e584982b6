"""Tests of image reading and per-image pixel statistics and focus."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from morph_assets.lib.plates import (
    FLOAT_COUNTS_FULL_SCALE,
    PIXEL_STATISTICS,
    ImageReadError,
    contract_image,
    full_scale,
    pixel_statistics,
    power_log_log_slope,
    read_image,
    read_scaled_image,
    scale_image,
)


def _power_law_field(exponent: float, size: int = 128, seed: int = 0) -> np.ndarray:
    """A random field whose power spectrum falls as ``f**-exponent`` (random phases)."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    amplitude = radius ** (-exponent / 2.0)
    amplitude[0, 0] = 0.0
    noise = rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))
    return np.real(np.fft.ifft2(noise * amplitude))


def test_read_image_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    for dtype in (np.uint8, np.uint16, np.float32):
        image = (rng.random((24, 32)) * 200).astype(dtype)
        path = tmp_path / f"image-{np.dtype(dtype).name}.tiff"
        tifffile.imwrite(path, image)
        read = read_image(path)
        assert read.dtype == image.dtype
        np.testing.assert_array_equal(read, image)


def test_read_image_single_plane_stack_is_squeezed(tmp_path):
    image = np.arange(16 * 16, dtype=np.uint16).reshape(1, 16, 16)
    path = tmp_path / "one.tiff"
    tifffile.imwrite(path, image)
    np.testing.assert_array_equal(read_image(path), image[0])


def _assert_read_error(path, fragment):
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert fragment in str(caught.value)
    assert caught.value.path == str(path)
    return caught.value


def test_read_image_truncated(tmp_path):
    path = tmp_path / "truncated.tiff"
    tifffile.imwrite(path, np.random.default_rng(2).integers(0, 4000, (64, 64), dtype=np.uint16))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    _assert_read_error(path, "not a readable TIFF")


def test_read_image_corrupt_header(tmp_path):
    path = tmp_path / "corrupt.tiff"
    path.write_bytes(b"II*\x00" + b"\xff" * 60)
    # tifffile reads a page-less file as an empty array, so this is reported as a shape problem.
    _assert_read_error(path, "")


def test_read_image_not_a_tiff(tmp_path):
    path = tmp_path / "image.tiff"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    _assert_read_error(path, "not a readable TIFF")


def test_read_image_missing(tmp_path):
    _assert_read_error(tmp_path / "absent.tiff", "file not found")


def test_read_image_stack(tmp_path):
    path = tmp_path / "stack.tiff"
    tifffile.imwrite(path, np.zeros((3, 16, 16), dtype=np.uint16), photometric="minisblack")
    _assert_read_error(path, "expected one 2-D plane, found an array of shape (3, 16, 16)")


def test_read_image_too_small(tmp_path):
    path = tmp_path / "tiny.tiff"
    tifffile.imwrite(path, np.zeros((4, 16), dtype=np.uint16))
    _assert_read_error(path, "too small")


def test_image_read_error_pickles():
    import pickle

    error = pickle.loads(pickle.dumps(ImageReadError("/a/b.tiff", "broken")))
    assert (error.path, error.reason, str(error)) == ("/a/b.tiff", "broken", "/a/b.tiff: broken")


def test_pixel_statistics_against_numpy():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 65536, size=(50, 70), dtype=np.uint16)
    image[0, :7] = 65535
    stats = pixel_statistics(image)
    assert list(stats) == list(PIXEL_STATISTICS)
    # hand computation of the contract: uint16 counts over 65535
    fraction = image.astype(np.float64) / 65535.0
    assert stats["mean_intensity"] == pytest.approx(fraction.mean(), rel=1e-12)
    assert stats["std_intensity"] == pytest.approx(np.std(fraction), rel=1e-12)
    assert stats["min_intensity"] == pytest.approx(image.min() / 65535.0, rel=1e-15)
    assert stats["max_intensity"] == 1.0
    assert stats["saturated_fraction"] == np.count_nonzero(image == 65535) / image.size
    # the focus slope does not depend on the intensity scale
    assert stats["power_log_log_slope"] == pytest.approx(power_log_log_slope(image), rel=1e-9)
    assert all(isinstance(value, float) for value in stats.values())


def test_pixel_statistics_mean_does_not_overflow():
    image = np.full((16, 16), 65535, dtype=np.uint16)
    stats = pixel_statistics(image)
    assert stats["mean_intensity"] == 1.0
    assert stats["saturated_fraction"] == 1.0
    assert np.isnan(stats["power_log_log_slope"])


@pytest.mark.parametrize(
    ("dtype", "saturated"),
    [(np.uint16, 65535), (np.uint8, 255), (np.int16, 32767), (np.float32, 1.0), (np.float64, 1.0),
     (np.float32, 65535.0)],  # the last: a float file of camera counts
)
def test_saturated_fraction(dtype, saturated):
    image = np.zeros((20, 20), dtype=dtype)
    image[4:, :] = 0.5 * saturated  # a float image's scale is read from its maximum: keep it in range
    image[:3, :] = saturated  # 60 of 400 pixels
    # almost, not saturated
    image[3, 0] = saturated - (1 if np.issubdtype(dtype, np.integer) or saturated > 1 else 0.01)
    assert full_scale(image) == float(saturated)
    assert pixel_statistics(image)["saturated_fraction"] == pytest.approx(60 / 400)


# The same 16-bit counts stored five ways. Each storage is one rounding of the same fraction of
# full scale, so the contract values differ from counts / 65535 by at most half a step of the
# storage type: 0.5 / 255 (uint8), 0.5 / 32767 (int16), float32 round-off (2**-24, relative).
HALF_STEP = {"uint16": 0.0, "uint8": 0.5 / 255, "int16": 0.5 / 32767, "float32_counts": 0.0, "float32_unit": 0.0}


def _same_pixels_five_ways(counts: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "uint16": counts.astype(np.uint16),
        "uint8": np.rint(counts / 257.0).astype(np.uint8),  # 65535 = 255 * 257
        "int16": np.rint(counts * (32767 / 65535)).astype(np.int16),
        "float32_counts": counts.astype(np.float32),
        "float32_unit": (counts / 65535.0).astype(np.float32),
    }


def test_same_pixels_in_any_type_give_the_same_statistics(tmp_path):
    rng = np.random.default_rng(11)
    # a smooth, textured field of counts with a saturated block; counts stay below 65407 elsewhere
    # so that 8-bit rounding (65407 / 257 = 254.5) cannot create saturated pixels of its own
    field = ndimage.gaussian_filter(rng.normal(size=(96, 96)), 3)
    counts = np.rint(2000 + 30000 * (field - field.min()) / np.ptp(field))
    counts[:6, :10] = 65535  # 60 saturated pixels
    reference = counts / 65535.0  # the contract, by hand
    for name, stored in _same_pixels_five_ways(counts).items():
        path = tmp_path / f"{name}.tiff"
        tifffile.imwrite(path, stored)
        read = read_image(path)
        stats = pixel_statistics(read, path)
        tolerance = HALF_STEP[name] + 1e-7  # + float32 round-off of the stored fractions
        assert stats["mean_intensity"] == pytest.approx(reference.mean(), abs=tolerance), name
        assert stats["min_intensity"] == pytest.approx(reference.min(), abs=tolerance), name
        assert stats["max_intensity"] == 1.0, name
        # adding an error bounded by e to every pixel moves the standard deviation by at most e
        assert stats["std_intensity"] == pytest.approx(reference.std(), abs=tolerance), name
        assert stats["saturated_fraction"] == 60 / counts.size, name
        np.testing.assert_allclose(read_scaled_image(path), reference, atol=tolerance, rtol=0)


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (np.array([[0, 255]], np.uint8), [[0.0, 1.0]]),
        (np.array([[0, 65535]], np.uint16), [[0.0, 1.0]]),
        (np.array([[0, 32767]], np.int16), [[0.0, 1.0]]),
        (np.array([[0.0, 0.25, 1.0]], np.float32), [[0.0, 0.25, 1.0]]),  # already in [0, 1]
        (np.array([[0.0, 1.3, 13107.0]], np.float64), [[0.0, 1.3 / 65535, 0.2]]),  # counts
        (np.array([[0.0, 1.3]], np.float64), [[0.0, 1.3]]),  # flat-field corrected, bright pixels past 1
        (np.array([[0.0, 2.0]], np.float64), [[0.0, 2.0]]),  # the boundary: still the contract scale
        # just above 2 in one pixel of two: no whole numbers, and the 99th percentile (1.98) stays below 2
        (np.array([[0.0, 2.0000001]], np.float64), [[0.0, 2.0000001]]),
        (np.array([[0.0, 3.0]], np.float64), [[0.0, 3.0 / 65535]]),  # whole numbers above 2: counts
    ],
)
def test_contract_by_hand(pixels, expected):
    np.testing.assert_allclose(scale_image(pixels, dtype=np.float64), expected, rtol=1e-15)
    assert scale_image(pixels).dtype == np.float32


@pytest.mark.parametrize(
    ("pixels", "fragment"),
    [
        (np.array([[0.5, -0.01]], np.float32), "negative value -0.01"),
        (np.array([[0.5, np.nan]], np.float32), "1 pixel(s) are NaN or infinite"),
        (np.array([[0.5, np.inf]], np.float64), "1 pixel(s) are NaN or infinite"),
        (np.array([[0.5, -np.inf]], np.float64), "1 pixel(s) are NaN or infinite"),
        (np.array([[0.5, 70000.0]], np.float32), "maximum 70000 is above the 16-bit full scale 65535"),
        (np.array([[5, -3]], np.int16), "int16 image holds negative value -3"),
        (np.array([[5, 3]], np.int32), "unsupported pixel type int32"),
        (np.array([[5, 3]], np.uint32), "unsupported pixel type uint32"),
        (np.array([[5, 3]], np.int8), "unsupported pixel type int8"),
        (np.array([[True, False]]), "unsupported pixel type bool"),
    ],
)
def test_unmappable_pixels_name_the_file(pixels, fragment):
    with pytest.raises(ImageReadError) as caught:
        scale_image(pixels, "/plates/P1/Images/r01c01f01p01-ch1sk1fk1fl1.tiff")
    message = str(caught.value)
    assert message.startswith("/plates/P1/Images/r01c01f01p01-ch1sk1fk1fl1.tiff: ")
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("pixels", "fragment"),
    [
        (np.full((16, 16), np.nan, np.float32), "256 pixel(s) are NaN or infinite"),
        (np.full((16, 16), -1, np.int16), "negative value -1"),
        (np.full((16, 16), 7, np.uint32), "unsupported pixel type uint32"),
        (np.zeros((2, 16, 16), np.float32), "expected one 2-D plane"),
    ],
)
def test_unmappable_files_raise_when_read(tmp_path, pixels, fragment):
    path = tmp_path / "bad.tiff"
    tifffile.imwrite(path, pixels, photometric="minisblack")
    with pytest.raises(ImageReadError) as caught:
        read_scaled_image(path)
    assert caught.value.path == str(path) and fragment in str(caught.value)
    with pytest.raises(ImageReadError):
        pixel_statistics(tifffile.imread(path), path) if pixels.ndim == 2 else read_image(path)


def test_float_counts_full_scale_is_the_uint16_one():
    assert FLOAT_COUNTS_FULL_SCALE == np.iinfo(np.uint16).max


@pytest.mark.parametrize("exponent", [1.0, 2.0, 3.0])
def test_power_log_log_slope_recovers_exponent(exponent):
    for seed in (0, 1):
        field = _power_law_field(exponent, seed=seed)
        assert power_log_log_slope(field) == pytest.approx(-exponent, abs=0.15)


def test_power_log_log_slope_independent_of_offset_and_gain():
    field = _power_law_field(2.0, seed=5)
    assert power_log_log_slope(field * 37 + 1000) == pytest.approx(power_log_log_slope(field), abs=1e-9)


def test_power_log_log_slope_white_noise_is_flat():
    noise = np.random.default_rng(4).normal(size=(128, 96))
    assert abs(power_log_log_slope(noise)) < 0.1


def _slopes_under_blur(image, sigmas):
    return [power_log_log_slope(ndimage.gaussian_filter(image, sigma) if sigma else image) for sigma in sigmas]


@pytest.mark.parametrize("periodic", [True, False])
def test_power_log_log_slope_decreases_with_blur(periodic):
    # periodic: the whole synthetic field; non-periodic: a crop, like a real camera frame.
    image = _power_law_field(1.0, seed=6) if periodic else _power_law_field(1.0, size=256, seed=6)[:128, :128]
    slopes = _slopes_under_blur(image, (0, 0.5, 1.0, 1.5))
    assert all(later < earlier for earlier, later in zip(slopes, slopes[1:])), slopes
    assert slopes[-1] < slopes[0] - 1.5


def test_power_log_log_slope_keeps_decreasing_under_heavy_blur_of_a_non_periodic_crop():
    # Unwindowed, the jump between opposite borders of a crop made sigma >= 2 px look sharper.
    image = _power_law_field(1.0, size=256, seed=6)[:128, :128]
    slopes = _slopes_under_blur(image, (1.5, 2.0, 3.0))
    assert all(later < earlier for earlier, later in zip(slopes, slopes[1:])), slopes


def test_power_log_log_slope_on_integer_image():
    field = _power_law_field(2.0, seed=8)
    scaled = ((field - field.min()) / np.ptp(field) * 60000).astype(np.uint16)
    assert power_log_log_slope(scaled) == pytest.approx(-2.0, abs=0.15)


@pytest.mark.parametrize("dtype", [np.uint16, np.float64])
def test_power_log_log_slope_constant_is_nan(dtype):
    assert np.isnan(power_log_log_slope(np.full((32, 32), 7, dtype=dtype)))


def _unit_field(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((64, 64)) * 0.8).astype(np.float32)


def test_one_hot_pixel_does_not_turn_a_unit_float_image_into_counts():
    image = _unit_field(0)
    hot = image.copy()
    hot[0, 0] = 2.5
    # by hand: the 4095 other pixels keep their values, the hot one stays 2.5 (nothing is divided)
    expected = (image.astype(np.float64).sum() - image[0, 0] + 2.5) / image.size
    assert full_scale(hot) == 1.0
    assert pixel_statistics(hot)["mean_intensity"] == pytest.approx(expected, rel=1e-12)
    assert pixel_statistics(hot)["mean_intensity"] > 0.39  # was 6e-6 when divided by 65535


def test_whole_number_float_counts_are_counts_even_when_mostly_dark():
    counts = np.zeros((64, 64), np.float32)
    counts[:4, :4] = 1200.0  # 16 bright pixels of 4096: the 99th percentile is 0, yet every value is whole
    assert np.percentile(counts, 99) == 0.0
    assert full_scale(counts) == FLOAT_COUNTS_FULL_SCALE
    assert pixel_statistics(counts)["max_intensity"] == pytest.approx(1200 / 65535, rel=1e-12)


def test_background_subtracted_counts_with_cells_are_counts():
    rng = np.random.default_rng(5)
    counts = rng.normal(0.5, 0.3, (64, 64)).clip(0)  # background near 0 after subtraction, not whole
    counts[8:40, 8:40] += 300.0 + rng.random((32, 32))  # cells: a quarter of the image
    assert not np.all(np.mod(counts, 1) == 0)
    assert full_scale(counts) == FLOAT_COUNTS_FULL_SCALE
    np.testing.assert_allclose(scale_image(counts, dtype=np.float64), counts / 65535, rtol=1e-15)


def test_pixel_statistics_of_one_plane_saved_as_a_stack():
    rng = np.random.default_rng(2)
    plane = rng.integers(0, 4096, (32, 32), dtype=np.uint16)
    assert pixel_statistics(plane[None]) == pixel_statistics(plane)
    with pytest.raises(ImageReadError, match=r"^a\.tif: expected one 2-D plane, found an array of shape \(2, 32, 32\)"):
        pixel_statistics(np.stack([plane, plane]), "a.tif")


@pytest.mark.parametrize(("value", "count"), [(np.nan, 1), (-0.5, 1), (np.inf, 1)])
def test_contract_image_refuses_floats_off_the_contract(value, count):
    image = _unit_field(1)
    image[3, 3] = value
    with pytest.raises(ValueError, match=rf"^DNA: {count} pixel\(s\) are NaN, infinite or negative, .*scale_image"):
        contract_image(image, "DNA")


def test_contract_image_maps_integers_and_keeps_floats():
    counts = np.random.default_rng(4).integers(0, 65536, (16, 16), dtype=np.uint16)
    np.testing.assert_array_equal(contract_image(counts), counts / 65535.0)  # integers: the contract
    corrected = _unit_field(3) * 3  # an illumination-corrected image past 2 stays as it is
    np.testing.assert_array_equal(contract_image(corrected), corrected.astype(np.float64))
