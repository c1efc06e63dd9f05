"""One call from holdout predictions to a complete :class:`EvaluationReport`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from modelcycle.core import Schema, Task, ValidationError
from modelcycle.evaluation._classification import (
    binary_curves,
    calibration_curve,
    choose_threshold,
    confusion_matrix,
)
from modelcycle.evaluation._importance import (
    ContributionSummary,
    PermutationImportance,
    PredictFn,
    permutation_importance,
    summarise_contributions,
)
from modelcycle.evaluation._inputs import Outcome, check_class_labels, prepare_output
from modelcycle.evaluation._metrics import bootstrap_intervals, score
from modelcycle.evaluation._regression import residual_summary
from modelcycle.evaluation._report import EvaluationReport
from modelcycle.evaluation._slices import Slice, row_errors, worst_slices

#: Holdouts smaller than this get a note that their intervals are wide.
_SMALL_HOLDOUT = 200


@dataclass(frozen=True, slots=True)
class _Options:
    n_boot: int
    resample_rows: int | None
    confidence: float
    random_state: int
    slice_loss: str
    n_repeats: int
    top_k_slices: int


def build_report(
    task: Task | str,
    y_true: ArrayLike,
    proba_or_pred: ArrayLike,
    *,
    frame: pd.DataFrame | None = None,
    X: ArrayLike | None = None,
    feature_names: Sequence[str] | None = None,
    predict_fn: PredictFn | None = None,
    contributions: ArrayLike | None = None,
    class_labels: Sequence[object] | None = None,
    schema: Schema | None = None,
    leaderboard: Sequence[Mapping[str, Any]] = (),
    dataset: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    title: str = "Evaluation report",
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
    slice_loss: str = "auto",
    resample_rows: int | None = None,
    n_repeats: int = 5,
    top_k_slices: int = 10,
) -> EvaluationReport:
    """Evaluate holdout predictions: metrics, intervals, diagnostics, slices, importance.

    Parameters
    ----------
    task:
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    y_true:
        Holdout targets: class codes ``0..k-1`` or values.
    proba_or_pred:
        Probabilities (classification: ``(n,)``/``(n, 2)`` binary, ``(n, k)``
        multiclass) or predictions (regression).
    frame:
        Raw holdout features, one row per target, for the worst-slice analysis.
    X, feature_names:
        The model's numeric inputs and their names, for permutation importance and
        contributions. ``X`` defaults to ``frame`` when every column is numeric.
    predict_fn:
        Maps ``X``-shaped arrays to ``proba_or_pred``-shaped output; enables
        permutation importance.
    contributions:
        LightGBM ``pred_contrib`` output for the holdout, summarised per feature.
    class_labels:
        Display names of the class codes.
    schema:
        Column kinds for the slice analysis.
    leaderboard, dataset, notes, title:
        Shown in the report as given (``dataset`` is merged over computed facts).
    n_boot, confidence:
        Bootstrap resamples (0 skips the intervals) and their coverage.
    resample_rows:
        Rows each resample draws when fewer than the holdout's (an m-out-of-n bootstrap,
        see :func:`bootstrap_intervals`; the report notes it).
    random_state:
        Seed of the bootstrap, the residual sample and the shuffles.
    slice_loss:
        Per-row error of the slice analysis (see :func:`row_errors`).
    n_repeats:
        Shuffles per feature in permutation importance.
    top_k_slices:
        Number of slices reported.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> proba = np.clip(0.35 * y + 0.65 * rng.random(300), 0, 1)
    >>> frame = pd.DataFrame({"age": rng.integers(18, 80, 300)})
    >>> report = build_report("binary", y, proba, frame=frame, n_boot=200)
    >>> round(report.metrics["roc_auc"], 3), report.thresholds is not None
    (0.881, True)
    """
    outcome = prepare_output(task, y_true, proba_or_pred)
    options = _Options(
        n_boot, resample_rows, confidence, random_state, slice_loss, n_repeats, top_k_slices
    )
    labels = check_class_labels(class_labels, outcome.n_classes) if outcome.n_classes else ()
    names, matrix = _model_inputs(frame, X, feature_names)
    warnings: list[str] = []
    parts = _task_parts(outcome, labels, warnings, options)
    return EvaluationReport(
        task=outcome.task,
        metrics=_metrics(outcome),
        intervals=_intervals(outcome, proba_or_pred, options),
        confidence=confidence,
        n_boot=n_boot,
        class_labels=labels,
        slices=_slices(outcome, proba_or_pred, frame, schema, options),
        importance=_importance(outcome, y_true, predict_fn, matrix, names, options),
        contributions=_contributions(contributions, names),
        leaderboard=tuple(dict(row) for row in leaderboard),
        dataset={**_dataset_facts(outcome, names), **(dataset or {})},
        notes=(*notes, *_holdout_notes(outcome), *_bootstrap_notes(outcome, options), *warnings),
        title=title,
        **parts,
    )


def _bootstrap_notes(outcome: Outcome, options: _Options) -> list[str]:
    m = options.resample_rows
    if not options.n_boot or m is None or m >= outcome.n_rows:
        return []
    return [
        f"intervals: {options.n_boot} resamples of {m:,} of the {outcome.n_rows:,} rows each, "
        "their spread scaled to all the rows (m-out-of-n bootstrap)"
    ]


def _metrics(outcome: Outcome) -> dict[str, float]:
    if outcome.task is Task.REGRESSION:
        return score(outcome.task, outcome.y, y_pred=outcome.pred)
    return score(outcome.task, outcome.y, proba=outcome.proba)


def _intervals(
    outcome: Outcome, output: ArrayLike, options: _Options
) -> dict[str, tuple[float, float]]:
    if options.n_boot == 0:
        return {}
    return bootstrap_intervals(
        outcome.task,
        outcome.y,
        output,
        n_boot=options.n_boot,
        confidence=options.confidence,
        random_state=options.random_state,
        resample_rows=options.resample_rows,
    )


def _task_parts(
    outcome: Outcome, labels: tuple[str, ...], warnings: list[str], options: _Options
) -> dict[str, Any]:
    if outcome.task is Task.REGRESSION:
        residuals = residual_summary(outcome.y, outcome.pred, random_state=options.random_state)
        return {"residuals": residuals}
    proba = outcome.proba
    assert proba is not None  # prepare_output reads classification output as probabilities
    parts: dict[str, Any] = {
        "confusion": confusion_matrix(
            outcome.y, outcome.pred, n_classes=outcome.n_classes, class_labels=labels
        ),
        "calibration": calibration_curve(outcome.y, proba),
    }
    if outcome.task is Task.BINARY and np.unique(outcome.y).size == 2:
        parts["thresholds"] = choose_threshold(outcome.y, proba)
        parts["curves"] = binary_curves(outcome.y, proba)
    elif outcome.task is Task.BINARY:
        warnings.append("the holdout has one class only; no ROC, PR curves or thresholds")
    return parts


def _slices(
    outcome: Outcome,
    output: ArrayLike,
    frame: pd.DataFrame | None,
    schema: Schema | None,
    options: _Options,
) -> tuple[Slice, ...]:
    if frame is None:
        return ()
    errors = row_errors(outcome.task, outcome.y, output, loss=options.slice_loss)
    found = worst_slices(frame, errors, schema=schema, top_k=options.top_k_slices)
    return tuple(found)


def _model_inputs(
    frame: pd.DataFrame | None, X: ArrayLike | None, feature_names: Sequence[str] | None
) -> tuple[list[str], np.ndarray[Any, Any] | None]:
    """Names and values of the model's inputs: ``X`` if given, else an all-numeric frame."""
    if X is not None:
        matrix = np.asarray(X, dtype=np.float64)
        width = matrix.shape[1] if matrix.ndim == 2 else 0
        return list(feature_names or [f"x{j}" for j in range(width)]), matrix
    if frame is None:
        return list(feature_names or []), None
    names = list(feature_names or [str(c) for c in frame.columns])
    if all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns):
        return names, frame.to_numpy(dtype=np.float64)
    return names, None


