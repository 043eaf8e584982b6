"""Treatment classification from per-image features, evaluated honestly.

All images (sites) of one well share a *group* id; every split keeps a group whole, so a model is
never tested on sites of a well it saw in training (which would inflate accuracy). Each report carries
weighted and macro metrics, balanced accuracy and a majority-class baseline, because with ~300 classes
and DMSO at ~20% of samples plain accuracy says little on its own.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import polars as pl
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from morph_assets.lib.models._split import grouped_stratified_split

CLASS_WEIGHTINGS = ("none", "balanced")


#: A held-out evaluation needs at least this many labels in the test split (one label is a
#: "classifier" that never has to choose).
MIN_TEST_LABELS = 2


def held_out_shortfall(
    labels: np.ndarray, groups: np.ndarray, fractions: Sequence[float], seed: int, *, names: Sequence[str] = ()
) -> str | None:
    """Why a split by group cannot evaluate a classifier on these data, or ``None`` when it can.

    A label held by one group (a treatment in one well of one plate) always goes to training, so
    only labels with two or more groups can be tested. The split is the one
    :func:`grouped_stratified_split` makes with the same ``fractions`` and ``seed``; it must leave
    no part empty and put at least :data:`MIN_TEST_LABELS` labels in the last part (the test
    split), else the "accuracy" would score one class against itself.

    Parameters
    ----------
    labels, groups : np.ndarray
        Label and group (plate + well) per row, shape (n,).
    fractions : sequence of float
        The shares the model will use, e.g. ``(0.8, 0.2)``.
    seed : int
        The seed the model will use.
    names : sequence of str, optional
        Names of the parts for the message (default ``train``, ``validation``..., ``test``).

    Returns
    -------
    str or None
        One sentence with the counts, or ``None``.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    if labels.size == 0:
        return "no labelled row to train on"
    pairs = np.unique(np.stack([labels.astype(str), groups.astype(str)]), axis=1)
    label_names, groups_per_label = np.unique(pairs[0], return_counts=True)
    repeated = label_names[groups_per_label >= 2]
    if repeated.size < MIN_TEST_LABELS:
        return (f"only {repeated.size} of {label_names.size} treatments ({', '.join(repeated[:3]) or 'none'}) are in "
                f"two or more wells; a split by well cannot test the others, and at least {MIN_TEST_LABELS} are "
                "needed (add replicate wells or plates)")
    parts = grouped_stratified_split(labels, groups, fractions, seed)
    names = list(names) or (["train", "test"] if len(parts) == 2 else ["train", "validation", "test"])
    for name, rows in zip(names, parts, strict=False):
        if rows.size == 0:
            return (f"the {'/'.join(f'{f:g}' for f in fractions)} split by well leaves the {name} part empty "
                    f"({np.unique(groups).size} wells, {repeated.size} treatments in two or more wells)")
    tested = np.unique(labels[parts[-1]])
    if tested.size < MIN_TEST_LABELS:
        return (f"the test part holds wells of only {tested.size} treatment(s) ({', '.join(tested[:3].astype(str))}); "
                f"at least {MIN_TEST_LABELS} are needed ({repeated.size} treatments are in two or more wells)")
    return None


@dataclass(frozen=True)
class ClassifierReport:
    """Test-set metrics of one classifier, with the majority-class baseline beside them.

    Attributes
    ----------
    model, variant, class_weighting : str
        Which classifier, on which input, with which class weights.
    n_train, n_test, n_classes : int
        Training and test images, and labels.
    accuracy, balanced_accuracy : float
        On the test split.
    precision_weighted, recall_weighted, f1_weighted : float
        Averaged over labels weighted by their test counts.
    precision_macro, recall_macro, f1_macro : float
        Averaged over labels equally.
    majority_accuracy, majority_f1_weighted : float
        The same for always predicting the most frequent training label.
    labels : list of str
        Label of each row and column of ``confusion``.
    confusion : numpy.ndarray
        (labels, labels) counts, true label by row, predicted label by column.
    """

    model: str
    variant: str
    class_weighting: str
    n_train: int
    n_test: int
    n_classes: int
    accuracy: float
    balanced_accuracy: float
    precision_weighted: float
    recall_weighted: float
    f1_weighted: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    majority_accuracy: float
    majority_f1_weighted: float
    labels: list[str] = field(default_factory=list, compare=False, repr=False)
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64), compare=False, repr=False)

    def as_row(self) -> dict:
        """Return the scalar fields as a dict (one table row), without ``labels`` and ``confusion``.

        Returns
        -------
        dict
            Field name to value for every scalar field.
        """
        return {name: getattr(self, name) for name in _SCALAR_FIELDS}


