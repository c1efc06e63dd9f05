"""Holdout metrics and their bootstrap confidence intervals.

Every metric is computed from per-row *weights*: ``score`` uses weight one for
each row, and a bootstrap resample is the same computation with the number of
times each row was drawn as its weight. So a thousand resamples are a few matrix
products instead of a thousand library calls, and the point estimate and the
intervals come from one implementation (checked against scikit-learn in the tests).
ROC AUC is the Mann–Whitney statistic with ties counted half, which equals the
trapezoidal area under the ROC curve exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation._inputs import (
    FloatArray,
    IntArray,
    Outcome,
    prepare,
    prepare_output,
)
from modelcycle.evaluation._metric_table import metrics_for

#: Metrics computed for each task, its default first (from :data:`METRIC_TABLE`).
METRICS: Mapping[Task, tuple[str, ...]] = {
    task: tuple(spec.name for spec in metrics_for(task)) for task in Task
}
#: Most weights (resamples × rows) held in memory at once by the bootstrap.
_CHUNK_CELLS = 2_000_000


def score(
    task: Task | str,
    y_true: ArrayLike,
    y_pred: ArrayLike | None = None,
    proba: ArrayLike | None = None,
    *,
    n_classes: int | None = None,
) -> dict[str, float]:
    """Score holdout predictions with every metric of the task.

    Parameters
    ----------
    task:
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    y_true:
        Class codes ``0..k-1`` (classification) or targets (regression).
    y_pred:
        Predicted codes or values; for classification derived from ``proba``
        (threshold 0.5 or arg-max) when omitted.
    proba:
        Positive-class probability ``(n,)`` or ``(n, 2)`` (binary), class
        probabilities ``(n, k)`` (multiclass). Without it only accuracy and F1
        are computed for classification.
    n_classes:
        Number of classes of a multiclass task given only ``y_pred``.

    Returns
    -------
    dict
        Binary: ``roc_auc``, ``average_precision`` (PR AUC), ``log_loss``, ``brier``,
        ``accuracy``, ``f1``, ``precision``, ``recall``. Multiclass: ``log_loss``,
        ``roc_auc`` (one-vs-rest, macro), ``accuracy``, ``f1_macro``. Regression:
        ``rmse``, ``mae``, ``r2``.
        A metric that is undefined (ROC AUC with one class present) is NaN.

    Examples
    --------
    >>> metrics = score("binary", [0, 0, 1, 1], proba=[0.1, 0.6, 0.4, 0.9])
    >>> metrics["roc_auc"], metrics["accuracy"]
    (0.75, 0.5)
    >>> score("regression", [1.0, 2.0, 3.0], y_pred=[1.0, 2.0, 4.0])["mae"]
    0.3333333333333333
    """
    outcome = prepare(task, y_true, y_pred, proba, n_classes=n_classes)
    weights = np.ones((1, outcome.n_rows))
    return {name: float(values[0]) for name, values in metric_arrays(outcome, weights).items()}


def bootstrap_intervals(
    task: Task | str,
    y_true: ArrayLike,
    proba_or_pred: ArrayLike,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
    resample_rows: int | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap confidence intervals of every metric of :func:`score`.

    Rows are resampled with replacement ``n_boot`` times; a resample where a
    metric is undefined (ROC AUC or average precision with one class drawn) is
    skipped for that metric. A metric undefined in every resample gets
    ``(nan, nan)``.

    With ``resample_rows`` below the number of rows ``n``, each resample draws that
    many rows ``m`` (an m-out-of-n bootstrap): its deviation from the metric on all
    rows is scaled by ``sqrt(m / n)``, the ratio of the two sample sizes' spreads for
    the smooth metrics here, so the intervals are those of ``n`` rows at the cost of
    ``m`` per resample.

    Parameters
    ----------
    task, y_true:
        As in :func:`score`.
    proba_or_pred:
        Probabilities for classification (hard predictions are derived as in
        :func:`score`), predictions for regression.
    n_boot:
        Number of resamples.
    confidence:
        Coverage of each interval, in ``(0, 1)``.
    random_state:
        Seed; the same seed gives the same intervals.
    resample_rows:
        Rows each resample draws, when fewer than given (``None``: as many).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> p = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    >>> low, high = bootstrap_intervals("binary", y, p, n_boot=200)["roc_auc"]
    >>> bool(low < score("binary", y, proba=p)["roc_auc"] < high)
    True
    """
    if n_boot < 1 or not 0.0 < confidence < 1.0:
        raise ValidationError(
            f"bootstrap needs n_boot >= 1 and 0 < confidence < 1; got {n_boot}, {confidence}"
        )
    if resample_rows is not None and (
        isinstance(resample_rows, bool)
        or not isinstance(resample_rows, int | np.integer)
        or resample_rows < 1
    ):
        raise ValidationError(
            f"resample_rows must be a positive whole number of rows; got {resample_rows!r}"
        )
    outcome = _canonical(prepare_output(task, y_true, proba_or_pred))
    rng = np.random.default_rng(random_state)
    samples: dict[str, list[FloatArray]] = {}
    if resample_rows is not None and resample_rows < outcome.n_rows:
        whole = metric_arrays(outcome, np.ones((1, outcome.n_rows)))
        scale = np.sqrt(resample_rows / outcome.n_rows)
        for _ in range(n_boot):
            rows, counts = np.unique(
                rng.integers(0, outcome.n_rows, size=resample_rows), return_counts=True
            )
            drawn = _rows(outcome, rows)  # sorted rows: the canonical order holds
            for name, values in metric_arrays(drawn, counts[None, :].astype(np.float64)).items():
                centre = whole[name]
                samples.setdefault(name, []).append(centre + scale * (values - centre))
    else:
        for weights in _resample_weights(rng, n_boot, outcome.n_rows):
            for name, values in metric_arrays(outcome, weights).items():
                samples.setdefault(name, []).append(values)
    tail = (1.0 - confidence) / 2.0
    return {name: _interval(np.concatenate(parts), tail) for name, parts in samples.items()}


