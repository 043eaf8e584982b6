"""Cross-fitting the crop network over replicate plates, and pooling its cells' outputs (issue 13, items 2-3).

Why cross-fitting and class probabilities: see :mod:`morph_assets.lib.models._crop_net`. Here
the plates are dealt into folds (:func:`plate_folds`), each fold is embedded by a network trained
on the other folds (:func:`cross_fitted_log_probabilities`), a plain held-out split serves the
study's split by image (:func:`split_log_probabilities`), and cells' outputs are averaged per
image or well (:func:`pooled_probabilities`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from morph_assets.lib.models._crop_net import CropNet, CropNetSettings, class_log_probabilities, train_crop_net
from morph_assets.lib.models._split import grouped_stratified_split


def plate_folds(plates: Sequence[str], n_folds: int) -> list[tuple[str, ...]]:
    """Deal the sorted distinct plates into ``min(n_folds, plates)`` folds, round robin.

    Parameters
    ----------
    plates : sequence of str
        Plate barcodes (repeats allowed).
    n_folds : int
        Folds wanted.

    Returns
    -------
    list of tuple of str
        Fold ``i`` holds the ``i``-th, ``i + k``-th, ... plate in sorted order.

    Raises
    ------
    ValueError
        With fewer than two plates: a plate's network must learn from another plate.

    Examples
    --------
    >>> plate_folds(["P4", "P1", "P3", "P2", "P1"], 2)
    [('P1', 'P3'), ('P2', 'P4')]
    """
    distinct = sorted({str(plate) for plate in plates})
    if len(distinct) < 2:
        raise ValueError(f"{len(distinct)} plate(s): cross-fitting needs at least two replicate plates "
                         "(each plate is embedded by a network trained on the others)")
    k = min(n_folds, len(distinct))
    return [tuple(distinct[i::k]) for i in range(k)]


@dataclass
class CrossFit:
    """What :func:`cross_fitted_log_probabilities` returns.

    Attributes
    ----------
    log_probabilities : (n, n_classes) float32 ndarray
        Every crop's class log-probabilities from the network of the fold that held its plate out.
    fold : (n,) int ndarray
        That fold's index per crop.
    folds : list of tuple of str
        The plates of each fold.
    label_names : ndarray of str
        Class index -> treatment.
    histories : list of list of dict
        Each fold network's training history.
    models : list of CropNet
        The fold networks, in fold order.
    """

    log_probabilities: np.ndarray
    fold: np.ndarray
    folds: list[tuple[str, ...]]
    label_names: np.ndarray
    histories: list[list[dict]] = field(default_factory=list)
    models: list[CropNet] = field(default_factory=list)


def cross_fitted_log_probabilities(
    crops: np.ndarray,
    labels: np.ndarray,
    plates: np.ndarray,
    wells: np.ndarray,
    settings: CropNetSettings = CropNetSettings(),
    *,
    log: Callable[[str], None] | None = None,
) -> CrossFit:
    """Embed every crop with a network that never saw its plate's labels.

    For each fold of :func:`plate_folds`, :func:`train_crop_net` learns from the crops of the other
    folds' plates (their labels only) and :func:`class_log_probabilities` embeds the fold's own
    crops. The class axes are the sorted treatment names of all plates (names only; which crop is
    which treatment on a held-out plate is never read for its fold).

    Parameters
    ----------
    crops : (n, C, S, S) ndarray
        Every crop.
    labels : (n,) ndarray of str
        Treatment per crop.
    plates, wells : (n,) ndarray of str
        Plate and well per crop.
    settings : CropNetSettings
        Training settings (``n_folds`` among them).
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    CrossFit
        Per-crop log-probabilities in crop order, with the folds, the networks and their histories.

    Raises
    ------
    ValueError
        With fewer than two plates, or lengths that differ.
    """
    labels = np.asarray(labels).astype(str)
    plates = np.asarray(plates).astype(str)
    wells = np.asarray(wells).astype(str)
    if not len(crops) == labels.size == plates.size == wells.size:
        raise ValueError(f"{len(crops)} crops, {labels.size} labels, {plates.size} plates, {wells.size} wells")
    folds = plate_folds(plates, settings.n_folds)
    label_names = np.unique(labels)
    codes = np.searchsorted(label_names, labels)
    out = np.zeros((len(crops), label_names.size), np.float32)
    fold_of = np.full(len(crops), -1, np.int64)
    result = CrossFit(out, fold_of, folds, label_names)
    for index, held in enumerate(folds):
        scored = np.isin(plates, held)
        train = np.flatnonzero(~scored)
        say = (lambda line, i=index: log(f"fold {i + 1}/{len(folds)}: {line}")) if log else None
        if say:
            say(f"training on {train.size} crops of {', '.join(sorted(set(plates[train].tolist())))}, "
                f"embedding {', '.join(held)}")
        model, history = train_crop_net(crops[train], codes[train], plates[train] + "|" + wells[train],
                                        label_names.size, settings, log=say)
        rows = np.flatnonzero(scored)
        out[rows] = class_log_probabilities(model, crops[rows], settings.view_size)
        fold_of[rows] = index
        result.models.append(model)
        result.histories.append(history)
    return result


def pooled_probabilities(keys: pl.DataFrame, log_probabilities: np.ndarray, by: Sequence[str],
                         prefix: str = "CropNet_") -> pl.DataFrame:
    """Mean of the cells' class probabilities per group (an image, a well): the group's profile.

    Probabilities, not log-probabilities: a cell the network is unsure about then adds little to
    every class instead of a large negative number to most (measured on the demo plates: mAP 0.24
    with probabilities against 0.22 with log-probabilities, docs/DESIGN.md 57).

    Parameters
    ----------
    keys : polars.DataFrame
        One row per crop, same order as ``log_probabilities``, holding the ``by`` columns.
    log_probabilities : (n, n_classes) ndarray
        Per-crop outputs of :func:`class_log_probabilities`.
    by : sequence of str
        Grouping columns (e.g. plate, well, site).
    prefix : str
        Feature columns are named ``<prefix>000`` ... by class index.

    Returns
    -------
    polars.DataFrame
        One row per group, sorted by ``by``: the ``by`` columns, ``n_cells`` (Int64), then the
        mean probability of each class (Float32).
    """
    if keys.height != len(log_probabilities):
        raise ValueError(f"{keys.height} key rows but {len(log_probabilities)} rows of log-probabilities")
    width = max(3, len(str(max(log_probabilities.shape[1] - 1, 0))))
    names = [f"{prefix}{k:0{width}d}" for k in range(log_probabilities.shape[1])]
    probabilities = np.exp(np.asarray(log_probabilities, dtype=np.float32))
    frame = keys.select(list(by)).with_columns(pl.DataFrame(probabilities, schema=names).get_columns())
    return (frame.group_by(list(by)).agg(pl.len().cast(pl.Int64).alias("n_cells"), pl.col(names).mean())
            .sort(list(by)))


def split_log_probabilities(
    crops: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    settings: CropNetSettings = CropNetSettings(),
    *,
    test_fraction: float = 0.15,
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train on one part of the groups, return the other part's class log-probabilities.

    The groups are split by :func:`grouped_stratified_split` (every group whole, the label mix
    kept); :func:`train_crop_net` learns from the training part (holding out some of its groups
    for early stopping) and embeds the test part. With images as groups this is the study's split
    (sites of a well on both sides); with wells as groups it is a split by well.

    Parameters
    ----------
    crops : (n, C, S, S) ndarray
        Every crop.
    labels : (n,) ndarray of str
        Treatment per crop.
    groups : (n,) ndarray
        The unit the split keeps whole (an image, a well).
    settings : CropNetSettings
        Training settings (``n_folds`` is not used).
    test_fraction : float
        Share of the groups held out for testing.
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    train_rows, test_rows : int ndarray
        Row indices of each part.
    log_probabilities : (len(test_rows), n_classes) float32 ndarray
        The test crops' outputs, classes ordered as ``numpy.unique(labels)``.
    """
    labels = np.asarray(labels).astype(str)
    label_names = np.unique(labels)
    codes = np.searchsorted(label_names, labels)
    train_rows, test_rows = grouped_stratified_split(labels, np.asarray(groups), (1 - test_fraction, test_fraction),
                                                     settings.seed)
    if log:
        log(f"split: training on {train_rows.size} crops, testing on {test_rows.size}")
    model, _ = train_crop_net(crops[train_rows], codes[train_rows], np.asarray(groups)[train_rows], label_names.size,
                              settings, log=log)
    return train_rows, test_rows, class_log_probabilities(model, crops[test_rows], settings.view_size)
