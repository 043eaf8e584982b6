"""Figures of retrieval: mAP against its significance, per treatment."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.axes import Axes

from morph_assets.lib.plot._canvas import new_axes


def map_scatter(per_treatment: pl.DataFrame, *, title: str, threshold: float = 0.05, ax: Axes | None = None) -> Axes:
    """Plot mAP against -log10 p-value per treatment, retrieved treatments (q < threshold) highlighted.

    Parameters
    ----------
    per_treatment : polars.DataFrame
        One setting's per-treatment table (``mean_average_precision``, ``p_value``,
        ``below_corrected_p``).
    title : str
        Axes title.
    threshold : float
        Significance level drawn as a line.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    own = ax is None
    ax = new_axes((5.2, 4)) if ax is None else ax
    if per_treatment.height:
        x = per_treatment["mean_average_precision"].to_numpy()
        y = -np.log10(per_treatment["p_value"].to_numpy())
        hit = per_treatment["below_corrected_p"].to_numpy()
        ax.scatter(x[~hit], y[~hit], s=10, c="0.6", label="not retrieved")
        ax.scatter(x[hit], y[hit], s=12, c="tab:red", label=f"retrieved (q < {threshold})")
        ax.axhline(-np.log10(threshold), color="0.3", lw=0.8, ls="--")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("mAP", fontsize=8)
    ax.set_ylabel("-log10 p", fontsize=8)
    ax.set_title(title, fontsize=9)
    if own:
        ax.figure.tight_layout()
    return ax