def metric_value(outcome: Outcome, metric: str) -> float:
    """Return one metric of a checked outcome (used by permutation importance)."""
    values = metric_arrays(outcome, np.ones((1, outcome.n_rows)))
    if metric not in values:
        raise ValidationError(
            f"metric {metric!r} cannot be computed for this {outcome.task.value} output; "
            f"available: {sorted(values)}"
        )
    return float(values[metric][0])


def metric_arrays(outcome: Outcome, weights: FloatArray) -> dict[str, FloatArray]:
    """Every computable metric for each row of ``weights`` (shape ``(b, n)``)."""
    if outcome.task is Task.REGRESSION:
        return _regression(outcome.y, outcome.pred, weights)
    if outcome.task is Task.BINARY:
        return _binary(outcome, weights)
    return _multiclass(outcome, weights)


def _binary(outcome: Outcome, weights: FloatArray) -> dict[str, FloatArray]:
    y, pred, total = outcome.y, outcome.pred, weights.sum(axis=1)
    tp, positives, predicted = weights @ (y * pred), weights @ y, weights @ pred
    result: dict[str, FloatArray] = {}
    if outcome.proba is not None:
        p = outcome.proba
        result["roc_auc"], result["average_precision"] = ranking_metrics(y, p, weights)
        result["log_loss"] = weights @ binary_log_losses(y, p) / total
        result["brier"] = weights @ (p - y) ** 2 / total
    result["accuracy"] = weights @ (y == pred).astype(np.float64) / total
    result["f1"] = _ratio(2.0 * tp, positives + predicted)
    result["precision"] = _ratio(tp, predicted)
    result["recall"] = _ratio(tp, positives)
    return result


def _multiclass(outcome: Outcome, weights: FloatArray) -> dict[str, FloatArray]:
    codes = np.arange(outcome.n_classes)
    truth = (outcome.y[:, None] == codes).astype(np.float64)
    chosen = (outcome.pred[:, None] == codes).astype(np.float64)
    total = weights.sum(axis=1)
    result: dict[str, FloatArray] = {}
    if outcome.proba is not None:
        result["log_loss"] = weights @ multiclass_log_losses(truth, outcome.proba) / total
        result["roc_auc"] = _one_vs_rest_auc(truth, outcome.proba, weights)
    result["accuracy"] = weights @ (outcome.y == outcome.pred).astype(np.float64) / total
    result["f1_macro"] = _macro_f1(weights @ truth, weights @ chosen, weights @ (truth * chosen))
    return result


def _regression(y: FloatArray, pred: FloatArray, weights: FloatArray) -> dict[str, FloatArray]:
    total = weights.sum(axis=1)
    error = y - pred
    sse = weights @ error**2
    centred = y - y.mean()  # shifting first keeps the sum of squares well conditioned
    sst = np.maximum(weights @ centred**2 - (weights @ centred) ** 2 / total, 0.0)
    perfect = np.where(sse == 0.0, 1.0, 0.0)  # scikit-learn's r2 for a constant target
    r2 = np.where(sst > 0.0, 1.0 - sse / np.where(sst > 0.0, sst, 1.0), perfect)
    return {"rmse": np.sqrt(sse / total), "mae": weights @ np.abs(error) / total, "r2": r2}


