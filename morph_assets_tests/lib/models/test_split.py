"""The one grouped split: groups kept whole, shares and label mix followed, seeded; without labels too."""

from __future__ import annotations

import numpy as np
import pytest

from morph_assets.lib.models import grouped_stratified_split


def _labelled_groups(groups_per_class: list[int], rows_per_group: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Label and group per row: class c has ``groups_per_class[c]`` groups (wells) of equal size."""
    labels, groups = [], []
    for class_index, n_groups in enumerate(groups_per_class):
        for group_index in range(n_groups):
            labels += [f"class_{class_index}"] * rows_per_group
            groups += [f"well_{class_index}_{group_index}"] * rows_per_group
    return np.asarray(labels), np.asarray(groups)


def _assert_groups_whole(groups: np.ndarray, splits: list[np.ndarray]) -> None:
    seen = [set(groups[rows]) for rows in splits]
    for first in range(len(seen)):
        for second in range(first + 1, len(seen)):
            assert not seen[first] & seen[second]
    assert sorted(np.concatenate(splits).tolist()) == list(range(groups.size))


@pytest.mark.parametrize("fractions", [(0.8, 0.2), (0.7, 0.15, 0.15)])
def test_split_keeps_groups_whole_and_follows_fractions(fractions: tuple[float, ...]) -> None:
    labels, groups = _labelled_groups([10] * 30 + [40], rows_per_group=3)
    splits = grouped_stratified_split(labels, groups, fractions, seed=3)
    _assert_groups_whole(groups, splits)
    shares = np.array([rows.size for rows in splits]) / labels.size
    np.testing.assert_allclose(shares, fractions, atol=0.03)
    big = labels == "class_30"  # the DMSO-like class keeps its share in every split
    for rows, fraction in zip(splits, fractions, strict=True):
        assert abs(big[rows].sum() / big.sum() - fraction) <= 0.05


def test_split_follows_fractions_when_labels_have_few_groups() -> None:
    # 4 groups per label cannot split 70/15/15 within a label; the shares must still hold overall.
    labels = np.repeat([f"cpd_{index}" for index in range(60)], 4 * 2)
    groups = np.repeat(np.arange(240), 2)
    splits = grouped_stratified_split(labels, groups, (0.7, 0.15, 0.15), seed=0)
    _assert_groups_whole(groups, splits)
    np.testing.assert_allclose([rows.size / labels.size for rows in splits], (0.7, 0.15, 0.15), atol=0.01)


def test_split_puts_every_label_with_two_groups_into_train() -> None:
    labels, groups = _labelled_groups([1, 2, 2, 3, 5, 8], rows_per_group=2)
    for seed in range(5):
        train, val, test = grouped_stratified_split(labels, groups, (0.7, 0.15, 0.15), seed=seed)
        _assert_groups_whole(groups, [train, val, test])
        assert set(labels[train]) == set(labels)  # even the single-group label goes to train first


def test_split_is_seeded() -> None:
    labels, groups = _labelled_groups([6] * 5)
    first = grouped_stratified_split(labels, groups, (0.8, 0.2), seed=7)
    again = grouped_stratified_split(labels, groups, (0.8, 0.2), seed=7)
    other = grouped_stratified_split(labels, groups, (0.8, 0.2), seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize("fractions", [(1.0,), (0.5, 0.6), (0.9, 0.0, 0.1)])
def test_split_rejects_bad_fractions(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="fractions"):
        grouped_stratified_split(np.array(["a", "b"]), np.array([1, 2]), fractions, seed=0)


def test_without_labels_the_first_part_is_a_rounded_share_of_shuffled_groups() -> None:
    groups = np.repeat(np.array(["A01", "A02", "B01", "B02", "C01", "C02", "D01"]), 3)
    held_out, kept = grouped_stratified_split(None, groups, (0.3, 0.7), seed=1)
    _assert_groups_whole(groups, [held_out, kept])
    assert len(set(groups[held_out])) == 2  # round(0.3 * 7)
    again = grouped_stratified_split(None, groups, (0.3, 0.7), seed=1)
    assert np.array_equal(held_out, again[0]) and np.array_equal(kept, again[1])


@pytest.mark.parametrize(("n_groups", "held_out"), [(10, 2), (30, 5), (20, 3), (3, 1)])
def test_without_labels_halves_round_up_and_the_first_part_is_never_empty(n_groups: int, held_out: int) -> None:
    # 0.15 x 10 = 1.5 -> 2, 0.15 x 30 = 4.5 -> 5, 0.15 x 20 = 3, 0.15 x 3 = 0.45 -> at least 1
    groups = np.arange(n_groups).repeat(2)
    first, _ = grouped_stratified_split(None, groups, (0.15, 0.85), seed=0)
    assert np.unique(groups[first]).size == held_out


def test_labels_and_groups_must_match() -> None:
    with pytest.raises(ValueError, match="equal length"):
        grouped_stratified_split(np.array(["a", "b", "c"]), np.array([1, 2]), (0.5, 0.5), seed=0)
    with pytest.raises(ValueError, match="zero rows"):
        grouped_stratified_split(None, np.array([]), (0.5, 0.5), seed=0)
