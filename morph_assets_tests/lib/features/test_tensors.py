"""Site tensors: robust scaling, area downsampling against skimage, mask fraction, well files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.transform import downscale_local_mean

from morph_assets.lib.features import (
    CHANNEL_ORDER,
    area_downsample,
    grayscale,
    load_well_tensors,
    robust_scale,
    save_well_tensors,
    site_tensor,
    with_mask,
)


def random_site(rng: np.random.Generator, side: int = 192) -> dict[str, np.ndarray]:
    """Five uint16 channels with a few saturated pixels, so the 99.9th percentile clips something."""
    images = {}
    for name in CHANNEL_ORDER:
        image = rng.gamma(2.0, 500.0, (side, side)).astype(np.uint16)
        image.flat[rng.choice(image.size, 5, replace=False)] = 65535
        images[name] = image
    return images


def left_half_labels(side: int = 192) -> np.ndarray:
    labels = np.zeros((side, side), dtype=np.int32)
    labels[: side // 2, : side // 2] = 1
    labels[side // 2 :, : side // 2] = 7  # label values don't matter, only > 0
    return labels


def test_shape_dtype_and_range() -> None:
    tensor = site_tensor(random_site(np.random.default_rng(0)), left_half_labels(), size=64)
    assert tensor.shape == (len(CHANNEL_ORDER) + 1, 64, 64)
    assert tensor.dtype == np.float16
    assert tensor.min() >= 0 and tensor.max() <= 1
    # the saturated outliers are clipped, the bulk is not squeezed near 0
    assert 0.05 < float(tensor[:5].astype(np.float32).mean()) < 0.6


def test_mask_plane_is_the_foreground_fraction() -> None:
    tensor = site_tensor(random_site(np.random.default_rng(1)), left_half_labels(), size=64)
    np.testing.assert_array_equal(tensor[-1, :, :32], 1.0)
    np.testing.assert_array_equal(tensor[-1, :, 32:], 0.0)


def test_mask_fraction_with_a_partial_output_pixel() -> None:
    # 100 px to 8 bins of 12.5 px: bin 2 spans [25, 37.5) and holds 5 labelled columns -> 0.4
    labels = np.zeros((100, 100), dtype=np.int32)
    labels[:, :30] = 3
    images = {name: np.ones((100, 100), dtype=np.uint16) for name in CHANNEL_ORDER}
    mask_plane = site_tensor(images, labels, size=8)[-1].astype(np.float32)
    np.testing.assert_allclose(mask_plane[0], [1, 1, 0.4, 0, 0, 0, 0, 0], atol=1e-3)
    assert np.all(mask_plane == mask_plane[0])


def test_channels_equal_skimage_block_mean_of_the_scaled_image() -> None:
    images = random_site(np.random.default_rng(2))
    tensor = site_tensor(images, left_half_labels(), size=64)
    for index, name in enumerate(CHANNEL_ORDER):
        raw = images[name].astype(np.float64)
        scaled = np.clip(raw / np.percentile(raw, 99.9), 0, 1)
        expected = downscale_local_mean(scaled, (3, 3))
        np.testing.assert_allclose(tensor[index].astype(np.float64), expected, atol=1e-3)


def test_non_divisible_downsampling_equals_block_mean_of_the_upsampled_image() -> None:
    image = np.random.default_rng(3).random((40, 30)).astype(np.float32)
    # repeating each pixel 8x8 makes both sides multiples of 16 without changing any area average
    upsampled = np.repeat(np.repeat(image.astype(np.float64), 8, axis=0), 8, axis=1)
    expected = downscale_local_mean(upsampled, (320 // 16, 240 // 16))
    np.testing.assert_allclose(area_downsample(image, 16), expected, atol=1e-5)


def test_robust_scale_of_a_blank_image_is_zero() -> None:
    np.testing.assert_array_equal(robust_scale(np.zeros((8, 8), dtype=np.uint16)), 0.0)


def test_channel_subset_and_order() -> None:
    images = random_site(np.random.default_rng(4))
    full = site_tensor(images, left_half_labels(), size=32)
    subset = site_tensor(images, left_half_labels(), size=32, channels=("Mito", "DNA"))
    np.testing.assert_array_equal(subset, full[[4, 0, 5]])


def test_missing_channel_is_named() -> None:
    images = random_site(np.random.default_rng(5))
    del images["Mito"]
    with pytest.raises(ValueError, match="'Mito'"):
        site_tensor(images, left_half_labels())


def test_shape_mismatch_is_named() -> None:
    images = random_site(np.random.default_rng(6))
    images["ER"] = images["ER"][:100]
    with pytest.raises(ValueError, match="'ER'"):
        site_tensor(images, left_half_labels())


def test_grayscale_and_with_mask() -> None:
    batch = np.random.default_rng(7).random((3, 6, 8, 8)).astype(np.float16)
    gray = grayscale(batch, 5)
    assert gray.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(gray[:, 0], batch[:, :5].astype(np.float64).mean(axis=1), atol=1e-3)
    pair = with_mask(batch, 5, grayscale=True)
    assert pair.shape == (3, 2, 8, 8)
    np.testing.assert_array_equal(pair[:, 0], gray[:, 0])
    np.testing.assert_array_equal(pair[:, 1], batch[:, 5])
    np.testing.assert_array_equal(with_mask(batch, 5, grayscale=False), batch)
    with pytest.raises(ValueError, match="image channels"):
        grayscale(batch, 4)


def test_well_tensors_round_trip(tmp_path: Path) -> None:
    tensors = np.random.default_rng(8).random((4, 6, 16, 16)).astype(np.float16)
    path = save_well_tensors(tmp_path / "plate" / "A01.npz", tensors, [1, 2, 3, 9])
    loaded, sites = load_well_tensors(path)
    np.testing.assert_array_equal(loaded, tensors)
    assert loaded.dtype == np.float16
    assert sites.tolist() == [1, 2, 3, 9]
    assert [item.name for item in path.parent.iterdir()] == ["A01.npz"]  # no temporary left behind


def test_site_count_must_match(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one site per tensor"):
        save_well_tensors(tmp_path / "A01.npz", np.zeros((2, 6, 4, 4)), [1])


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    garbage = tmp_path / "B02.npz"
    garbage.write_bytes(b"not a zip archive at all")
    with pytest.raises(ValueError, match="B02.npz"):
        load_well_tensors(garbage)
    with pytest.raises(ValueError, match="C03.npz"):
        load_well_tensors(tmp_path / "C03.npz")


def test_archive_without_arrays_is_named(tmp_path: Path) -> None:
    path = tmp_path / "D04.npz"
    np.savez_compressed(path, something=np.zeros(3))
    with pytest.raises(ValueError, match="D04.npz.*lacks"):
        load_well_tensors(path)
