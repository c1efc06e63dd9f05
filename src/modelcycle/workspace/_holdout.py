"""The holdout step of a training job: the evaluation report and the holdout predictions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.automl import AutoML
from modelcycle.core import Task
from modelcycle.evaluation import EvaluationReport, build_report

#: Most holdout rows the explanations read (permutation importance: one prediction per
#: feature and shuffle; contributions: TreeSHAP): a seeded sample of a larger holdout.
#: Metrics, intervals, slices, calibration and curves use every row.
EXPLAIN_ROWS = 20_000
#: Rows × resamples the bootstrap of the intervals draws at most (1,000 resamples up to
#: 20,000 holdout rows, fewer beyond, never under 100; beyond 200,000 rows each resample
#: draws 200,000 of them, see :func:`bootstrap_rows`).
BOOTSTRAP_CELLS = 20_000_000


def bootstrap_resamples(rows: int) -> int:
    """Resamples of the holdout's intervals: their cost goes with rows × resamples.

    Examples
    --------
    >>> bootstrap_resamples(5_000), bootstrap_resamples(100_000), bootstrap_resamples(10**7)
    (1000, 200, 100)
    """
    return int(min(1000, max(100, BOOTSTRAP_CELLS // max(rows, 1))))


def bootstrap_rows(rows: int) -> int | None:
    """Rows each resample draws: all of them up to 200,000, then 200,000 (``None``: all).

    With the 100 resamples of a large holdout, that keeps the bootstrap at
    :data:`BOOTSTRAP_CELLS`; the intervals are scaled to every row (an m-out-of-n
    bootstrap, :func:`~modelcycle.evaluation.bootstrap_intervals`).

    Examples
    --------
    >>> bootstrap_rows(150_000) is None, bootstrap_rows(2_000_000)
    (True, 200000)
    """
    most = BOOTSTRAP_CELLS // 100
    return None if rows <= most else most


def evaluate_holdout(
    automl: AutoML, test_frame: pd.DataFrame, target: str, title: str, facts: dict[str, Any]
) -> tuple[EvaluationReport, pd.DataFrame]:
    """The holdout report, and the holdout predictions monitoring calibrates against.

    Its cost must fit the few seconds a training job keeps after the search, whatever
    the holdout's size: the explanations read a seeded sample of at most
    :data:`EXPLAIN_ROWS` rows (the report says so) and the bootstrap draws fewer
    resamples of a large holdout (:func:`bootstrap_resamples`).
    """
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

    notes = [issue.message for issue in automl.validation_.warnings]
    explained = np.arange(len(inputs))
    if len(inputs) > EXPLAIN_ROWS:
        rng = np.random.default_rng(automl.random_state)
        explained = np.sort(rng.choice(len(inputs), EXPLAIN_ROWS, replace=False))
        notes.append(
            f"permutation importance and contributions are computed on a seeded sample of "
            f"{EXPLAIN_ROWS:,} of the {len(inputs):,} holdout rows"
        )
    sample = inputs.iloc[explained]
    contributions = pipeline.contributions(sample)
    if contributions is not None and contributions[0].ndim == 3:  # multiclass: (n, k, d + 1)
        contributions = (contributions[0].reshape(len(sample), -1), contributions[1])
    names = list(pre.feature_names_)
    report = build_report(
        automl.task_,
        y,
        output,
        frame=inputs,
        feature_names=names,
        class_labels=[str(c) for c in automl.classes_] if automl.classes_ else None,
        schema=automl.schema_,
        leaderboard=[
            {k: v for k, v in row.items() if k != "params"} for row in automl.leaderboard_[:25]
        ],
        dataset={**facts, "test_rows": len(test_frame)},
        notes=notes,
        title=title,
        n_boot=bootstrap_resamples(len(inputs)),
        resample_rows=bootstrap_rows(len(inputs)),
    )
    explanations = build_report(
        automl.task_,
        y[explained],
        output[explained],
        X=pre.transform(sample),
        feature_names=names,
        predict_fn=predict_fn,
        contributions=contributions[0] if contributions and contributions[1] == names else None,
        n_boot=0,
        n_repeats=3,
    )
    report = replace(
        report, importance=explanations.importance, contributions=explanations.contributions
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
    The bootstrap draws fewer resamples on a large holdout (:func:`bootstrap_resamples`),
    of fewer rows each beyond 200,000 (:func:`bootstrap_rows`).
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
        n_boot=bootstrap_resamples(len(y)),
        resample_rows=bootstrap_rows(len(y)),
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
