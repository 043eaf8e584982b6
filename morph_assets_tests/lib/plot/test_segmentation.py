"""Segmentation figures: outlines over the stains, and a montage of sites."""

import numpy as np

from morph_assets.lib.plot import crop_grid, montage, new_axes, outlined_composite, to_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_outlined_composite_marks_outlines_over_the_stains():
    nuclei = np.zeros((20, 20), dtype=np.int32)
    nuclei[5:10, 5:10] = 1
    cells = np.zeros_like(nuclei)
    cells[3:14, 3:14] = 1
    rgb = outlined_composite(np.random.default_rng(0).random((20, 20)), np.zeros((20, 20)), nuclei, cells)
    assert rgb.shape == (20, 20, 3)
    assert tuple(rgb[5, 5]) == (1.0, 1.0, 0.0) and tuple(rgb[3, 3]) == (1.0, 0.0, 1.0)
    row = montage([("site 1", rgb), ("site 2", rgb)], title="m")
    assert [axis.get_title() for axis in row] == ["site 1", "site 2"]
    assert to_png(new_axes((2, 2)).figure).startswith(PNG_SIGNATURE)


def test_crop_grid_draws_each_crop_with_its_caption_and_outline():
    crops = np.zeros((5, 6, 16, 16), np.float32)
    crops[:, 0] = 0.5
    crops[:, -1, 4:12, 4:12] = 1.0
    grid = crop_grid(crops, [f"cell {i}" for i in range(5)], title="crops", columns=4)
    assert grid.shape == (2, 4)
    assert [axis.get_title() for axis in grid.ravel()[:5]] == [f"cell {i}" for i in range(5)]
    drawn = grid[0, 0].get_images()[0].get_array()
    assert tuple(drawn[4, 4]) == (1.0, 0.0, 1.0) and tuple(drawn[8, 8]) == (0.5, 0.5, 0.5)
    assert not grid[1, 1].get_images()  # beyond the crops: blank
    assert to_png(grid[0, 0].figure).startswith(PNG_SIGNATURE)
