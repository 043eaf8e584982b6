"""Tests of the synthetic cells' rendering: camera images in range, label masks that nest."""

from __future__ import annotations

import numpy as np

from morph_assets.lib.synthetic import SyntheticConfig, render_site


def test_render_site_shapes_and_dynamic_range() -> None:
    config = SyntheticConfig(wells=("D05",), include_brightfield=True, image_size=96, cell_diameter_px=24.0, sites_per_well=2)
    site = render_site(config, 0, "D05", 2)
    assert site.images.dtype == np.uint16
    assert site.images.shape == (8, 96, 96)
    assert site.channels == (1, 2, 3, 4, 5, 6, 7, 8)
    assert site.nuclei_labels.shape == site.cell_labels.shape == (96, 96)
    assert site.cell_labels.dtype in (np.uint16, np.uint32)
    background = np.median(site.images[:5, site.cell_labels == 0], axis=1)
    assert np.all((background > 150) & (background < 800))
    assert site.images[4][site.nuclei_labels > 0].mean() > 3 * background[4]
    assert (site.images == np.iinfo(np.uint16).max).mean() < 1e-3


def test_masks_nest_and_are_consecutive() -> None:
    config = SyntheticConfig(image_size=96, cell_diameter_px=22.0, sites_per_well=2)
    for plate_index, well, site_number in ((0, "A01", 1), (1, "H12", 2), (2, "P24", 1), (3, "E05", 2)):
        site = render_site(config, plate_index, well, site_number)
        cells, nuclei = site.cell_labels.astype(np.int64), site.nuclei_labels.astype(np.int64)
        n_cells = int(cells.max())
        assert n_cells > 3
        assert set(np.unique(cells)) == set(range(n_cells + 1))
        assert set(np.unique(nuclei)) == set(range(n_cells + 1))
        inside = nuclei > 0
        np.testing.assert_array_equal(cells[inside], nuclei[inside])
        nucleus_area = np.bincount(nuclei.ravel(), minlength=n_cells + 1)[1:]
        cell_area = np.bincount(cells.ravel(), minlength=n_cells + 1)[1:]
        assert np.all(cell_area > nucleus_area)