def ranking_metrics(
    y: FloatArray, score_: FloatArray, weights: FloatArray, *, precision: bool = True
) -> tuple[FloatArray, FloatArray]:
    """ROC AUC and average precision for each row of ``weights``; NaN with one class drawn.

    Positives and negatives are sorted once; for each positive, the number of
    negatives scored above it (strictly, and including ties) is found once by
    binary search, so each resample costs a cumulative sum and a few gathers.
    """
    positive = y == 1.0
    pos_rows, neg_rows = np.flatnonzero(positive), np.flatnonzero(~positive)
    pos_rows = pos_rows[np.argsort(-score_[pos_rows], kind="stable")]
    neg_rows = neg_rows[np.argsort(-score_[neg_rows], kind="stable")]
    pos_desc, neg_desc = -score_[pos_rows], -score_[neg_rows]  # ascending keys
    w_pos = _columns(weights, pos_rows)
    cum_neg = _cumulative(_columns(weights, neg_rows))
    neg_above = _columns(cum_neg, np.searchsorted(neg_desc, pos_desc, side="left"))
    neg_at_or_above = _columns(cum_neg, np.searchsorted(neg_desc, pos_desc, side="right"))
    n_pos, n_neg = w_pos.sum(axis=1), cum_neg[:, -1]
    valid = (n_pos > 0) & (n_neg > 0)
    pairs = np.sum(w_pos * (neg_above + neg_at_or_above), axis=1)  # twice the pairs ranked wrong
    auc = np.where(valid, 1.0 - pairs / np.where(valid, 2.0 * n_pos * n_neg, 1.0), np.nan)
    if not precision:
        return auc, auc
    tp = _columns(_cumulative(w_pos), np.searchsorted(pos_desc, pos_desc, side="right"))
    hit_rate = _ratio(tp, tp + neg_at_or_above)
    ap = np.where(valid, np.sum(w_pos * hit_rate, axis=1) / np.where(valid, n_pos, 1.0), np.nan)
    return auc, ap


def _cumulative(weights: FloatArray) -> FloatArray:
    """Cumulative sums along rows with a leading zero column (index ``i`` = first ``i`` summed)."""
    out = np.zeros((weights.shape[0], weights.shape[1] + 1))
    np.cumsum(weights, axis=1, out=out[:, 1:])
    return out


def _one_vs_rest_auc(truth: FloatArray, proba: FloatArray, weights: FloatArray) -> FloatArray:
    per_class = [
        ranking_metrics(truth[:, c], proba[:, c], weights, precision=False)[0]
        for c in range(proba.shape[1])
    ]
    present = np.all((weights @ truth) > 0, axis=1)  # scikit-learn needs every class drawn
    return np.where(present, np.mean(per_class, axis=0), np.nan)


def _macro_f1(true_n: FloatArray, pred_n: FloatArray, tp: FloatArray) -> FloatArray:
    seen = (true_n + pred_n) > 0  # scikit-learn averages over labels in y_true or y_pred
    f1 = _ratio(2.0 * tp, true_n + pred_n)
    return np.asarray(np.sum(f1 * seen, axis=1) / np.sum(seen, axis=1), dtype=np.float64)


def binary_log_losses(y: FloatArray, p: FloatArray) -> FloatArray:
    """Per-row log loss of positive-class probabilities ``p`` for labels ``y``."""
    eps = np.finfo(np.float64).eps  # the clipping scikit-learn applies
    p1, p0 = np.clip(p, eps, 1.0 - eps), np.clip(1.0 - p, eps, 1.0 - eps)
    return np.asarray(-(y * np.log(p1) + (1.0 - y) * np.log(p0)), dtype=np.float64)


def multiclass_log_losses(truth: FloatArray, proba: FloatArray) -> FloatArray:
    """Per-row log loss of class probabilities for one-hot labels ``truth``."""
    eps = np.finfo(np.float64).eps
    return np.asarray(-np.sum(truth * np.log(np.clip(proba, eps, 1.0 - eps)), axis=1))


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """``numerator / denominator``, 0 where the denominator is 0 (scikit-learn's default)."""
    out = np.zeros(np.broadcast_shapes(numerator.shape, denominator.shape))
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _resample_weights(rng: np.random.Generator, n_boot: int, n_rows: int) -> Iterator[FloatArray]:
    """How often each row is drawn, for ``n_boot`` resamples, a memory-bounded chunk at a time."""
    chunk = max(1, _CHUNK_CELLS // n_rows)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n_rows, size=(size, n_rows), dtype=np.int64)
        draws += (np.arange(size, dtype=np.int64) * n_rows)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n_rows)
        yield counts.reshape(size, n_rows).astype(np.float64)


def _rows(outcome: Outcome, rows: IntArray) -> Outcome:
    """The outcome of ``rows`` only, in their order."""
    proba = outcome.proba[rows] if outcome.proba is not None else None
    return replace(outcome, y=outcome.y[rows], pred=outcome.pred[rows], proba=proba)


def _canonical(outcome: Outcome) -> Outcome:
    """Rows sorted by class (positives first), then by descending score.

    Resampling is blind to row order, so sorting first makes the intervals
    independent of how the caller ordered the rows, and lets the ranking
    metrics take the positives and negatives as contiguous, already sorted blocks.
    """
    keys: list[FloatArray] = [outcome.pred]
    if outcome.proba is not None:
        keys.extend(-outcome.proba.reshape(outcome.n_rows, -1).T[::-1])
    order = np.lexsort([*keys, -outcome.y])
    proba = outcome.proba[order] if outcome.proba is not None else None
    return replace(outcome, y=outcome.y[order], pred=outcome.pred[order], proba=proba)


def _columns(matrix: FloatArray, index: IntArray) -> FloatArray:
    """``matrix[:, index]``, as a view without copying when ``index`` is a run of columns."""
    if index.size and index[-1] - index[0] == index.size - 1 and np.all(np.diff(index) == 1):
        return matrix[:, index[0] : index[-1] + 1]
    return matrix[:, index]


def _interval(values: FloatArray, tail: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return (float(low), float(high))
