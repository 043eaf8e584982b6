"""score_segmentation against Cellpose's own average_precision, and its edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.segmentation import expand_labels

from morph_assets.lib.segment import score_segmentation


def _random_labels(rng: np.random.Generator, shape: tuple[int, int], n_objects: int) -> np.ndarray:
    """Grown random seeds: touching blobs with labels 1..n (Cellpose counts objects by max label)."""
    seeds = np.zeros(shape, dtype=np.int32)
    rows = rng.integers(0, shape[0], n_objects)
    cols = rng.integers(0, shape[1], n_objects)
    seeds[rows, cols] = np.arange(1, n_objects + 1)
    labels = expand_labels(seeds, distance=int(rng.integers(3, 8)))
    present = np.unique(labels[labels > 0])
    relabel = np.zeros(n_objects + 1, dtype=np.int32)
    relabel[present] = np.arange(1, len(present) + 1)
    return relabel[labels]


def _perturb(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """A plausible prediction: shifted, some objects dropped, some added, some merged."""
    shifted = np.roll(labels, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
    n = int(shifted.max())
    keep = rng.random(n + 1) > 0.15
    keep[0] = True
    shifted = np.where(keep[shifted], shifted, 0)
    extra = _random_labels(rng, labels.shape, 8)
    shifted = np.where((shifted == 0) & (extra > 0), extra + n, shifted)
    present = np.unique(shifted[shifted > 0])
    relabel = np.zeros(int(shifted.max()) + 1, dtype=np.int32)
    relabel[present] = np.arange(1, len(present) + 1)
    return relabel[shifted]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.5, 0.75])
def test_matches_cellpose_average_precision(seed: int, threshold: float) -> None:
    metrics = pytest.importorskip("cellpose.metrics")
    rng = np.random.default_rng(seed)
    truth = _random_labels(rng, (96, 96), 30)
    predicted = _perturb(rng, truth)
    ours = score_segmentation(truth, predicted, iou_threshold=threshold)
    ap, tp, fp, fn = metrics.average_precision(truth, predicted, threshold=[threshold])
    assert ours["average_precision"] == pytest.approx(float(ap[0]), abs=1e-6)
    assert (ours["true_positives"], ours["false_positives"], ours["false_negatives"]) == (tp[0], fp[0], fn[0])
    assert ours["average_precision"] < 1.0  # the case is not trivial
    if threshold == 0.5:
        assert ours["average_precision"] > 0.3


def test_perfect_and_empty_cases() -> None:
    truth = _random_labels(np.random.default_rng(0), (64, 64), 10)
    perfect = score_segmentation(truth, truth * 3)  # label values need not agree
    assert perfect["average_precision"] == perfect["f1"] == 1.0
    assert perfect["count_error"] == 0.0 and perfect["mean_matched_iou"] == 1.0
    nothing = score_segmentation(truth, np.zeros_like(truth))
    assert nothing["average_precision"] == nothing["recall"] == 0.0
    assert nothing["count_error"] == -1.0
    both_empty = score_segmentation(np.zeros_like(truth), np.zeros_like(truth))
    assert both_empty["average_precision"] == 1.0 and both_empty["count_error"] == 0.0


def test_one_to_one_matching_counts_a_merge_once() -> None:
    truth = np.zeros((10, 20), dtype=np.int32)
    truth[:, :10], truth[:, 10:] = 1, 2
    merged = (truth > 0).astype(np.int32)  # one prediction covering both: IoU 0.5 with each
    score = score_segmentation(truth, merged, iou_threshold=0.5)
    assert score["true_positives"] == 1 and score["false_negatives"] == 1
    assert score["precision"] == 1.0 and score["recall"] == 0.5


def test_rejects_bad_input() -> None:
    labels = np.ones((4, 4), dtype=np.int32)
    with pytest.raises(ValueError, match="shape"):
        score_segmentation(labels, np.ones((4, 5), dtype=np.int32))
    with pytest.raises(ValueError, match="integer"):
        score_segmentation(labels.astype(float), labels)
    with pytest.raises(ValueError, match="iou_threshold"):
        score_segmentation(labels, labels, iou_threshold=0.0)
