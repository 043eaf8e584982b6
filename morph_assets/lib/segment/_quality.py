"""Object-level agreement between a segmentation and the ground truth.

The score is the one Cellpose and StarDist report: a true object and a predicted object match
when their intersection over union (IoU) reaches a threshold, each object matching at most one
other (an optimal one-to-one assignment); average precision is then TP / (TP + FP + FN).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def _check_labels(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim < 2 or not np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        raise ValueError(f"{name} must be an integer label image, got {array.dtype} of shape {array.shape}")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} holds negative labels")
    return array.astype(np.int64, copy=False)


def intersection_over_union(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the IoU of every pair of true and predicted objects.

    Parameters
    ----------
    truth, predicted : numpy.ndarray
        Integer label images of one shape, 0 background; labels need not be consecutive.

    Returns
    -------
    iou : numpy.ndarray
        float64 (T, P): IoU of the i-th true label with the j-th predicted label.
    true_labels, predicted_labels : numpy.ndarray
        (T,) and (P,) the labels present, in increasing order.
    """
    truth = _check_labels(truth, "truth")
    predicted = _check_labels(predicted, "predicted")
    if truth.shape != predicted.shape:
        raise ValueError(f"truth {truth.shape} and predicted {predicted.shape} differ in shape")
    true_labels, true_index, true_area = np.unique(truth, return_inverse=True, return_counts=True)
    pred_labels, pred_index, pred_area = np.unique(predicted, return_inverse=True, return_counts=True)
    # Joint histogram of (true, predicted) label indices: the overlap of every pair at once.
    n_pairs = len(true_labels) * len(pred_labels)
    pair = true_index.ravel() * len(pred_labels) + pred_index.ravel()
    overlap = np.bincount(pair, minlength=n_pairs).reshape(len(true_labels), len(pred_labels))
    union = true_area[:, None] + pred_area[None, :] - overlap
    iou = np.divide(overlap, union, out=np.zeros(overlap.shape), where=union > 0)
    true_fg, pred_fg = true_labels > 0, pred_labels > 0
    return iou[np.ix_(true_fg, pred_fg)], true_labels[true_fg], pred_labels[pred_fg]


def score_segmentation(truth: np.ndarray, predicted: np.ndarray, iou_threshold: float = 0.5) -> dict[str, float]:
    """Score predicted objects against true ones at an IoU threshold.

    Parameters
    ----------
    truth, predicted : numpy.ndarray
        Integer (M, N) label images of one shape, 0 background.
    iou_threshold : float, optional
        Smallest IoU of a match, by default 0.5 (at or above 0.5 a match is necessarily unique).

    Returns
    -------
    dict of str to float
        ``average_precision`` TP / (TP + FP + FN) (1.0 when both images are empty);
        ``precision`` TP / n_predicted, ``recall`` TP / n_true, ``f1``; ``true_positives``,
        ``false_positives``, ``false_negatives``, ``n_true``, ``n_predicted``;
        ``count_error`` (n_predicted - n_true) / n_true (NaN when n_true is 0 and predictions
        exist); ``mean_matched_iou`` over the true positives (NaN without any).

    Examples
    --------
    >>> truth = np.array([[1, 1, 0, 2, 2]] * 4)
    >>> predicted = np.array([[3, 3, 0, 0, 0]] * 4)
    >>> score = score_segmentation(truth, predicted)
    >>> score["average_precision"], score["recall"], score["precision"]
    (0.5, 0.5, 1.0)
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    iou, true_labels, pred_labels = intersection_over_union(truth, predicted)
    n_true, n_pred = len(true_labels), len(pred_labels)
    matched_iou = np.empty(0)
    if n_true and n_pred:
        # Maximise the number of matches above the threshold; among equal counts prefer higher IoU.
        cost = -(iou >= iou_threshold).astype(float) - iou / (2.0 * min(n_true, n_pred))
        rows, cols = linear_sum_assignment(cost)
        matched_iou = iou[rows, cols]
        matched_iou = matched_iou[matched_iou >= iou_threshold]
    tp = len(matched_iou)
    fp, fn = n_pred - tp, n_true - tp
    denominator = tp + fp + fn
    precision = tp / n_pred if n_pred else (1.0 if n_true == 0 else 0.0)
    recall = tp / n_true if n_true else (1.0 if n_pred == 0 else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    if n_true:
        count_error = (n_pred - n_true) / n_true
    else:
        count_error = 0.0 if n_pred == 0 else float("nan")
    return {
        "average_precision": tp / denominator if denominator else 1.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "true_positives": float(tp),
        "false_positives": float(fp),
        "false_negatives": float(fn),
        "n_true": float(n_true),
        "n_predicted": float(n_pred),
        "count_error": float(count_error),
        "mean_matched_iou": float(matched_iou.mean()) if tp else float("nan"),
    }
