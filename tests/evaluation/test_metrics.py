"""Metrics equal scikit-learn's; bootstrap intervals are exact resamples, seeded and fast."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation import (
    METRIC_TABLE,
    METRICS,
    bootstrap_intervals,
    default_metric,
    greater_is_better,
    metric_spec,
    score,
)
from modelcycle.evaluation._inputs import prepare_output
from modelcycle.evaluation._metrics import metric_arrays
from tests.evaluation.conftest import Holdout
from tests.evaluation.helpers import binary_case, multiclass_case, regression_case

EXACT = 1e-12


def sklearn_binary(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = (p >= 0.5).astype(int)
    return {
        "roc_auc": metrics.roc_auc_score(y, p),
        "average_precision": metrics.average_precision_score(y, p),
        "log_loss": metrics.log_loss(y, p),
        "brier": metrics.brier_score_loss(y, p),
        "accuracy": metrics.accuracy_score(y, pred),
        "f1": metrics.f1_score(y, pred),
        "precision": metrics.precision_score(y, pred, zero_division=0),
        "recall": metrics.recall_score(y, pred, zero_division=0),
    }


def sklearn_multiclass(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = p.argmax(axis=1)
    return {
        "log_loss": metrics.log_loss(y, p),
        "roc_auc": metrics.roc_auc_score(y, p, multi_class="ovr", average="macro"),
        "accuracy": metrics.accuracy_score(y, pred),
        "f1_macro": metrics.f1_score(y, pred, average="macro"),
    }


def sklearn_regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "rmse": metrics.root_mean_squared_error(y, pred),
        "mae": metrics.mean_absolute_error(y, pred),
        "r2": metrics.r2_score(y, pred),
    }


@pytest.mark.parametrize(
    ("seed", "n", "decimals"), [(0, 20, None), (1, 157, None), (2, 500, 1), (3, 1000, 2), (4, 9, 0)]
)
def test_binary_metrics_equal_sklearn_with_and_without_ties(
    seed: int, n: int, decimals: int | None
) -> None:
    y, p = binary_case(seed, n, decimals=decimals)
    expected = sklearn_binary(y, p)
    assert score("binary", y, proba=p) == pytest.approx(expected, rel=EXACT, abs=EXACT)


def test_binary_metrics_on_real_data_equal_sklearn(cancer: Holdout) -> None:
    expected = sklearn_binary(cancer.y, cancer.proba)
    assert score(Task.BINARY, cancer.y, proba=cancer.proba) == pytest.approx(expected, rel=EXACT)
    two_columns = np.column_stack([1 - cancer.proba, cancer.proba])
    assert score("binary", cancer.y, proba=two_columns) == score(
        "binary", cancer.y, proba=cancer.proba
    )


@pytest.mark.parametrize(("seed", "n", "k"), [(0, 60, 3), (1, 400, 4), (2, 1000, 6)])
def test_multiclass_metrics_equal_sklearn(seed: int, n: int, k: int) -> None:
    y, p = multiclass_case(seed, n, k)
    assert score("multiclass", y, proba=p) == pytest.approx(sklearn_multiclass(y, p), rel=EXACT)


@pytest.mark.parametrize(("seed", "n"), [(0, 10), (1, 300), (2, 5000)])
def test_regression_metrics_equal_sklearn(seed: int, n: int) -> None:
    y, pred = regression_case(seed, n)
    assert score("regression", y, y_pred=pred) == pytest.approx(
        sklearn_regression(y, pred), rel=1e-9
    )


def test_hard_predictions_give_the_metrics_they_can() -> None:
    y, p = multiclass_case(5, 200, 3)
    pred = p.argmax(axis=1)
    pred[:5] = 2  # make sure y_pred, not proba, is used
    got = score("multiclass", y, y_pred=pred)
    assert set(got) == {"accuracy", "f1_macro"}
    assert got["f1_macro"] == pytest.approx(metrics.f1_score(y, pred, average="macro"), rel=EXACT)


def test_macro_f1_averages_over_labels_seen_like_sklearn() -> None:
    y, pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])  # class 2 of 3 never appears
    got = score("multiclass", y, y_pred=pred, n_classes=3)["f1_macro"]
    assert got == pytest.approx(metrics.f1_score(y, pred, average="macro"), rel=EXACT)


def test_ranking_metrics_are_nan_with_one_class() -> None:
    got = score("binary", [1, 1, 1], proba=[0.2, 0.5, 0.9])
    assert np.isnan(got["roc_auc"]) and np.isnan(got["average_precision"])
    assert got["accuracy"] == pytest.approx(2 / 3)


def test_the_metric_table_gives_defaults_directions_and_checks_names() -> None:
    assert [default_metric(t) for t in Task] == ["roc_auc", "log_loss", "rmse"]
    for task, names in METRICS.items():
        assert names[0] == default_metric(task)
        assert set(names) == {s.name for s in METRIC_TABLE.values() if task in s.tasks}
    assert greater_is_better("f1_macro") and not greater_is_better("log_loss")
    assert greater_is_better("test_roc_auc") and not greater_is_better("cv_rmse")
    assert not greater_is_better("my_validation_loss") and greater_is_better("my_score")
    with pytest.raises(ValidationError, match="'auc' is not known"):
        metric_spec("auc")
    with pytest.raises(ValidationError, match="'rmse' is not defined for binary models"):
        metric_spec("rmse", Task.BINARY)


def test_every_metric_of_a_task_is_computed_by_score() -> None:
    """The table and the implementation cannot drift apart."""
    inputs = {
        Task.BINARY: {"y_true": [0, 1, 1, 0], "proba": [0.2, 0.7, 0.6, 0.4]},
        Task.MULTICLASS: {"y_true": [0, 1, 2, 1], "proba": np.eye(3)[[0, 1, 2, 0]] * 0.7 + 0.1},
        Task.REGRESSION: {"y_true": [1.0, 2.0, 3.0], "y_pred": [1.5, 2.0, 2.5]},
    }
    for task, kwargs in inputs.items():
        assert set(score(task, **kwargs)) == set(METRICS[task])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "ranking", "y_true": [0], "proba": [0.5]}, "task 'ranking' is not known"),
        ({"task": "binary", "y_true": [0, 1]}, "needs proba or y_pred"),
        ({"task": "binary", "y_true": [0, 2], "proba": [0.1, 0.9]}, "row 1 is 2.0"),
        ({"task": "binary", "y_true": [0, 1], "proba": [0.1, 1.2]}, r"in \[0, 1\]"),
        ({"task": "binary", "y_true": [0, 1], "proba": [0.1]}, "1 rows but y_true has 2"),
        ({"task": "regression", "y_true": [1.0, np.nan], "y_pred": [1, 2]}, "row 1 is nan"),
        ({"task": "regression", "y_true": [1.0], "proba": [0.5]}, "takes y_pred, not proba"),
        ({"task": "multiclass", "y_true": [0, 1], "proba": [0.2, 0.8]}, r"\(n, k\)"),
    ],
)
def test_bad_inputs_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        score(**kwargs)  # type: ignore[arg-type]


def test_weighted_metrics_equal_sklearn_on_the_resampled_rows() -> None:
    """A bootstrap resample as row weights gives the same numbers as the resampled arrays."""
    rng = np.random.default_rng(7)
    cases = [
        ("binary", *binary_case(8, 120, decimals=1), sklearn_binary),
        ("multiclass", *multiclass_case(9, 150, 3), sklearn_multiclass),
        ("regression", *regression_case(10, 90), sklearn_regression),
    ]
    for task, y, output, reference in cases:
        draws = rng.integers(0, len(y), size=(5, len(y)))
        weights = np.stack([np.bincount(d, minlength=len(y)) for d in draws]).astype(float)
        got = metric_arrays(prepare_output(task, y, output), weights)
        for row, draw in enumerate(draws):
            expected = reference(y[draw], output[draw])
            assert {k: v[row] for k, v in got.items()} == pytest.approx(expected, rel=1e-9)


def test_bootstrap_interval_contains_the_estimate_and_is_seeded(cancer: Holdout) -> None:
    point = score("binary", cancer.y, proba=cancer.proba)
    intervals = bootstrap_intervals("binary", cancer.y, cancer.proba, n_boot=500, random_state=3)
    assert set(intervals) == set(point)
    for name, (low, high) in intervals.items():
        assert low <= point[name] <= high, name
    again = bootstrap_intervals("binary", cancer.y, cancer.proba, n_boot=500, random_state=3)
    other = bootstrap_intervals("binary", cancer.y, cancer.proba, n_boot=500, random_state=4)
    assert again == intervals and other != intervals


def test_bootstrap_does_not_depend_on_row_order() -> None:
    y, p = binary_case(11, 300, decimals=2)
    order = np.random.default_rng(0).permutation(len(y))
    assert bootstrap_intervals("binary", y, p) == bootstrap_intervals("binary", y[order], p[order])


def test_bootstrap_narrows_with_lower_confidence_and_covers_the_known_value() -> None:
    y, p = binary_case(12, 2000)
    wide = bootstrap_intervals("binary", y, p, confidence=0.99)["roc_auc"]
    narrow = bootstrap_intervals("binary", y, p, confidence=0.5)["roc_auc"]
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    assert wide[1] - wide[0] < 0.06


def test_bootstrap_skips_resamples_with_one_class() -> None:
    y = np.zeros(30)
    y[20] = 1  # a third of the resamples draw no positive
    p = np.linspace(0.0, 1.0, 30)
    low, high = bootstrap_intervals("binary", y, p, n_boot=300)["roc_auc"]
    assert np.isfinite([low, high]).all() and low <= 20 / 29 <= high
    assert np.isnan(bootstrap_intervals("binary", np.ones(5), p[:5], n_boot=50)["roc_auc"]).all()


def test_bootstrap_covers_every_task() -> None:
    y, p = multiclass_case(13, 300, 4)
    assert set(bootstrap_intervals("multiclass", y, p, n_boot=200)) == set(METRICS[Task.MULTICLASS])
    y, pred = regression_case(14, 300)
    rmse = bootstrap_intervals("regression", y, pred, n_boot=200)["rmse"]
    assert rmse[0] < score("regression", y, pred)["rmse"] < rmse[1]


def test_bootstrap_checks_its_arguments() -> None:
    with pytest.raises(ValidationError, match="n_boot >= 1"):
        bootstrap_intervals("binary", [0, 1], [0.2, 0.8], n_boot=0)
    with pytest.raises(ValidationError, match="0 < confidence < 1"):
        bootstrap_intervals("binary", [0, 1], [0.2, 0.8], confidence=95)


@pytest.mark.parametrize(
    ("task", "case"),
    [
        ("binary", lambda: binary_case(21, 20_000)),
        ("multiclass", lambda: multiclass_case(22, 20_000, 3)),
        ("regression", lambda: regression_case(23, 20_000)),
    ],
)
def test_resamples_of_fewer_rows_give_the_intervals_of_all_rows(task: str, case: Any) -> None:
    y, output = case()
    full = bootstrap_intervals(task, y, output, n_boot=400, random_state=1)
    drawn = bootstrap_intervals(task, y, output, n_boot=400, random_state=1, resample_rows=2_000)
    point = score(task, y, **({"y_pred": output} if task == "regression" else {"proba": output}))
    assert set(drawn) == set(full)
    for name, (low, high) in drawn.items():
        assert low <= point[name] <= high, name
        # scaled by sqrt(m / n), the spread of 2,000-row resamples is that of 20,000 rows
        # (unscaled it would be sqrt(10) = 3.2 times as wide)
        width, expected = high - low, full[name][1] - full[name][0]
        assert width == pytest.approx(expected, rel=0.3), name


def test_resample_rows_of_at_least_every_row_is_the_plain_bootstrap() -> None:
    y, p = binary_case(24, 500)
    plain = bootstrap_intervals("binary", y, p, n_boot=100)
    assert bootstrap_intervals("binary", y, p, n_boot=100, resample_rows=500) == plain
    assert bootstrap_intervals("binary", y, p, n_boot=100, resample_rows=10**6) == plain
    assert bootstrap_intervals("binary", y, p, n_boot=100, resample_rows=np.int64(500)) == plain


@pytest.mark.parametrize("rows", [0, -5, True, 2.5, 100.0, "10", np.float64(3)])
def test_resample_rows_must_be_a_positive_number(rows: Any) -> None:
    with pytest.raises(ValidationError, match="resample_rows must be a positive whole number"):
        bootstrap_intervals("binary", [0, 1], [0.2, 0.8], resample_rows=rows)
