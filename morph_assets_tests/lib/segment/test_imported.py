"""Matching imported masks to images by file-name stem, and loading them."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from morph_assets.lib.segment import (
    MaskError,
    SegmentationSettings,
    as_label_image,
    load_imported_masks,
    match_masks,
    read_mask,
    segment_imported,
)


def _site_files(folder: Path, prefix: str) -> list[Path]:
    return [folder / f"{prefix}-ch{channel}sk1fk1fl1.tiff" for channel in range(1, 6)]


def test_report_lists_leftovers_on_both_sides(tmp_path: Path) -> None:
    images = _site_files(tmp_path, "r01c01f01p01") + _site_files(tmp_path, "r01c01f02p01") + [tmp_path / "other.tif"]
    masks = [
        tmp_path / "r01c01f01p01_cp_masks.png",
        tmp_path / "r01c01f01p01_nuclei_cp_masks.png",
        tmp_path / "other_cp_masks.tif",
        tmp_path / "r09c09f01p01_cp_masks.png",  # no such image
        tmp_path / "notes.txt",  # follows no pattern
    ]
    report = match_masks(images, masks)
    assert [match.stem for match in report.matched] == ["other", "r01c01f01p01"]
    site = report.matched[1]
    assert len(site.image_files) == 5 and site.nuclei_mask == tmp_path / "r01c01f01p01_nuclei_cp_masks.png"
    assert report.matched[0].nuclei_mask is None
    assert set(report.images_without_mask) == set(_site_files(tmp_path, "r01c01f02p01"))
    assert set(report.masks_without_image) == {tmp_path / "r09c09f01p01_cp_masks.png", tmp_path / "notes.txt"}
    assert not report.complete and "2 sites matched" in report.summary()


def test_custom_pattern_and_duplicates(tmp_path: Path) -> None:
    images = [tmp_path / "img1.tif"]
    report = match_masks(images, [tmp_path / "masks_img1.tiff"], pattern="masks_{stem}")
    assert report.complete and report.matched[0].cell_mask.name == "masks_img1.tiff"
    with pytest.raises(ValueError, match="two masks"):
        match_masks(images, [tmp_path / "img1_cp_masks.png", tmp_path / "img1_cp_masks.tif"])


def test_load_derives_nuclei_from_dna(tmp_path: Path) -> None:
    cells = np.zeros((40, 40), np.uint16)
    cells[2:20, 2:20], cells[22:38, 22:38], cells[2:12, 25:38] = 4, 9, 2  # cell 2 has no DNA
    dna = np.full((40, 40), 0.05, np.float32)
    dna[6:14, 6:14] = dna[26:32, 26:32] = 0.8
    mask_file = tmp_path / "r01c01f01p01_cp_masks.png"
    iio.imwrite(mask_file, cells)
    report = match_masks(_site_files(tmp_path, "r01c01f01p01"), [mask_file])
    seg = load_imported_masks(report.matched[0], {"DNA": dna})
    assert seg.n_objects == 2  # the cell without a nucleus is dropped
    # Each cell's own threshold (nuclei_from_dna, no smoothing) finds the 36 and 64 px blobs exactly.
    areas = sorted(np.bincount(seg.nuclei.ravel())[1:].tolist())
    assert areas == [36, 64]
    assert np.array_equal(seg.cytoplasm > 0, (seg.cells > 0) & (seg.nuclei == 0))


def test_separate_nuclei_masks_are_used(tmp_path: Path) -> None:
    cells = np.zeros((20, 20), np.int32)
    cells[2:18, 2:18] = 1
    nuclei = np.zeros_like(cells)
    nuclei[5:9, 5:9] = 3
    nuclei_file = tmp_path / "x_nuclei_cp_masks.tif"
    tifffile.imwrite(nuclei_file, nuclei)
    seg = segment_imported({"DNA": np.zeros((20, 20), np.float32)}, cells, nuclei_file)
    assert seg.n_objects == 1 and np.count_nonzero(seg.nuclei) == 16


def test_mask_of_the_wrong_shape_names_the_file(tmp_path: Path) -> None:
    mask_file = tmp_path / "r01c01f01p01_cp_masks.tif"
    tifffile.imwrite(mask_file, np.ones((30, 31), np.uint16))
    with pytest.raises(MaskError, match="r01c01f01p01_cp_masks.tif.*does not fit"):
        segment_imported({"DNA": np.zeros((30, 30), np.float32)}, mask_file, settings=SegmentationSettings())
    broken = tmp_path / "broken_cp_masks.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(MaskError, match="broken_cp_masks.png"):
        segment_imported({"DNA": np.zeros((30, 30), np.float32)}, broken)


# Two square objects (4 x 4 = 16 px and 3 x 5 = 15 px) on a 12 x 12 background, at label values
# chosen per dtype to sit at the top of its range: where a plain int32 cast would wrap them
# onto each other (uint64: 5 and 2**32 + 5) or make them negative (uint32 above 2**31).
_LABELS_BY_DTYPE = {
    np.uint8: (7, 255),
    np.uint16: (9, 65535),
    np.uint32: (3, 2**31 + 3),
    np.uint64: (5, 2**32 + 5),
    np.int8: (1, 127),
    np.int16: (2, 32767),
    np.int32: (4, 2**31 - 1),
    np.int64: (6, 2**40 + 6),
}


def _two_objects(dtype, low: int, high: int) -> np.ndarray:
    mask = np.zeros((12, 12), dtype=dtype)
    mask[1:5, 1:5] = high  # 16 px, top left: first in the image, but the larger label
    mask[7:10, 4:9] = low  # 15 px
    return mask


@pytest.mark.parametrize("dtype", list(_LABELS_BY_DTYPE), ids=lambda dtype: np.dtype(dtype).name)
@pytest.mark.parametrize("stored", ["array", "tiff"])
def test_every_integer_dtype_keeps_objects_distinct(tmp_path: Path, dtype, stored: str) -> None:
    low, high = _LABELS_BY_DTYPE[dtype]
    mask = _two_objects(dtype, low, high)
    source: np.ndarray | Path = mask
    if stored == "tiff":
        source = tmp_path / "r01c01f01p01_cp_masks.tif"
        tifffile.imwrite(source, mask)
        assert tifffile.imread(source).dtype == np.dtype(dtype)  # the file holds the dtype under test
    labels = segment_imported({"DNA": np.zeros((12, 12), np.float32)}, source, source).cells
    # Hand count: two objects, 16 and 15 px, numbered by increasing original label (low first).
    assert labels.dtype == np.int32
    assert labels.max() == 2
    assert np.count_nonzero(labels == 1) == 15 and np.count_nonzero(labels[7:10, 4:9] == 1) == 15
    assert np.count_nonzero(labels == 2) == 16 and np.count_nonzero(labels[1:5, 1:5] == 2) == 16


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_masks_of_8_and_16_bits(tmp_path: Path, dtype) -> None:
    low, high = _LABELS_BY_DTYPE[dtype]
    path = tmp_path / "r01c01f01p01_cp_masks.png"
    iio.imwrite(path, _two_objects(dtype, low, high))
    labels = read_mask(path)
    assert sorted(np.bincount(labels.ravel())[1:].tolist()) == [15, 16]


def test_uint64_labels_5_and_2_to_the_32_plus_5_stay_two_objects() -> None:
    # The case: a plain int32 cast gives one object of 32 px.
    mask = np.zeros((8, 8), np.uint64)
    mask[0:4, 0:4], mask[4:8, 4:8] = 5, 2**32 + 5
    assert np.bincount(mask.astype(np.int32).ravel()).tolist()[5] == 32  # the old behaviour, by hand
    labels = as_label_image(mask)
    assert np.bincount(labels.ravel()).tolist() == [32, 16, 16]


def test_labels_that_fit_are_kept_as_written() -> None:
    mask = np.zeros((10, 10), np.uint16)
    mask[0, 0], mask[9, 9] = 3, 100  # 100 = number of pixels: still fits, kept
    labels = as_label_image(mask)
    assert labels[0, 0] == 3 and labels[9, 9] == 100


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_negative_labels_in_signed_masks_name_the_file_and_the_value(tmp_path: Path, dtype) -> None:
    mask = _two_objects(dtype, 1, 2)
    mask[11, 11] = -3
    path = tmp_path / "r01c01f01p01_cp_masks.tif"
    tifffile.imwrite(path, mask)
    with pytest.raises(MaskError) as caught:
        read_mask(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "negative label(s), smallest -3" in message and "\n" not in message


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_unsigned_masks_never_report_negative_labels(tmp_path: Path, dtype) -> None:
    mask = _two_objects(dtype, 2**31 + 1, np.iinfo(dtype).max)  # both would turn negative in int32
    labels = as_label_image(mask, "x.tif")
    assert sorted(np.bincount(labels.ravel())[1:].tolist()) == [15, 16]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_masks_with_whole_numbers_are_labels(tmp_path: Path, dtype) -> None:
    path = tmp_path / "r01c01f01p01_cp_masks.tif"
    tifffile.imwrite(path, _two_objects(dtype, 1.0, 2.0))
    labels = read_mask(path)
    assert labels.dtype == np.int32 and np.count_nonzero(labels == 1) == 15 and np.count_nonzero(labels == 2) == 16


@pytest.mark.parametrize(("value", "fragment"), [(1.5, "non-integer label(s), e.g. 1.5"), (np.nan, "holds nan"),
                                                 (-2.0, "negative label(s), smallest -2.0")])
def test_float_masks_with_other_values_name_the_file_and_the_value(tmp_path: Path, value, fragment) -> None:
    mask = _two_objects(np.float32, 1.0, 2.0)
    mask[0, 11] = value
    path = tmp_path / "r01c01f01p01_cp_masks.tif"
    tifffile.imwrite(path, mask)
    with pytest.raises(MaskError) as caught:
        read_mask(path)
    assert str(caught.value).startswith(str(path)) and fragment in str(caught.value)


def test_binary_and_3d_masks_are_refused_with_the_file_name(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match=r"^cells\.png: a binary \(bool\) mask"):
        as_label_image(np.ones((4, 4), bool), "cells.png")
    with pytest.raises(MaskError, match=r"^stack\.tif: expected a 2-D label image, found shape \(2, 4, 4\)"):
        as_label_image(np.ones((2, 4, 4), np.uint16), "stack.tif")
    assert as_label_image(np.ones((1, 4, 4), np.uint16)).shape == (4, 4)  # a single-plane stack is fine


@pytest.mark.parametrize(("low", "high"), [(1.0, 1e20), (2.0**63, 2.0**63 + 4096), (1.0, 2.0**53 + 2)])
def test_float_labels_beyond_int64_stay_distinct_objects(low: float, high: float) -> None:
    # An int64 cast sends 1e20 and 2**63 to -2**63 or 0: the object vanishes or merges.
    labels = as_label_image(_two_objects(np.float64, low, high), "huge.tif")
    # Hand count: renumbered by increasing value, the 15-px object (low) first, background stays 0.
    assert labels.dtype == np.int32 and np.bincount(labels.ravel()).tolist() == [144 - 31, 15, 16]
    assert np.all(labels[7:10, 4:9] == 1) and np.all(labels[1:5, 1:5] == 2)


def test_float_labels_covering_every_pixel_keep_every_object() -> None:
    mask = np.full((4, 4), 3e19)
    mask[:2] = 1e19  # no background at all: both objects must stay objects
    assert np.bincount(as_label_image(mask).ravel()).tolist() == [0, 8, 8]


def test_palette_png_masks_are_read_as_their_indices(tmp_path: Path) -> None:
    from PIL import Image

    mask = _two_objects(np.uint8, 7, 200)
    path = tmp_path / "r01c01f01p01_cp_masks.png"
    image = Image.frombytes("P", (12, 12), mask.tobytes())
    image.putpalette([0, 0, 0] + [255, 0, 0] * 255)  # every object drawn red: the colours cannot tell them apart
    image.save(path)
    labels = read_mask(path)
    # 200 > 144 pixels: renumbered by increasing index, 7 (15 px) -> 1, 200 (16 px) -> 2
    assert np.bincount(labels.ravel()).tolist() == [144 - 31, 15, 16]
    assert np.all(labels[1:5, 1:5] == 2)


def test_derived_nuclei_need_a_finite_dna_image() -> None:
    cells = _two_objects(np.int32, 1, 2)
    with pytest.raises(ValueError, match=r"^channel 'DNA': 144 pixel\(s\) are NaN or infinite; .*scale_image"):
        segment_imported({"DNA": np.full((12, 12), np.nan, np.float32)}, cells)