def _importance(
    outcome: Outcome,
    y_true: ArrayLike,
    predict_fn: PredictFn | None,
    matrix: np.ndarray[Any, Any] | None,
    names: list[str],
    options: _Options,
) -> PermutationImportance | None:
    if predict_fn is None:
        return None
    if matrix is None:
        raise ValidationError(
            "permutation importance needs the model's numeric inputs; pass X (and "
            "feature_names) or a frame whose columns are all numeric"
        )
    return permutation_importance(
        predict_fn,
        matrix,
        y_true,
        outcome.task,
        feature_names=names,
        n_repeats=options.n_repeats,
        random_state=options.random_state,
    )


def _contributions(contributions: ArrayLike | None, names: list[str]) -> ContributionSummary | None:
    if contributions is None:
        return None
    if not names:
        raise ValidationError("summarising contributions needs feature_names (or X or a frame)")
    return summarise_contributions(contributions, names)


def _dataset_facts(outcome: Outcome, names: list[str]) -> dict[str, Any]:
    facts: dict[str, Any] = {"rows": outcome.n_rows}
    if names:
        facts["features"] = len(names)
    if outcome.task is Task.REGRESSION:
        facts["target_mean"] = float(outcome.y.mean())
        facts["target_std"] = float(outcome.y.std())
    else:
        counts = np.bincount(outcome.y.astype(np.int64), minlength=outcome.n_classes)
        facts["class_counts"] = [int(c) for c in counts]
    return facts


def _holdout_notes(outcome: Outcome) -> list[str]:
    if outcome.n_rows < _SMALL_HOLDOUT:
        return [
            f"the holdout has {outcome.n_rows} rows; metrics are uncertain, "
            "read them with their intervals"
        ]
    return []
