"""Small figures for Dagster metadata and reports, rendered headless to PNG."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from morph_assets.lib.plates import N_COLUMNS, N_ROWS, ROW_LETTERS, well_to_row_col  # noqa: E402


def figure_png(figure: plt.Figure) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (figures are never shown here).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        A finished figure.

    Returns
    -------
    bytes
        The PNG file's bytes.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def plate_grid(values: Mapping[str, float]) -> np.ndarray:
    """Return a (16, 24) array of ``values`` by well, NaN where a well has no value.

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


def plate_heatmap_png(values: Mapping[str, float], *, title: str, colorbar_label: str) -> bytes:
    """Render a 384-well plate heat map (rows A-P, columns 1-24) as PNG bytes.

    Edge and gradient effects across the plate are what a scientist looks for first.
    """
    grid = plate_grid(values)
    figure, axes = plt.subplots(figsize=(7.5, 4.2), dpi=90)
    image = axes.imshow(grid, cmap="viridis", aspect="equal")
    axes.set_xticks(range(N_COLUMNS), [str(col) for col in range(1, N_COLUMNS + 1)], fontsize=6)
    axes.set_yticks(range(N_ROWS), list(ROW_LETTERS), fontsize=6)
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, shrink=0.8).set_label(colorbar_label, fontsize=7)
    figure.tight_layout()
    return figure_png(figure)


def png_markdown(png: bytes, alt: str) -> str:
    """Embed PNG bytes in Markdown (Dagster has no image metadata type; the UI renders this)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def illumination_png(functions: Mapping[str, np.ndarray], *, title: str) -> bytes:
    """Render one illumination function per channel side by side (shared colour scale)."""
    names = list(functions)
    low = min(float(function.min()) for function in functions.values())
    high = max(float(function.max()) for function in functions.values())
    figure, axes = plt.subplots(1, len(names), figsize=(2.4 * len(names), 2.6), dpi=80, squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        image = axis.imshow(functions[name], cmap="magma", vmin=low, vmax=high)
        axis.set_title(name, fontsize=8)
        axis.axis("off")
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    figure.suptitle(title, fontsize=9)
    return figure_png(figure)


def outlined_composite(dna: np.ndarray, cell_body: np.ndarray, nuclei: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """An RGB picture: cell-body stain in green, DNA in blue, nucleus outlines in yellow, cell outlines in magenta."""
    from skimage.segmentation import find_boundaries

    def stretch(image: np.ndarray) -> np.ndarray:
        low, high = np.percentile(image, (1, 99.5))
        return np.clip((image - low) / max(high - low, 1e-9), 0, 1)

    rgb = np.zeros((*dna.shape, 3))
    rgb[..., 1] = stretch(cell_body)
    rgb[..., 2] = stretch(dna)
    rgb[find_boundaries(cells, mode="inner")] = (1.0, 0.0, 1.0)
    rgb[find_boundaries(nuclei, mode="inner")] = (1.0, 1.0, 0.0)
    return rgb


def montage_png(panels: list[tuple[str, np.ndarray]], *, title: str) -> bytes:
    """Render RGB panels in a row with their captions."""
    figure, axes = plt.subplots(1, max(1, len(panels)), figsize=(3.0 * max(1, len(panels)), 3.3), dpi=80, squeeze=False)
    for axis, (caption, rgb) in zip(axes[0], panels, strict=False):
        axis.imshow(rgb)
        axis.set_title(caption, fontsize=8)
        axis.axis("off")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure_png(figure)