_SCALAR_FIELDS = tuple(item.name for item in fields(ClassifierReport) if item.name not in ("labels", "confusion"))


def evaluate(
    model: str, variant: str, class_weighting: str, y_train: np.ndarray, y_test: np.ndarray, y_pred: np.ndarray
) -> ClassifierReport:
    """Score test predictions with scikit-learn (``zero_division=0``) and a majority-class baseline.

    Weighted and macro averages run over the labels present in ``y_test`` or ``y_pred`` (scikit-learn's
    default). The baseline always predicts the most frequent training label (ties: the first in sorted
    order). The confusion matrix covers the sorted union of train, test and predicted labels.

    Parameters
    ----------
    model, variant, class_weighting : str
        Names copied into the report (e.g. ``"random_forest"``, ``"cellprofiler"``, ``"balanced"``).
    y_train : np.ndarray
        Training labels (only used for counts and the baseline).
    y_test : np.ndarray
        True test labels.
    y_pred : np.ndarray
        Predicted test labels, same length as ``y_test``.

    Returns
    -------
    ClassifierReport
        Metrics, baseline and confusion matrix (rows: true label, columns: predicted label).
    """
    if class_weighting not in CLASS_WEIGHTINGS:
        raise ValueError(f"class_weighting must be one of {CLASS_WEIGHTINGS}, got {class_weighting!r}")
    y_train = np.asarray(y_train).astype(str)
    y_test = np.asarray(y_test).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    if y_train.size == 0 or y_test.size == 0:
        raise ValueError("evaluate needs at least one training and one test label")
    if y_pred.shape != y_test.shape:
        raise ValueError(f"y_pred has shape {y_pred.shape}, y_test {y_test.shape}")
    train_names, train_counts = np.unique(y_train, return_counts=True)
    majority = np.full(y_test.shape, train_names[np.argmax(train_counts)])
    all_labels = np.unique(np.concatenate([y_train, y_test, y_pred]))
    weighted = precision_recall_fscore_support(y_test, y_pred, average="weighted", zero_division=0)
    macro = precision_recall_fscore_support(y_test, y_pred, average="macro", zero_division=0)
    with warnings.catch_warnings():
        # Predicted labels absent from y_test trigger a warning, not an error; the score is still defined.
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(y_test, y_pred)
    return ClassifierReport(
        model=model,
        variant=variant,
        class_weighting=class_weighting,
        n_train=int(y_train.size),
        n_test=int(y_test.size),
        n_classes=int(np.unique(np.concatenate([y_train, y_test])).size),
        accuracy=float(accuracy_score(y_test, y_pred)),
        balanced_accuracy=float(balanced),
        precision_weighted=float(weighted[0]),
        recall_weighted=float(weighted[1]),
        f1_weighted=float(weighted[2]),
        precision_macro=float(macro[0]),
        recall_macro=float(macro[1]),
        f1_macro=float(macro[2]),
        majority_accuracy=float(accuracy_score(y_test, majority)),
        majority_f1_weighted=float(f1_score(y_test, majority, average="weighted", zero_division=0)),
        labels=[str(name) for name in all_labels],
        confusion=confusion_matrix(y_test, y_pred, labels=all_labels),
    )


