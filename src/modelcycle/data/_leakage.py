"""Leakage suspects: single features that predict the target almost perfectly on a holdout.

A feature computed from the label (a refund flag for churn, a diagnosis code for the
diagnosis) lets a model score perfectly in validation and fail in production. Each
feature is scored on its own: numbers, dates and booleans by a shallow decision tree
(depth 3 for classes; depth 8 for regression, so a copy of a continuous target can
reach R² near 1), categories by their training-split target mean (or most frequent
class); the score
is ROC AUC for binary tasks, balanced accuracy for multiclass and R² for regression,
measured on a 30% holdout of at most ``max_rows`` sampled rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from modelcycle.core import Column, ColumnKind, Task
from modelcycle.data._values import datetimes_as_float, is_datetime, is_number, parse_numbers

_ORDERED = {ColumnKind.NUMERIC, ColumnKind.INTEGER, ColumnKind.DATETIME}
_LOOKUP = {ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN}
_HOLDOUT = 0.3
_CLASSIFIER_DEPTH = 3
_REGRESSOR_DEPTH = 8


@dataclass(frozen=True, slots=True)
class LeakageScore:
    """How well one feature alone predicts the target on the holdout."""

    column: str
    score: float
    metric: str


def leakage_scores(
    df: pd.DataFrame,
    features: list[Column],
    target: pd.Series,
    task: Task,
    *,
    max_rows: int = 20_000,
    random_state: int = 0,
) -> list[LeakageScore]:
    """Score every numeric, datetime, boolean and categorical feature on its own.

    ``target`` must have no missing values and share ``df``'s index.
    """
    y = _encode_target(target, task)
    rows = _sample(len(y), max_rows, random_state)
    train, test = _holdout(y[rows], rows, task, random_state)
    if train is None or test is None:
        return []
    scores = []
    for column in features:
        x = _encode_feature(df[column.name], column.kind)
        if x is None:
            continue
        score = _score(x, y, train, test, task, column.kind in _ORDERED or is_number_like(x))
        if score is not None:
            scores.append(LeakageScore(column.name, score, _METRICS[task]))
    return scores


_METRICS = {Task.BINARY: "roc_auc", Task.MULTICLASS: "balanced_accuracy", Task.REGRESSION: "r2"}


def is_number_like(x: np.ndarray) -> bool:
    """Whether an encoded feature is ordered numbers (else it holds category codes)."""
    return bool(x.dtype.kind == "f")


def _encode_target(target: pd.Series, task: Task) -> np.ndarray:
    if task is Task.REGRESSION:
        return np.asarray(target, dtype=np.float64)
    codes, _ = pd.factorize(target.astype(str), sort=True)
    return np.asarray(codes, dtype=np.int64)


def _sample(rows: int, max_rows: int, random_state: int) -> np.ndarray:
    if rows <= max_rows:
        return np.arange(rows)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(rows, size=max_rows, replace=False))


def _holdout(
    y: np.ndarray, rows: np.ndarray, task: Task, random_state: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    stratify = None
    if task is not Task.REGRESSION:
        counts = np.bincount(y)
        stratify = y if counts[counts > 0].min() >= 2 else None
    from sklearn.model_selection import train_test_split  # heavy: import on use

    try:
        train, test = train_test_split(
            rows, test_size=_HOLDOUT, random_state=random_state, stratify=stratify
        )
    except ValueError:
        return None, None
    return np.sort(train), np.sort(test)


def _encode_feature(series: pd.Series, kind: ColumnKind) -> np.ndarray | None:
    """Floats for ordered values; int codes (-1 for missing) for categories; None to skip."""
    if kind in _ORDERED or (kind is ColumnKind.BOOLEAN and is_number(series)):
        if is_datetime(series):
            return datetimes_as_float(series)
        if is_number(series):
            return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
        if kind is not ColumnKind.DATETIME:
            return parse_numbers(series)
    if kind in _LOOKUP:
        codes, _ = pd.factorize(series.astype(str).where(series.notna()), sort=True)
        return np.asarray(codes, dtype=np.int64)
    return None


def _score(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, task: Task, ordered: bool
) -> float | None:
    if ordered:
        predicted = _tree_predictions(x, y, train, test, task)
    else:
        predicted = _lookup_predictions(x, y, train, test, task)
    from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score

    truth = y[test]
    if task is Task.BINARY:
        return float(roc_auc_score(truth, predicted)) if len(np.unique(truth)) == 2 else None
    if task is Task.MULTICLASS:
        return float(balanced_accuracy_score(truth, predicted))
    return float(r2_score(truth, predicted)) if np.ptp(truth) > 0 else None


def _tree_predictions(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, task: Task
) -> np.ndarray:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    # Trees see only the order of values: dense ranks keep it, keep NaN as missing, and
    # turn infinities and values beyond float32 (which scikit-learn refuses) into numbers.
    ranks = pd.Series(x).rank(method="dense").to_numpy(dtype=np.float64, na_value=np.nan)
    features = ranks.reshape(-1, 1)
    if task is Task.REGRESSION:
        regressor = DecisionTreeRegressor(max_depth=_REGRESSOR_DEPTH, random_state=0)
        regressor.fit(features[train], y[train])
        return np.asarray(regressor.predict(features[test]))
    classifier = DecisionTreeClassifier(max_depth=_CLASSIFIER_DEPTH, random_state=0)
    classifier.fit(features[train], y[train])
    if task is Task.BINARY:
        probabilities = classifier.predict_proba(features[test])
        return np.asarray(probabilities[:, -1])
    return np.asarray(classifier.predict(features[test]))


def _lookup_predictions(
    codes: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, task: Task
) -> np.ndarray:
    """Predict each holdout row from its category's training rows (unseen: the prior)."""
    frame = pd.DataFrame({"code": codes[train], "y": y[train]})
    if task is Task.MULTICLASS:
        table = frame.groupby("code")["y"].agg(lambda v: v.value_counts().idxmax())
        prior = float(np.bincount(y[train]).argmax())
    else:
        table = frame.groupby("code")["y"].mean()
        prior = float(y[train].mean())
    mapped = pd.Series(codes[test]).map(table).astype(np.float64).fillna(prior)
    if task is Task.MULTICLASS:
        return np.asarray(mapped, dtype=np.int64)
    return np.asarray(mapped, dtype=np.float64)
