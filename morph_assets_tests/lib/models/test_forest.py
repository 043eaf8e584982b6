"""Metrics against scikit-learn, the held-out shortfall, random forest on planted classes."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

from morph_assets.lib.models import (
    ClassifierReport,
    evaluate,
    reports_table,
    train_random_forest,
)
from morph_assets.lib.plot import confusion_heatmap, to_png


def _planted(groups_per_class: list[int], rows_per_group: int = 3, n_features: int = 8, signal: float = 1.0,
             noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class c shifts feature c by ``signal``; each group (well) adds its own offset, each row noise."""
    rng = np.random.default_rng(seed)
    features, labels, groups = [], [], []
    for class_index, n_groups in enumerate(groups_per_class):
        for group_index in range(n_groups):
            centre = np.zeros(n_features)
            centre[class_index % n_features] = signal
            centre += rng.normal(0.0, 0.3 * noise, n_features)
            features.append(centre + rng.normal(0.0, noise, (rows_per_group, n_features)))
            labels += [f"class_{class_index}"] * rows_per_group
            groups += [f"well_{class_index}_{group_index}"] * rows_per_group
    return np.vstack(features), np.asarray(labels), np.asarray(groups)


def test_evaluate_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    names = np.array(["DMSO", "cpd_a", "cpd_b", "cpd_c", "cpd_d"])
    y_train = names[rng.choice(5, size=60, p=[0.4, 0.2, 0.2, 0.1, 0.1])]
    y_test = names[rng.choice(4, size=40, p=[0.4, 0.3, 0.2, 0.1])]  # cpd_d never in the test set
    y_pred = np.where(rng.random(40) < 0.6, y_test, names[rng.integers(0, 5, 40)])
    report = evaluate("model", "variant", "none", y_train, y_test, y_pred)
    assert report.accuracy == pytest.approx(accuracy_score(y_test, y_pred))
    with warnings.catch_warnings():  # sklearn warns on predicted labels absent from y_true
        warnings.simplefilter("ignore", UserWarning)
        assert report.balanced_accuracy == pytest.approx(balanced_accuracy_score(y_test, y_pred))
    for average in ("weighted", "macro"):
        for name, function in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
            expected = function(y_test, y_pred, average=average, zero_division=0)
            assert getattr(report, f"{name}_{average}") == pytest.approx(expected), (name, average)
    assert report.majority_accuracy == pytest.approx(np.mean(y_test == "DMSO"))
    expected_majority_f1 = f1_score(y_test, np.full(40, "DMSO"), average="weighted", zero_division=0)
    assert report.majority_f1_weighted == pytest.approx(expected_majority_f1)
    assert report.labels == sorted(names.tolist())
    np.testing.assert_array_equal(report.confusion, confusion_matrix(y_test, y_pred, labels=sorted(names)))
    assert (report.n_train, report.n_test, report.n_classes) == (60, 40, 5)
    row = report.as_row()
    assert "confusion" not in row and "labels" not in row and row["accuracy"] == report.accuracy


def test_evaluate_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="class_weighting"):
        evaluate("m", "v", "inverse", np.array(["a"]), np.array(["a"]), np.array(["a"]))
    with pytest.raises(ValueError, match="shape"):
        evaluate("m", "v", "none", np.array(["a"]), np.array(["a", "b"]), np.array(["a"]))


def test_random_forest_beats_majority_baseline_on_planted_classes() -> None:
    features, labels, groups = _planted([30, 8, 8, 8, 8, 8], signal=3.0, seed=2)
    features[::7, 2] = np.nan  # imputed from training medians
    features[::11, 3] = np.inf
    forest, report = train_random_forest(features, labels, groups, variant="planted", n_estimators=60, seed=0)
    assert report.accuracy > report.majority_accuracy + 0.3
    assert report.f1_macro > 0.6 and report.balanced_accuracy > 0.6
    assert report.n_train + report.n_test == labels.size
    assert np.all(np.isfinite(forest.feature_medians_))


