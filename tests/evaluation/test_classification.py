"""Confusion matrix, calibration, thresholds and curves against brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import calibration, metrics

from modelcycle.core import ValidationError
from modelcycle.evaluation import (
    Calibration,
    ConfusionMatrix,
    ThresholdChoice,
    binary_curves,
    calibration_curve,
    choose_threshold,
    confusion_matrix,
)
from tests.evaluation.conftest import Holdout
from tests.evaluation.helpers import binary_case, multiclass_case


def test_confusion_matrix_equals_sklearn_with_labels() -> None:
    y, p = multiclass_case(0, 300, 4)
    pred = p.argmax(axis=1)
    matrix = confusion_matrix(y, pred, class_labels=["a", "b", "c", "d"])
    assert np.array_equal(matrix.counts, metrics.confusion_matrix(y, pred))
    assert matrix.labels == ("a", "b", "c", "d")
    assert matrix.recall() == pytest.approx(metrics.recall_score(y, pred, average=None))
    assert ConfusionMatrix.from_dict(matrix.to_dict()) == matrix


def test_confusion_matrix_keeps_absent_classes() -> None:
    matrix = confusion_matrix([0, 0], [0, 0], n_classes=3)
    assert matrix.counts == ((2, 0, 0), (0, 0, 0), (0, 0, 0))
    assert matrix.labels == ("0", "1", "2")
    assert confusion_matrix([0, 1], [2, 1]).counts == ((0, 0, 1), (0, 1, 0), (0, 0, 0))
    labels = np.array(["low", "high"])  # arrays of labels work as well as lists
    assert confusion_matrix([0, 1], [1, 1], class_labels=labels).labels == ("low", "high")
    with pytest.raises(ValidationError, match="class_labels has 2 labels"):
        confusion_matrix([0, 1, 2], [0, 1, 2], n_classes=3, class_labels=["x", "y"])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_bins_equal_sklearn(cancer: Holdout, strategy: str) -> None:
    curve = calibration_curve(cancer.y, cancer.proba, n_bins=8, strategy=strategy)
    observed, predicted = calibration.calibration_curve(
        cancer.y, cancer.proba, n_bins=8, strategy=strategy
    )
    assert [b.observed_rate for b in curve.bins] == pytest.approx(observed, rel=1e-12)
    assert [b.mean_predicted for b in curve.bins] == pytest.approx(predicted, rel=1e-12)
    assert sum(b.count for b in curve.bins) == len(cancer.y)


def test_ece_is_small_for_calibrated_and_large_for_overconfident_probabilities() -> None:
    rng = np.random.default_rng(0)
    proba = rng.random(20_000)
    y = (rng.random(20_000) < proba).astype(int)  # calibrated by construction
    calibrated = calibration_curve(y, proba)
    assert calibrated.ece < 0.015 and calibrated.kind == "positive"
    overconfident = calibration_curve(y, np.clip((proba - 0.5) * 3 + 0.5, 0, 1))
    assert overconfident.ece > 0.1
    expected = sum(b.count * abs(b.mean_predicted - b.observed_rate) for b in calibrated.bins)
    assert calibrated.ece == pytest.approx(expected / 20_000, rel=1e-12)
    assert Calibration.from_dict(calibrated.to_dict()) == calibrated


def test_calibration_of_a_constant_prediction() -> None:
    curve = calibration_curve([0, 1, 1, 1], [0.7] * 4, strategy="quantile")
    assert [(b.lower, b.upper, b.count, b.observed_rate) for b in curve.bins] == [
        (0.7, 0.7, 4, 0.75)
    ]
    assert curve.ece == pytest.approx(0.05)


def test_multiclass_calibration_is_top_label() -> None:
    y, p = multiclass_case(1, 500, 3)
    curve = calibration_curve(y, p, n_bins=5)
    assert curve.kind == "top_label"
    correct = p.argmax(axis=1) == y
    assert sum(b.observed_rate * b.count for b in curve.bins) == pytest.approx(correct.sum())


@pytest.mark.parametrize(("seed", "decimals"), [(0, 2), (1, 1), (2, None)])
def test_thresholds_match_brute_force(seed: int, decimals: int | None) -> None:
    y, p = binary_case(seed, 400, decimals=decimals)
    choice = choose_threshold(y, p)
    candidates = np.unique(p)
    f1 = np.array([metrics.f1_score(y, p >= t) for t in candidates])
    tpr = np.array([metrics.recall_score(y, p >= t) for t in candidates])
    fpr = np.array([np.mean(p[y == 0] >= t) for t in candidates])
    assert choice.best_f1 == pytest.approx(f1.max(), rel=1e-12)
    assert metrics.f1_score(y, p >= choice.best_f1_threshold) == pytest.approx(f1.max())
    assert choice.best_f1_threshold == candidates[f1 == f1.max()].max()
    assert choice.youden_j == pytest.approx((tpr - fpr).max(), rel=1e-12)
    achieved = metrics.recall_score(y, p >= choice.youden_threshold) - np.mean(
        p[y == 0] >= choice.youden_threshold
    )
    assert achieved == pytest.approx(choice.youden_j)


def test_threshold_table_matches_sklearn(cancer: Holdout) -> None:
    choice = choose_threshold(cancer.y, cancer.proba, grid=[0.1, 0.5, 0.9, 1.0])
    for row in choice.rows[:3]:
        decided = cancer.proba >= row.threshold
        assert row.precision == pytest.approx(metrics.precision_score(cancer.y, decided))
        assert row.recall == pytest.approx(metrics.recall_score(cancer.y, decided))
        assert row.f1 == pytest.approx(metrics.f1_score(cancer.y, decided))
        assert row.positive_rate == pytest.approx(decided.mean())
    nothing = choice.rows[3]  # no probability reaches 1.0 here
    assert nothing.recall == 0.0 and np.isnan(nothing.precision)
    data = choice.to_dict()  # NaN precision is written as null and read back as NaN
    assert data["rows"][3]["precision"] is None
    assert ThresholdChoice.from_dict(data).to_dict() == data


def test_thresholds_need_both_classes() -> None:
    with pytest.raises(ValidationError, match="only class 1"):
        choose_threshold([1, 1], [0.3, 0.9])


def test_curves_equal_sklearn_and_integrate_to_the_auc(cancer: Holdout) -> None:
    curves = binary_curves(cancer.y, cancer.proba, max_points=10_000)
    fpr, tpr, _ = metrics.roc_curve(cancer.y, cancer.proba, drop_intermediate=False)
    assert curves.false_positive_rate == pytest.approx(fpr)
    assert curves.true_positive_rate == pytest.approx(tpr)
    area = np.trapezoid(curves.true_positive_rate, curves.false_positive_rate)
    assert area == pytest.approx(metrics.roc_auc_score(cancer.y, cancer.proba), rel=1e-12)
    precision, recall, _ = metrics.precision_recall_curve(cancer.y, cancer.proba)
    assert curves.precision == pytest.approx(precision[::-1])
    assert curves.recall == pytest.approx(recall[::-1])


def test_curves_are_thinned_keeping_the_ends() -> None:
    y, p = binary_case(3, 5000)
    curves = binary_curves(y, p, max_points=50)
    assert len(curves.false_positive_rate) <= 51
    assert curves.false_positive_rate[0] == 0.0 and curves.false_positive_rate[-1] == 1.0
    assert curves.recall[-1] == 1.0
