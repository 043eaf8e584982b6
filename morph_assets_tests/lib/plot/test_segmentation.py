"""Segmentation figures: outlines over the stains, and a montage of sites."""

import numpy as np

from morph_assets.lib.plot import montage, new_axes, outlined_composite, to_png

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
