"""AutoML: folds, ensemble selection, the search, and the errors users can cause."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

from modelcycle.automl import AutoML, SearchMetric, plan_folds, select_ensemble
from modelcycle.core import Task, ValidationError


def test_folds_follow_data_size_and_stratify() -> None:
    y = np.array([0] * 90 + [1] * 10)
    folds = plan_folds(y, Task.BINARY, random_state=0)
    assert len(folds) == 5
    assert all(y[valid].sum() == 2 for _, valid in folds)  # 10 positives spread evenly
    covered = np.sort(np.concatenate([valid for _, valid in folds]))
    assert np.array_equal(covered, np.arange(100))
    assert len(plan_folds(np.zeros(20_000), Task.REGRESSION, random_state=0)) == 3
    assert len(plan_folds(np.zeros(50_001), Task.REGRESSION, random_state=0)) == 1
    ((train, valid),) = plan_folds(np.arange(100_001) % 2, Task.BINARY, random_state=0)
    assert len(valid) == 20_001 and len(np.intersect1d(train, valid)) == 0


def test_ensemble_selection_blends_complementary_models() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    noise_a, noise_b = rng.normal(size=400), rng.normal(size=400)
    good_a, good_b, bad = y + noise_a, y + noise_b, y + 3 * rng.normal(size=400)
    mse = lambda t, p: float(np.mean((t - p) ** 2))  # noqa: E731
    weights, loss = select_ensemble([good_a, bad, good_b], y, mse)
    assert set(weights) == {0, 2} and sum(weights.values()) == pytest.approx(1.0)
    assert loss < min(mse(y, good_a), mse(y, good_b))
    assert select_ensemble([good_a], y, mse)[0] == {0: 1.0}


def test_search_metric_directions() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    auc = SearchMetric.for_task(Task.BINARY)
    assert auc.name == "roc_auc" and auc.loss(y, proba) == -1.0
    assert SearchMetric.for_task(Task.MULTICLASS).name == "log_loss"
    with pytest.raises(ValidationError, match="metric 'r2' is not defined for binary models"):
        SearchMetric.for_task(Task.BINARY, "r2")


@pytest.mark.slow
def test_binary_search_finds_a_good_pipeline() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame["target"])
    seen = []
    model = AutoML(budget=8, random_state=0, on_trial=lambda r, best: seen.append(r)).fit(
        train, "target"
    )
    assert model.task_ is Task.BINARY and model.classes_ == [0, 1]
    assert len(seen) == len(model.results_) >= 3
    assert seen[0].learner == "lightgbm" and seen[0].source == "portfolio"
    proba = model.predict_proba(test.drop(columns="target"))
    assert proba.shape == (len(test), 2) and np.allclose(proba.sum(axis=1), 1)
    assert roc_auc_score(test["target"], proba[:, 1]) > 0.97
    board = model.leaderboard_
    assert board[0]["status"] == "COMPLETE" and board[0]["roc_auc"] == max(
        r["roc_auc"] for r in board if r["status"] == "COMPLETE"
    )


@pytest.mark.slow
def test_regression_with_categoricals_and_labels() -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    frame = x.assign(sex=np.where(x["sex"] > 0, "m", "f"), target=y)
    model = AutoML(budget=6, learners=["lightgbm", "linear"]).fit(frame, "target")
    assert model.task_ is Task.REGRESSION and model.classes_ is None
    assert r2_score(frame["target"], model.predict(frame.drop(columns="target"))) > 0.4
    rows = frame.drop(columns="target").head(3).to_dict("records")
    assert np.allclose(model.predict(rows), model.predict(frame.drop(columns="target").head(3)))


@pytest.mark.parametrize(
    ("kwargs", "target", "message"),
    [
        ({}, "missing", "target column 'missing' is not in the data"),
        ({"budget": 0}, "y", "budget 0 is not valid"),
        ({"learners": ["svm"]}, "y", r"learners \['svm'\] cannot do binary"),
        ({"metric": "r2"}, "y", "metric 'r2' is not defined for binary models"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], target: str, message: str) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "y": rng.integers(0, 2, 200)})
    with pytest.raises(ValidationError, match=message):
        AutoML(**kwargs).fit(frame, target)  # type: ignore[arg-type]


def test_one_class_target_is_refused_before_searching() -> None:
    frame = pd.DataFrame({"a": np.arange(100.0), "y": ["yes"] * 100})
    with pytest.raises(ValidationError, match="'y'"):
        AutoML(budget=5).fit(frame, "y")
