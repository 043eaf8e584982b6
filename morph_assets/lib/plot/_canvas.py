"""Figures without pyplot: new axes on a :class:`~matplotlib.figure.Figure`, and PNG bytes.

A :class:`matplotlib.figure.Figure` made directly needs no pyplot and no backend: saving it to PNG
uses the Agg renderer whatever backend is active, so nothing here switches a notebook's backend,
and figures are never registered with pyplot, so none is left open.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def new_axes(figsize: tuple[float, float], dpi: int = 90) -> Axes:
    """Return the single Axes of a new figure (pyplot-free).

    Parameters
    ----------
    figsize : tuple of float
        Width and height in inches.
    dpi : int, optional
        Resolution of the saved PNG, by default 90.

    Returns
    -------
    matplotlib.axes.Axes
        The axes; its figure is ``axes.figure``.
    """
    return Figure(figsize=figsize, dpi=dpi).subplots()


def new_axes_grid(rows: int, columns: int, figsize: tuple[float, float], dpi: int = 90, **kwargs: object) -> np.ndarray:
    """Return a (rows, columns) array of Axes of a new figure (pyplot-free).

    Parameters
    ----------
    rows, columns : int
        Grid shape.
    figsize : tuple of float
        Width and height in inches.
    dpi : int, optional
        Resolution of the saved PNG, by default 90.
    **kwargs
        Passed to :meth:`matplotlib.figure.Figure.subplots` (``sharey=True`` ...).

    Returns
    -------
    numpy.ndarray
        Object array of Axes, always two-dimensional.
    """
    return Figure(figsize=figsize, dpi=dpi).subplots(rows, columns, squeeze=False, **kwargs)


def to_png(figure: Figure) -> bytes:
    """Render a figure to PNG bytes, the one way figures leave this package.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        A finished figure, e.g. ``axes.figure`` of what a plot function returned.

    Returns
    -------
    bytes
        The PNG file's bytes.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
