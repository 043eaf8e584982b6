"""The one rule finding each cell's nucleus in the DNA image (imported masks, single Cellpose model)."""

from __future__ import annotations

import numpy as np

from morph_assets.lib.segment import nuclei_from_dna


def _disk(shape: tuple[int, int], centre: tuple[int, int], radius_squared: int) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius_squared


def test_nucleus_k_is_found_in_cell_k() -> None:
    cells = np.zeros((40, 80), np.int32)
    cells[5:35, 5:35] = 3
    cells[5:35, 45:75] = 7
    dna = np.full((40, 80), 10.0, np.float32)
    dna[_disk(dna.shape, (20, 20), 36)] = 100.0
    dna[_disk(dna.shape, (20, 60), 49)] = 80.0
    dna[0, 0] = 500.0  # outside every cell: ignored
    nuclei = nuclei_from_dna(dna, cells)
    assert set(np.unique(nuclei)) == {0, 3, 7}
    assert np.all(cells[nuclei > 0] == nuclei[nuclei > 0])
    assert np.array_equal(nuclei == 3, _disk(dna.shape, (20, 20), 36))


def test_each_cell_is_thresholded_on_its_own_dna() -> None:
    # A dim cell whose nucleus is darker than the bright cell's cytoplasm: one threshold over
    # both cells would take the bright cell whole and miss the dim nucleus.
    cells = np.zeros((30, 60), np.int32)
    cells[:, :30], cells[:, 30:] = 1, 2
    dna = np.full((30, 60), 0.01, np.float32)
    dna[:, 30:] = 0.3
    dna[_disk(dna.shape, (15, 15), 25)] = 0.1
    dna[_disk(dna.shape, (15, 45), 25)] = 0.9
    nuclei = nuclei_from_dna(dna, cells)
    assert np.array_equal(nuclei == 1, _disk(dna.shape, (15, 15), 25))
    assert np.array_equal(nuclei == 2, _disk(dna.shape, (15, 45), 25))


def test_largest_piece_is_kept_with_its_holes_filled() -> None:
    cells = np.zeros((30, 30), np.int32)
    cells[1:29, 1:29] = 5
    dna = np.full((30, 30), 0.1, np.float32)
    nucleus = _disk(dna.shape, (15, 15), 64)
    dna[nucleus] = 0.8
    dna[14:17, 14:17] = 0.1  # a dim nucleolus: a hole the nucleus keeps
    dna[3, 3] = 0.8  # a bright speck: a second, smaller piece that is dropped
    nuclei = nuclei_from_dna(dna, cells)
    assert np.array_equal(nuclei == 5, nucleus)


def test_cell_without_dna_contrast_gets_no_nucleus() -> None:
    cells = np.zeros((10, 20), np.int32)
    cells[:, :10], cells[4, 15] = 1, 2  # cell 1 flat, cell 2 a single pixel
    dna = np.full((10, 20), 0.2, np.float32)
    dna[4, 15] = 0.9
    assert not nuclei_from_dna(dna, cells).any()


def test_minimum_cross_entropy_is_available() -> None:
    cells = np.ones((20, 20), np.int32)
    dna = np.full((20, 20), 0.1, np.float32)
    dna[_disk(dna.shape, (10, 10), 16)] = 0.7
    nuclei = nuclei_from_dna(dna, cells, "minimum_cross_entropy")
    assert np.array_equal(nuclei == 1, _disk(dna.shape, (10, 10), 16))