def test_class_weighting_changes_the_forest_on_imbalanced_classes() -> None:
    features, labels, groups = _planted([40, 5, 5, 5, 5, 5], signal=1.0, noise=1.2, seed=4)
    reports = {weighting: train_random_forest(features, labels, groups, variant="planted", class_weighting=weighting,
                                              n_estimators=40, seed=0, test_fraction=0.3)[1]
               for weighting in ("none", "balanced")}
    assert reports["none"].n_test == reports["balanced"].n_test  # same split: only the weighting differs
    assert reports["none"].as_row() != reports["balanced"].as_row()
    table = reports_table(list(reports.values()))
    assert table.height == 2 and table["class_weighting"].to_list() == ["none", "balanced"]
    assert "confusion" not in table.columns and table.schema["accuracy"] == pl.Float64


def test_random_forest_is_seeded() -> None:
    features, labels, groups = _planted([8] * 6, signal=1.5, seed=5)
    first = train_random_forest(features, labels, groups, variant="v", n_estimators=30, seed=3)
    again = train_random_forest(features, labels, groups, variant="v", n_estimators=30, seed=3)
    assert first[1] == again[1]
    np.testing.assert_array_equal(first[1].confusion, again[1].confusion)
    np.testing.assert_array_equal(first[0].predict(features), again[0].predict(features))


def test_reports_table_empty_and_confusion_heatmap_drawn() -> None:
    assert reports_table([]).height == 0
    assert "f1_macro" in reports_table([]).columns
    y = np.array(["a", "b", "c", "a", "a"])
    report = evaluate("random_forest", "v", "balanced", y, y, np.array(["a", "a", "c", "b", "a"]))
    assert isinstance(report, ClassifierReport)
    axes = confusion_heatmap(report.confusion, report.labels, title=report.model, top=2)
    assert len(axes.get_yticklabels()) == 2 and to_png(axes.figure).startswith(b"\x89PNG")


def _wells(per_label: dict[str, int], sites: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Labels and well groups: ``per_label[name]`` wells of ``sites`` sites each."""
    labels, groups = [], []
    for name, wells in per_label.items():
        for well in range(wells):
            labels += [name] * sites
            groups += [f"P1|{name}-{well}"] * sites
    return np.array(labels), np.array(groups)


def test_held_out_shortfall_one_well_per_treatment() -> None:
    from morph_assets.lib.models import held_out_shortfall

    # one plate, every compound in one well: only DMSO could be held out
    labels, groups = _wells({"DMSO": 3, "c1": 1, "c2": 1, "c3": 1, "c4": 1, "c5": 1})
    reason = held_out_shortfall(labels, groups, (0.8, 0.2), seed=0)
    assert reason.startswith("only 1 of 6 treatments (DMSO) are in two or more wells")


def test_held_out_shortfall_follows_the_split_by_hand() -> None:
    from morph_assets.lib.models import held_out_shortfall

    # Two wells per label and 80/20: the running shares give the labels (train, test) wells of
    # (2, 0), (1, 1), (2, 0), (1, 1), ... in visiting order, so 3 labels test only one, 5 test two.
    labels, groups = _wells({f"c{i}": 2 for i in range(3)})
    assert "the test part holds wells of only 1 treatment(s)" in held_out_shortfall(labels, groups, (0.8, 0.2), seed=4)
    labels, groups = _wells({f"c{i}": 2 for i in range(5)})
    assert held_out_shortfall(labels, groups, (0.8, 0.2), seed=4) is None
    # 70/15/15 with two labels of two wells: (2, 0, 0) then (1, 1, 0), the validation part winning the tie
    labels, groups = _wells({"a": 2, "b": 2})
    assert "leaves the test part empty (4 wells" in held_out_shortfall(labels, groups, (0.7, 0.15, 0.15), seed=1)
