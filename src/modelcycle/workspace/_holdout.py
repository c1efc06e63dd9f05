"""The holdout step of a training job: the evaluation report and the holdout predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelcycle.automl import AutoML
from modelcycle.core import Task
from modelcycle.evaluation import EvaluationReport, build_report


def evaluate_holdout(
    automl: AutoML, test_frame: pd.DataFrame, target: str, title: str, facts: dict[str, Any]
) -> tuple[EvaluationReport, pd.DataFrame]:
    """The holdout report, and the holdout predictions monitoring calibrates against."""
    pipeline = automl.pipeline_
    inputs = test_frame.drop(columns=[target])
    y_raw = test_frame[target]
    if automl.task_ is Task.REGRESSION:
        y = np.asarray(y_raw, dtype=float)
        output = pipeline.predict_values(inputs)
    else:
        y = np.asarray(pd.Categorical(y_raw, categories=automl.classes_).codes)
        output = pipeline.predict_proba(inputs)
    best = max(pipeline.members, key=lambda m: m.weight)
    pre = pipeline.preprocessors[best.preprocessor]

    def predict_fn(x: np.ndarray) -> np.ndarray:
        if automl.task_ is Task.REGRESSION:
            return np.asarray(best.learner.predict(x), dtype=float)
        return best.learner.predict_proba(x)

    contributions = pipeline.contributions(inputs)
    if contributions is not None and contributions[0].ndim == 3:  # multiclass: (n, k, d + 1)
        contributions = (contributions[0].reshape(len(inputs), -1), contributions[1])
    report = build_report(
        automl.task_,
        y,
        output,
        frame=inputs,
        X=pre.transform(inputs),
        feature_names=list(pre.feature_names_),
        predict_fn=predict_fn,
        contributions=contributions[0]
        if contributions and contributions[1] == list(pre.feature_names_)
        else None,
        class_labels=[str(c) for c in automl.classes_] if automl.classes_ else None,
        schema=automl.schema_,
        leaderboard=[
            {k: v for k, v in row.items() if k != "params"} for row in automl.leaderboard_[:25]
        ],
        dataset={**facts, "test_rows": len(test_frame)},
        notes=[issue.message for issue in automl.validation_.warnings],
        title=title,
        n_repeats=3,
    )
    return report, holdout_frame(automl.task_, y, output)


def evaluate_predictions(
    automl: AutoML,
    y: np.ndarray,
    output: np.ndarray,
    classes: list[Any] | None,
    title: str,
    facts: dict[str, Any],
) -> tuple[EvaluationReport, pd.DataFrame]:
    """The holdout report from predictions alone (made elsewhere: on a cluster's workers).

    Metrics, intervals and diagnostics are those of a local report; what needs the
    holdout's rows (worst slices, permutation importance, contributions) is left out.
    The bootstrap draws fewer resamples on a large holdout.
    """
    report = build_report(
        automl.task_,
        y,
        output,
        class_labels=[str(c) for c in classes] if classes else None,
        schema=automl.schema_,
        leaderboard=[
            {k: v for k, v in row.items() if k != "params"} for row in automl.leaderboard_[:25]
        ],
        dataset={**facts, "test_rows": len(y)},
        notes=[issue.message for issue in automl.validation_.warnings],
        title=title,
        n_boot=1000 if len(y) <= 100_000 else 100,
    )
    return report, holdout_frame(automl.task_, y, output)


def holdout_frame(task: Task, y: np.ndarray, output: np.ndarray) -> pd.DataFrame:
    """``y`` and ``proba_0 .. proba_{k-1}`` (or ``prediction`` for regression) per holdout row."""
    if task is Task.REGRESSION:
        return pd.DataFrame({"y": y, "prediction": np.asarray(output, dtype=float)})
    proba = np.asarray(output, dtype=float)
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    columns = {f"proba_{c}": proba[:, c] for c in range(proba.shape[1])}
    return pd.DataFrame({"y": np.asarray(y, dtype=np.int64), **columns})
