"""The project's one train/validation/test split that keeps every group (well) whole.

The random forest, the CNN and the VAE all hold out whole wells: sites of one well look alike, so
a model evaluated on sites of a well it trained on would look better than it is. The classifiers
also keep the treatment mix in every part (stratified by label); the VAE has no labels and passes
``labels=None``, which makes all groups one stratum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def grouped_stratified_split(
    labels: np.ndarray | None, groups: np.ndarray, fractions: Sequence[float], seed: int
) -> list[np.ndarray]:
    """Split rows into parts that keep every group whole and follow the label mix.

    Each group is stratified by its most frequent label (a well holds one treatment, so normally its
    only label). Labels are visited in a seeded random order. A label with ``n`` groups gives each
    part ``floor(n * fraction)`` of them; the leftover groups go to the parts furthest below their
    running share over all labels visited so far (ties: the earlier part), so rounding does not pile up
    in one part when labels have only a few groups each. The first part (train, for the classifiers)
    always gets at least one group of every label (taken from the part with most), so a label with
    fewer groups than parts is in the first part. The groups of a label are shuffled and dealt out by
    these counts, first part first. Shares are met in groups, hence in rows when groups (wells) hold
    similar numbers of rows (sites).

    Parameters
    ----------
    labels : np.ndarray or None
        Class label per row, shape (n,); ``None`` puts every group in one stratum (an unlabelled
        split, as the VAE's: with ``fractions=(v, 1 - v)`` the first part is a shuffled
        ``round(v * n_groups)`` groups, halves rounded up, and never empty).
    groups : np.ndarray
        Group id per row (e.g. plate + well), shape (n,).
    fractions : Sequence[float]
        Target share per part, e.g. ``(0.8, 0.2)`` or ``(0.7, 0.15, 0.15)``; positive, summing to 1.
    seed : int
        Seed of the local random generator; the same inputs and seed give the same split.

    Returns
    -------
    list[np.ndarray]
        One sorted array of row indices per part, in the order of ``fractions``.

    Raises
    ------
    ValueError
        If labels and groups are not 1-D of one length, there are no rows, or the fractions are
        not two or more positive numbers summing to 1.
    """
    groups = np.asarray(groups)
    # One stratum: every row the same label, so the label loop below runs once over all groups.
    labels = np.zeros(groups.shape, dtype=np.int8) if labels is None else np.asarray(labels)
    shares = np.asarray(fractions, dtype=float)
    if labels.ndim != 1 or groups.shape != labels.shape:
        raise ValueError(f"labels and groups must be 1-D of equal length, got {labels.shape} and {groups.shape}")
    if labels.size == 0:
        raise ValueError("cannot split zero rows")
    if shares.ndim != 1 or shares.size < 2 or np.any(shares <= 0) or not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"fractions must be >= 2 positive numbers summing to 1, got {list(fractions)}")
    shares = shares / shares.sum()
    rng = np.random.default_rng(seed)
    group_ids, row_group = np.unique(groups, return_inverse=True)
    label_ids, row_label = np.unique(labels, return_inverse=True)
    # Majority label of each group: count (group, label) pairs.
    pair_counts = np.zeros((group_ids.size, label_ids.size), dtype=np.int64)
    np.add.at(pair_counts, (row_group, row_label), 1)
    group_label = pair_counts.argmax(axis=1)

    group_split = np.empty(group_ids.size, dtype=np.int64)
    expected = np.zeros(shares.size)  # running sum of n * fraction over labels visited
    dealt = np.zeros(shares.size)
    split_order = np.arange(shares.size)
    for label_index in rng.permutation(label_ids.size):
        members = rng.permutation(np.flatnonzero(group_label == label_index))
        ideal = members.size * shares
        counts = np.floor(ideal + 1e-9).astype(np.int64)
        debt = np.round(expected + ideal - dealt - counts, 9)
        leftover = members.size - int(counts.sum())
        # lexsort: last key is primary; negate to take the largest debt first, earlier part on ties.
        counts[np.lexsort((split_order, -debt))[:leftover]] += 1
        if counts[0] == 0:
            counts[int(np.argmax(counts))] -= 1
            counts[0] = 1
        group_split[members] = np.repeat(split_order, counts)
        expected += ideal
        dealt += counts
    row_split = group_split[row_group]
    return [np.flatnonzero(row_split == split) for split in range(shares.size)]
