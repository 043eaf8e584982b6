"""Figures of the models: confusion matrix, VAE reconstructions, embeddings, k choice, validation.

Every function takes the numbers the model code computed (a report, arrays, a table) and draws
them; none trains or evaluates anything, so these figures can be redrawn from the lake.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import matplotlib
import numpy as np
import polars as pl
from matplotlib.axes import Axes

from morph_assets.lib.plot._canvas import new_axes, new_axes_grid

#: Colour of the categories beyond a scatter's legend.
OTHER_COLOUR = "#bbbbbb"


def confusion_heatmap(
    confusion: np.ndarray, labels: Sequence[str], *, title: str, top: int = 20, ax: Axes | None = None
) -> Axes:
    """Draw the confusion matrix of the ``top`` most frequent test labels.

    Each row is divided by that label's full test count, so a row sums to less than 1 when some of its
    images were predicted as a label outside the ``top`` shown.

    Parameters
    ----------
    confusion : numpy.ndarray
        (labels, labels) counts, true label by row, predicted label by column.
    labels : sequence of str
        Label of each row and column (shown cut to 18 characters).
    title : str
        Axes title, e.g. ``"forest / regionprops (balanced)"``.
    top : int
        Number of labels to show (the most frequent in the test split).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure sized for the labels when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if confusion.size == 0:
        raise ValueError("the report has no confusion matrix")
    test_counts = confusion.sum(axis=1)
    shown = np.argsort(-test_counts, kind="stable")[: min(top, int(np.count_nonzero(test_counts)))]
    matrix = confusion[np.ix_(shown, shown)] / np.maximum(test_counts[shown], 1)[:, np.newaxis]
    names = [labels[index][:18] for index in shown]
    size = 2.5 + 0.28 * len(shown)
    own = ax is None
    ax = new_axes((size + 1.0, size)) if ax is None else ax
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(shown)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(shown)), names, fontsize=6)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, shrink=0.8).set_label("fraction of true label", fontsize=7)
    if own:
        ax.figure.tight_layout()
    return ax


def reconstructions(
    originals: np.ndarray, reconstructed: np.ndarray, *, channel: int = 0, axes: np.ndarray | None = None
) -> np.ndarray:
    """Draw images (top row) above their reconstructions (bottom row).

    Parameters
    ----------
    originals, reconstructed : numpy.ndarray
        (N, C, s, s) images in [0, 1], e.g. from :func:`~morph_assets.lib.models.reconstruct`.
    channel : int, default 0
        Plane shown.
    axes : numpy.ndarray of matplotlib.axes.Axes, optional
        A (2, N) grid of axes on one figure; a new figure when None.

    Returns
    -------
    numpy.ndarray
        The (2, N) axes drawn on.
    """
    if len(originals) == 0:
        raise ValueError("need at least one image to show")
    if not 0 <= channel < originals.shape[1]:
        raise ValueError(f"channel {channel} out of range for {originals.shape[1]} planes")
    own = axes is None
    grid = new_axes_grid(2, len(originals), (1.4 * len(originals), 3.0), dpi=80) if axes is None else np.asarray(axes)
    for column in range(len(originals)):
        for row, images in enumerate((originals, reconstructed)):
            grid[row, column].imshow(images[column, channel], cmap="gray", vmin=0.0, vmax=1.0)
            grid[row, column].axis("off")
    grid[0, 0].set_title("original", fontsize=7, loc="left")
    grid[1, 0].set_title("reconstruction", fontsize=7, loc="left")
    if own:
        grid[0, 0].figure.tight_layout()
    return grid


