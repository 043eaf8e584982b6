"""Figures: every plot of the pipeline, drawn on a matplotlib Axes, and one PNG helper.

Each figure is a function of data that draws on a given Axes (a new
:class:`matplotlib.figure.Figure` when none is given) and returns it; :func:`to_png` turns a
figure into PNG bytes for Dagster metadata and reports. No pyplot and no backend switch, so
importing this package leaves a notebook's inline plots alone.
"""

from morph_assets.lib.plot._canvas import (
    new_axes,
    new_axes_grid,
    to_png,
)
from morph_assets.lib.plot._models import (
    OTHER_COLOUR,
    confusion_heatmap,
    reconstructions,
    category_scatter,
    silhouette_curve,
    stability_curve,
    similarity_distributions,
    feature_boxplot,
)
from morph_assets.lib.plot._plate import (
    plate_grid,
    plate_heatmap,
    illumination_functions,
)
from morph_assets.lib.plot._retrieval import (
    map_scatter,
)
from morph_assets.lib.plot._segmentation import (
    outlined_composite,
    montage,
    crop_grid,
)

__all__ = [
    "OTHER_COLOUR",
    "category_scatter",
    "confusion_heatmap",
    "crop_grid",
    "feature_boxplot",
    "illumination_functions",
    "map_scatter",
    "montage",
    "new_axes",
    "new_axes_grid",
    "outlined_composite",
    "plate_grid",
    "plate_heatmap",
    "reconstructions",
    "silhouette_curve",
    "stability_curve",
    "similarity_distributions",
    "to_png",
]
