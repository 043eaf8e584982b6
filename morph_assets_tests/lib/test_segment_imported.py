"""Matching imported masks to images by file-name stem, and loading them."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from morph_assets.lib.segment_imported import MaskError, load_imported_masks, match_masks, segment_imported
from morph_assets.lib.segmentation import SegmentationSettings


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
    # 36 and 64 px blobs; the 1 px smoothing before thresholding adds about one pixel ring.
    areas = sorted(np.bincount(seg.nuclei.ravel())[1:].tolist())
    assert 36 <= areas[0] <= 50 and 64 <= areas[1] <= 85
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