def category_scatter(
    coords: np.ndarray, colours: Sequence[str], *, title: str, legend_title: str, max_legend: int = 12,
    ax: Axes | None = None,
) -> Axes:
    """Scatter 2-D coordinates coloured by category, the rarer categories in grey.

    Parameters
    ----------
    coords : numpy.ndarray
        (samples, 2) coordinates, e.g. from :func:`~morph_assets.lib.models.embed_2d`.
    colours : sequence of str
        Category of each sample (cluster, target, compound...); converted with ``str``.
    title : str
        Axes title.
    legend_title : str
        Legend heading, naming what the categories are.
    max_legend : int
        The most frequent categories up to this many get their own colour and legend entry; the
        rest are drawn grey as "other".
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (samples, 2), got {coords.shape}")
    categories = [str(value) for value in colours]
    if len(categories) != coords.shape[0]:
        raise ValueError(f"{len(categories)} colours for {coords.shape[0]} points")
    if max_legend < 1:
        raise ValueError(f"max_legend must be at least 1, got {max_legend}")
    ranked = [name for name, _ in sorted(Counter(categories).items(), key=lambda item: (-item[1], item[0]))]
    shown = ranked[:max_legend]
    palette = matplotlib.colormaps["tab20" if len(shown) > 10 else "tab10"]
    own = ax is None
    ax = new_axes((6.4, 4.8)) if ax is None else ax
    is_shown = np.isin(np.array(categories, dtype=object), shown)
    if (~is_shown).any():
        ax.scatter(*coords[~is_shown].T, s=12, c=OTHER_COLOUR, label=f"other ({len(ranked) - len(shown)} categories)")
    for index, name in enumerate(shown):
        member = np.array([category == name for category in categories])
        ax.scatter(*coords[member].T, s=14, color=palette(index % palette.N), label=name)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(title=legend_title, fontsize=6, title_fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if own:
        ax.figure.tight_layout()
    return ax


def silhouette_curve(silhouettes: pl.DataFrame, best_k: int, *, title: str, ax: Axes | None = None) -> Axes:
    """Plot the silhouette score (and KMeans inertia, when present) against k, marking the chosen k.

    Parameters
    ----------
    silhouettes : polars.DataFrame
        Columns ``k`` and ``silhouette`` (optionally ``inertia``), as in
        :class:`~morph_assets.lib.models.KMeansSelection`.
    best_k : int
        The chosen k, drawn as a vertical line.
    title : str
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (the inertia, if any, is on a twin axes sharing its x axis).
    """
    missing = [name for name in ("k", "silhouette") if name not in silhouettes.columns]
    if missing:
        raise ValueError(f"silhouettes lacks the column(s) {missing}")
    ks = silhouettes["k"].to_numpy()
    own = ax is None
    ax = new_axes((5.5, 3.4)) if ax is None else ax
    ax.plot(ks, silhouettes["silhouette"].to_numpy(), marker="o", color="tab:blue")
    ax.axvline(best_k, color="tab:red", linestyle="--", label=f"chosen k = {best_k}")
    ax.set_xlabel("k (clusters)")
    ax.set_ylabel("silhouette score", color="tab:blue")
    if "inertia" in silhouettes.columns:
        # inertia always falls with k, so it goes on its own axis as context for the "elbow"
        twin = ax.twinx()
        twin.plot(ks, silhouettes["inertia"].to_numpy(), marker=".", color="tab:grey", alpha=0.7)
        twin.set_ylabel("inertia", color="tab:grey")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title, fontsize=9)
    if own:
        ax.figure.tight_layout()
    return ax


def stability_curve(stability: pl.DataFrame, best_k: int, *, title: str, ax: Axes | None = None) -> Axes:
    """Plot each k's stability, the mean bootstrap ARI with one standard deviation, and the chosen k.

    Parameters
    ----------
    stability : polars.DataFrame
        The ``stability`` table of :class:`~morph_assets.lib.models.StableCut`: ``k``, ``mean_ari``,
        ``sd_ari``.
    best_k : int
        Where the dashed vertical line goes.
    title : str
        Title of the plot.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (None: a figure of its own, laid out tight).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, or the new axes.
    """
    missing = [name for name in ("k", "mean_ari", "sd_ari") if name not in stability.columns]
    if missing:
        raise ValueError(f"stability lacks the column(s) {missing}")
    target = new_axes((5.5, 3.4)) if ax is None else ax
    means = stability["mean_ari"].to_numpy()
    target.errorbar(stability["k"].to_numpy(), means, yerr=stability["sd_ari"].to_numpy(), marker="o", capsize=3)
    target.axvline(best_k, color="tab:red", linestyle="--", label=f"chosen k = {best_k}")
    # ARI can dip below 0 (worse than chance); the top stays at 1 so curves of two runs compare
    target.set(xlabel="k (clusters)", ylabel="stability (mean ARI vs full data)",
               ylim=(min(0.0, float(np.nanmin(means)) - 0.05), 1.05))
    target.legend(fontsize=7, loc="lower left")
    target.set_title(title, fontsize=9)
    if ax is None:
        target.figure.tight_layout()
    return target


def similarity_distributions(
    within: np.ndarray, between: np.ndarray, *, title: str, axes: Sequence[Axes] | None = None
) -> np.ndarray:
    """Violin plot and box plot of within- and between-cluster similarities, side by side.

    Parameters
    ----------
    within, between : numpy.ndarray
        Pairwise similarities, as from :func:`~morph_assets.lib.models.cosine_similarity_pairs`.
    title : str
        Figure title.
    axes : sequence of matplotlib.axes.Axes, optional
        Two axes (violin, box) on one figure, sharing their y axis; a new figure when None.

    Returns
    -------
    numpy.ndarray
        The two axes drawn on.
    """
    samples = [np.asarray(within, dtype=np.float64), np.asarray(between, dtype=np.float64)]
    if any(sample.size == 0 for sample in samples):
        raise ValueError("both within and between need at least one similarity")
    names = [f"within\n(n={samples[0].size})", f"between\n(n={samples[1].size})"]
    own = axes is None
    pair = new_axes_grid(1, 2, (7.0, 3.6), sharey=True)[0] if axes is None else np.asarray(axes)
    violin_axes, box_axes = pair
    if all(sample.size > 1 for sample in samples):
        violin_axes.violinplot(samples, showmedians=True)
    violin_axes.set_xticks([1, 2], names)
    violin_axes.set_ylabel("cosine similarity")
    violin_axes.set_title("violin", fontsize=8)
    # thousands of pairs make thousands of outliers: small markers keep the boxes readable
    box_axes.boxplot(samples, tick_labels=names, flierprops={"markersize": 2, "alpha": 0.3})
    box_axes.set_title("box", fontsize=8)
    violin_axes.figure.suptitle(title, fontsize=9)
    if own:
        violin_axes.figure.tight_layout()
    return pair


def feature_boxplot(
    frame: pl.DataFrame, *, group_col: str, feature: str, top: int = 5, title: str, ax: Axes | None = None
) -> Axes:
    """Box plots of one feature for the ``top`` most frequent values of a grouping column.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows (images, wells or treatments) with ``group_col`` and ``feature``.
    group_col : str
        Grouping column, e.g. ``Metadata_pert_iname``; nulls are ignored.
    feature : str
        Numeric column to plot, e.g. a cell area or compactness feature; nulls are ignored.
    top : int
        Number of groups, the most frequent first (ties by name).
    title : str
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure sized for the groups when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    missing = [name for name in (group_col, feature) if name not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks the column(s) {missing}")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    rows = frame.select(pl.col(group_col).cast(pl.String), pl.col(feature).cast(pl.Float64)).drop_nulls()
    rows = rows.filter(pl.col(feature).is_finite())
    if rows.height == 0:
        raise ValueError(f"no rows with both {group_col!r} and a finite {feature!r}")
    counts = rows.group_by(group_col).len().sort(["len", group_col], descending=[True, False]).head(top)
    groups = counts[group_col].to_list()
    samples = [rows.filter(pl.col(group_col) == group)[feature].to_numpy() for group in groups]
    labels = [f"{group}\n(n={sample.size})" for group, sample in zip(groups, samples, strict=True)]
    own = ax is None
    ax = new_axes((1.3 * len(groups) + 2.0, 3.8)) if ax is None else ax
    ax.boxplot(samples, tick_labels=labels)
    ax.tick_params(axis="x", labelsize=7, labelrotation=20)
    ax.set_ylabel(feature, fontsize=8)
    ax.set_title(title, fontsize=9)
    if own:
        ax.figure.tight_layout()
    return ax
