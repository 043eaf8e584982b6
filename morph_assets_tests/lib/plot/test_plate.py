"""Plate figures: a heatmap on the axes it is given, the well grid, one axes per illumination panel."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from morph_assets.lib.plot import illumination_functions, new_axes_grid, plate_grid, plate_heatmap


def test_a_figure_draws_on_the_axes_it_is_given():
    figure = Figure(figsize=(8, 3))
    left, right = figure.subplots(1, 2)
    returned = plate_heatmap({"A01": 1.0, "B02": 2.0}, title="t", colorbar_label="c", ax=right)
    assert returned is right and not left.images and right.images
    assert right.get_title() == "t"


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
