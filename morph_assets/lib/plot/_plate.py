"""Figures of a whole plate: a 384-well heat map and the illumination function of each channel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from morph_assets.lib.plates import N_COLUMNS, N_ROWS, ROW_LETTERS, well_to_row_col
from morph_assets.lib.plot._canvas import new_axes, new_axes_grid


def plate_grid(values: Mapping[str, float]) -> np.ndarray:
    """Return a (16, 24) array of ``values`` by well, NaN where a well has no value.

    Parameters
    ----------
    values : mapping of str to float
        Value of each well, keyed by well name (``"A01"``).

    Returns
    -------
    numpy.ndarray
        (16, 24) float array, rows A-P and columns 1-24.

    Examples
    --------
    >>> grid = plate_grid({"A01": 1.0, "P24": 2.0})
    >>> float(grid[0, 0]), float(grid[15, 23]), int(np.isnan(grid).sum())
    (1.0, 2.0, 382)
    """
    grid = np.full((N_ROWS, N_COLUMNS), np.nan)
    for well, value in values.items():
        row, col = well_to_row_col(well)
        grid[row - 1, col - 1] = value
    return grid


def plate_heatmap(values: Mapping[str, float], *, title: str, colorbar_label: str, ax: Axes | None = None) -> Axes:
    """Draw a 384-well plate heat map (rows A-P, columns 1-24).

    Edge and gradient effects across the plate are what a scientist looks for first.

    Parameters
    ----------
    values : mapping of str to float
        Value of each well, keyed by well name; wells without a value stay blank.
    title : str
        Axes title.
    colorbar_label : str
        What the colour means, with its unit.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    own = ax is None
    ax = new_axes((7.5, 4.2)) if ax is None else ax
    image = ax.imshow(plate_grid(values), cmap="viridis", aspect="equal")
    ax.set_xticks(range(N_COLUMNS), [str(col) for col in range(1, N_COLUMNS + 1)], fontsize=6)
    ax.set_yticks(range(N_ROWS), list(ROW_LETTERS), fontsize=6)
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, shrink=0.8).set_label(colorbar_label, fontsize=7)
    if own:
        ax.figure.tight_layout()
    return ax


def illumination_functions(
    functions: Mapping[str, np.ndarray], *, title: str, axes: Sequence[Axes] | None = None
) -> np.ndarray:
    """Draw one illumination function per channel side by side, on one shared colour scale.

    Parameters
    ----------
    functions : mapping of str to numpy.ndarray
        Channel name -> (M, N) illumination function.
    title : str
        Figure title.
    axes : sequence of matplotlib.axes.Axes, optional
        One axes per channel, all on one figure; a new figure when None.

    Returns
    -------
    numpy.ndarray
        The axes drawn on, one per channel.
    """
    names = list(functions)
    low = min(float(function.min()) for function in functions.values())
    high = max(float(function.max()) for function in functions.values())
    row = new_axes_grid(1, len(names), (2.4 * len(names), 2.6), dpi=80)[0] if axes is None else np.asarray(axes)
    if len(row) != len(names):
        raise ValueError(f"{len(row)} axes for {len(names)} channels")
    for axis, name in zip(row, names, strict=True):
        image = axis.imshow(functions[name], cmap="magma", vmin=low, vmax=high)
        axis.set_title(name, fontsize=8)
        axis.axis("off")
    figure = row[0].figure
    figure.colorbar(image, ax=row.tolist(), shrink=0.8)
    figure.suptitle(title, fontsize=9)
    return row
