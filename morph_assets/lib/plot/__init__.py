"""Figures: every plot of the pipeline, drawn on a matplotlib Axes, and one PNG helper.

Each figure is a function of data that draws on a given Axes (a new
:class:`matplotlib.figure.Figure` when none is given) and returns it; :func:`to_png` turns a
figure into PNG bytes for Dagster metadata and reports. No pyplot and no backend switch, so
importing this package leaves a notebook's inline plots alone.
"""

from morph_assets.lib.plot._figures import (
    figure_png,
    plate_grid,
    plate_heatmap_png,
    png_markdown,
    illumination_png,
    outlined_composite,
    montage_png,
)

__all__ = [
    "figure_png",
    "illumination_png",
    "montage_png",
    "outlined_composite",
    "plate_grid",
    "plate_heatmap_png",
    "png_markdown",
]
