"""make_consistent invariants and SegmentationSettings validation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.segmentation import expand_labels

from morph_assets.lib.segment import SegmentationSettings, SiteSegmentation, make_consistent


def _check_invariants(seg: SiteSegmentation) -> None:
    n = seg.n_objects
    for image in (seg.nuclei, seg.cells, seg.cytoplasm):
        assert image.dtype == np.int32
    assert set(np.unique(seg.cells)) - {0} == set(range(1, n + 1))  # consecutive 1..n
    assert set(np.unique(seg.nuclei)) - {0} == set(range(1, n + 1))  # one nucleus per cell
    inside = seg.nuclei > 0
    assert np.array_equal(seg.cells[inside], seg.nuclei[inside])  # nucleus k lies in cell k
    assert np.array_equal(seg.cytoplasm, np.where(inside, 0, seg.cells))


def _random_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    seeds = np.zeros((80, 80), dtype=np.int32)
    seeds[rng.integers(0, 80, 25), rng.integers(0, 80, 25)] = rng.permutation(np.arange(100, 125))
    cells = expand_labels(seeds, 9)
    nuclei = expand_labels(seeds, 3)
    # Scramble nuclei: drop some, shift them (spill into neighbours), add strays outside cells.
    nuclei = np.roll(nuclei, (2, -1), axis=(0, 1))
    nuclei[nuclei == 105] = 0
    nuclei[:3, :3] = 999
    return nuclei, cells


@pytest.mark.parametrize("seed", range(4))
def test_invariants_hold_on_scrambled_input(seed: int) -> None:
    nuclei, cells = _random_case(seed)
    seg = make_consistent(nuclei, cells)
    _check_invariants(seg)
    assert 0 < seg.n_objects <= len(np.unique(cells)) - 1


def test_binucleate_cell_keeps_both_nuclei_as_one_object() -> None:
    cells = np.zeros((6, 12), dtype=np.int32)
    cells[:, :8], cells[:, 8:] = 7, 3
    nuclei = np.zeros_like(cells)
    nuclei[2:4, 1:3], nuclei[2:4, 5:7] = 1, 2  # two nuclei in cell 7, none in cell 3
    seg = make_consistent(nuclei, cells)
    _check_invariants(seg)
    assert seg.n_objects == 1
    assert np.count_nonzero(seg.nuclei) == 8
    assert not np.any(seg.cells[:, 8:])  # the cell without a nucleus is gone


def test_nucleus_goes_to_the_cell_it_overlaps_most() -> None:
    cells = np.zeros((4, 10), dtype=np.int32)
    cells[:, :5], cells[:, 5:] = 1, 2
    nuclei = np.zeros_like(cells)
    nuclei[1:3, 3:9] = 4  # 4 pixels in cell 1, 8 in cell 2
    nuclei[1:3, 0:2] = 5  # cell 1's own nucleus
    seg = make_consistent(nuclei, cells)
    _check_invariants(seg)
    assert seg.n_objects == 2
    assert np.all(seg.nuclei[1:3, 5:9] == 2) and np.all(seg.nuclei[1:3, 3:5] == 0)  # clipped


def test_empty_and_invalid_inputs() -> None:
    empty = make_consistent(np.zeros((5, 5), np.int32), np.zeros((5, 5), np.int32))
    assert empty.n_objects == 0 and not empty.cytoplasm.any()
    with pytest.raises(ValueError, match="shape"):
        make_consistent(np.zeros((5, 5), np.int32), np.zeros((5, 6), np.int32))
    with pytest.raises(ValueError, match="integer"):
        make_consistent(np.zeros((5, 5)), np.zeros((5, 5), np.int32))


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="nucleus_diameter_range"):
        SegmentationSettings(nucleus_diameter_range=(20, 10))
    with pytest.raises(ValueError, match="threshold_method"):
        SegmentationSettings(threshold_method="triangle")
    with pytest.raises(ValueError, match="stem"):
        SegmentationSettings(imported_mask_pattern="masks")
