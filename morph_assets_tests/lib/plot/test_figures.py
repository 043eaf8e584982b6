"""Tests for ``morph_assets.lib.plot``: figures draw on the axes they are given and need no pyplot."""

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from morph_assets.lib.plot import (
    illumination_functions,
    montage,
    new_axes,
    new_axes_grid,
    outlined_composite,
    plate_grid,
    plate_heatmap,
    to_png,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_importing_the_package_leaves_pyplot_and_the_backend_alone():
    # A notebook's inline backend must survive `import morph_assets.lib...`; run in a fresh
    # interpreter because this test session may have imported pyplot through other tests.
    # The raw rcParams entry is compared: matplotlib.get_backend() would itself resolve the
    # backend through pyplot.
    code = (
        "import sys, matplotlib; raw = lambda: dict.__getitem__(matplotlib.rcParams, 'backend'); before = raw(); "
        "import morph_assets.lib.plot, morph_assets.lib.models, morph_assets.lib.retrieval, morph_assets.lib.report; "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
        "assert raw() == before, 'backend switched'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_figure_draws_on_the_axes_it_is_given():
    figure = Figure(figsize=(8, 3))
    left, right = figure.subplots(1, 2)
    returned = plate_heatmap({"A01": 1.0, "B02": 2.0}, title="t", colorbar_label="c", ax=right)
    assert returned is right and not left.images and right.images
    assert right.get_title() == "t"


def test_without_axes_a_new_figure_is_made_and_rendered_to_png():
    axes = plate_heatmap({"A01": 1.0}, title="t", colorbar_label="c")
    assert isinstance(axes.figure, Figure)
    png = to_png(axes.figure)
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000


def test_plate_grid_places_wells():
    grid = plate_grid({"A01": 1.0, "P24": 2.0})
    assert grid.shape == (16, 24) and grid[0, 0] == 1.0 and grid[15, 23] == 2.0
    assert int(np.isnan(grid).sum()) == 382


def test_multi_panel_figures_take_one_axes_per_panel():
    functions = {"DNA": np.ones((8, 8)), "RNA": np.full((8, 8), 2.0)}
    row = illumination_functions(functions, title="illumination")
    assert len(row) == 2 and row[0].figure is row[1].figure
    assert [axis.images[0].get_clim() for axis in row] == [(1.0, 2.0)] * 2  # one shared colour scale
    with pytest.raises(ValueError, match="3 axes for 2 channels"):
        illumination_functions(functions, title="x", axes=new_axes_grid(1, 3, (6, 2))[0])


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