def training_medians(features: np.ndarray) -> np.ndarray:
    """Per-column median of the finite values (0 for a column with none), used to fill NaN/inf.

    Parameters
    ----------
    features : np.ndarray
        Training feature matrix, shape (n, p).

    Returns
    -------
    np.ndarray
        Medians, shape (p,).
    """
    finite = np.where(np.isfinite(features), features, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are expected; they become 0
        medians = np.nanmedian(finite, axis=0)
    return np.nan_to_num(medians, nan=0.0)


def impute_non_finite(features: np.ndarray, medians: np.ndarray) -> np.ndarray:
    """Replace NaN and +/-inf entries with the given per-column medians.

    Parameters
    ----------
    features : np.ndarray
        Feature matrix, shape (n, p).
    medians : np.ndarray
        Fill value per column, shape (p,), from :func:`training_medians` on the training rows.

    Returns
    -------
    np.ndarray
        A float64 copy with every entry finite.
    """
    features = np.asarray(features, dtype=np.float64)
    return np.where(np.isfinite(features), features, medians[np.newaxis, :])


def train_random_forest(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    variant: str,
    class_weighting: str = "balanced",
    test_fraction: float = 0.2,
    n_estimators: int = 300,
    seed: int = 0,
    n_jobs: int = 1,
) -> tuple[RandomForestClassifier, ClassifierReport]:
    """Fit a random forest on a grouped, stratified train split and score it on the held-out groups.

    Parameters
    ----------
    features : np.ndarray
        Per-image features, shape (n, p); NaN/inf are filled with training-split column medians.
    labels : np.ndarray
        Treatment label per row, shape (n,).
    groups : np.ndarray
        Well group id per row, shape (n,); a group never straddles train and test.
    variant : str
        Name of the feature set, copied into the report.
    class_weighting : str
        ``"balanced"`` (weights inverse to training class frequency) or ``"none"``.
    test_fraction : float
        Share of rows held out for testing, in (0, 1).
    n_estimators : int
        Number of trees.
    seed : int
        Seed of the split and of the forest.
    n_jobs : int
        Parallel jobs for fitting and predicting.

    Returns
    -------
    tuple[RandomForestClassifier, ClassifierReport]
        The fitted forest (its training medians in ``feature_medians_``) and its test report.
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    if features.ndim != 2 or features.shape[0] != labels.shape[0]:
        raise ValueError(f"features must be (n, p) with n == len(labels), got {features.shape} and {labels.shape}")
    if class_weighting not in CLASS_WEIGHTINGS:
        raise ValueError(f"class_weighting must be one of {CLASS_WEIGHTINGS}, got {class_weighting!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    train_rows, test_rows = grouped_stratified_split(labels, groups, (1.0 - test_fraction, test_fraction), seed)
    if test_rows.size == 0:
        raise ValueError("the test split is empty: too few groups for the requested test_fraction")
    medians = training_medians(features[train_rows])
    forest = RandomForestClassifier(
        n_estimators=n_estimators,
        class_weight="balanced" if class_weighting == "balanced" else None,
        random_state=seed,
        n_jobs=n_jobs,
    )
    forest.fit(impute_non_finite(features[train_rows], medians), labels[train_rows])
    forest.feature_medians_ = medians
    predicted = forest.predict(impute_non_finite(features[test_rows], medians))
    report = evaluate("random_forest", variant, class_weighting, labels[train_rows], labels[test_rows], predicted)
    return forest, report


def reports_table(reports: Sequence[ClassifierReport]) -> pl.DataFrame:
    """Stack reports into one table, one row per model/variant/weighting.

    Parameters
    ----------
    reports : Sequence[ClassifierReport]
        Reports to tabulate.

    Returns
    -------
    pl.DataFrame
        Columns are the scalar report fields; empty (with those columns) when ``reports`` is empty.
    """
    if not reports:
        return pl.DataFrame({name: [] for name in _SCALAR_FIELDS})
    return pl.DataFrame([report.as_row() for report in reports]).select(_SCALAR_FIELDS)
