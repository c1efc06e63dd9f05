"""Champion against challenger on the same rows: a paired bootstrap of the metric difference.

Both models score the same labelled rows. Each resample draws row indices with
replacement *once* and scores both models on those rows, so the noise the two share
(which rows happened to be drawn) cancels out of their difference; the percentile
interval of the differences says how sure we are that one is better. A lucky small
sample gives a wide interval, so it does not promote.

The difference is always "B better than A" in the metric's own good direction:
positive means B is better, also for losses such as ``rmse`` or ``log_loss``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 2, 400)
>>> weak = np.clip(0.2 * y + 0.8 * rng.random(400), 0, 1)
>>> strong = np.clip(0.6 * y + 0.4 * rng.random(400), 0, 1)
>>> result = paired_bootstrap(y, weak, strong, "roc_auc", n_resamples=1000)
>>> result.low > 0, result.decide(0.0)
(True, 'promote')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation import METRICS, greater_is_better, score

_MIN_ROWS = 2


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`paired_bootstrap`.

    ``metric_a`` and ``metric_b`` are measured on all ``n`` rows; ``improvement`` is
    how much better B is than A (positive: B better, in the metric's good direction),
    and ``low``/``high`` bound it at ``confidence`` (``nan`` when too few resamples
    could be scored, e.g. a single class among the labels).
    """

    metric: str
    n: int
    metric_a: float
    metric_b: float
    improvement: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    seed: int

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0 (either way)."""
        return self.low > 0 or self.high < 0

    def decide(self, min_improvement: float = 0.0) -> str:
        """``'promote'`` when B is better by more than ``min_improvement`` with confidence.

        The whole interval must lie above ``min_improvement``; otherwise ``'keep'``.
        """
        return "promote" if self.low > min_improvement else "keep"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (undefined values as ``None``)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {k: _finite(v) for k, v in data.items()}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def paired_bootstrap(
    y: ArrayLike,
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    metric: str,
    *,
    task: Task | str | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare two models' outputs on the same rows with a paired percentile bootstrap.

    Parameters
    ----------
    y:
        True class codes ``0..k-1`` (classification) or targets (regression).
    pred_a, pred_b:
        Each model's output on the same rows, in the same order: positive-class
        probabilities ``(n,)`` or class probabilities ``(n, k)`` for classifiers,
        predicted values for regression.
    metric:
        A metric of :func:`modelcycle.evaluation.score` (``roc_auc``, ``accuracy``,
        ``log_loss``, ``rmse``, ``r2``...).
    task:
        ``binary``, ``multiclass`` or ``regression``; inferred from the metric and the
        shape of the outputs when omitted.
    n_resamples, confidence, seed:
        Number of resamples, coverage of the two-sided interval, random seed.

    Raises
    ------
    ValidationError
        Arrays of different lengths, too few rows, an unknown metric or bad settings.
    """
    y_arr, a, b = (np.asarray(v) for v in (y, pred_a, pred_b))
    kind = _task(task, metric, a)
    _check(y_arr, a, b, metric, kind, n_resamples, confidence)
    sign = 1.0 if greater_is_better(metric) else -1.0
    metric_a = _metric(kind, metric, y_arr, a)
    metric_b = _metric(kind, metric, y_arr, b)
    differences = _resampled(kind, metric, (y_arr, a, b), n_resamples, seed) * sign
    low, high = _interval(differences, confidence)
    return Comparison(
        metric=metric,
        n=int(y_arr.shape[0]),
        metric_a=metric_a,
        metric_b=metric_b,
        improvement=sign * (metric_b - metric_a),
        low=low,
        high=high,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )


def _task(task: Task | str | None, metric: str, pred: NDArray[Any]) -> Task:
    if task is not None:
        return Task(task)
    if metric in METRICS[Task.REGRESSION]:
        return Task.REGRESSION
    if pred.ndim == 2 and pred.shape[1] > 2:
        return Task.MULTICLASS
    return Task.BINARY


def _check(
    y: NDArray[Any],
    a: NDArray[Any],
    b: NDArray[Any],
    metric: str,
    task: Task,
    n_resamples: int,
    confidence: float,
) -> None:
    if metric not in METRICS[task]:
        raise ValidationError(
            f"metric {metric!r} does not apply to {task.value} models; "
            f"expected one of {list(METRICS[task])}"
        )
    if not (len(y) == len(a) == len(b)):
        raise ValidationError(
            f"the labels and both models' outputs must have one value per row; got "
            f"{len(y)} labels and {len(a)} and {len(b)} outputs"
        )
    if len(y) < _MIN_ROWS:
        raise ValidationError(f"a comparison needs at least {_MIN_ROWS} rows; got {len(y)}")
    if n_resamples < 1 or not 0.0 < confidence < 1.0:
        raise ValidationError(
            "a bootstrap needs n_resamples >= 1 and 0 < confidence < 1; got "
            f"{n_resamples} and {confidence}"
        )


def _metric(task: Task, metric: str, y: NDArray[Any], output: NDArray[Any]) -> float:
    if task is Task.REGRESSION:
        return score(task, y, y_pred=output)[metric]
    if task is Task.MULTICLASS:
        return score(task, y, proba=output, n_classes=output.shape[1])[metric]
    return score(task, y, proba=output)[metric]


def _resampled(
    task: Task,
    metric: str,
    arrays: tuple[NDArray[Any], NDArray[Any], NDArray[Any]],
    n_resamples: int,
    seed: int,
) -> NDArray[np.float64]:
    """B's metric minus A's on each resample (the same rows for both)."""
    y, a, b = arrays
    rng = np.random.default_rng(seed)
    differences = np.empty(n_resamples)
    for index in range(n_resamples):
        rows = rng.integers(0, len(y), len(y))
        differences[index] = _metric(task, metric, y[rows], b[rows]) - _metric(
            task, metric, y[rows], a[rows]
        )
    return differences


def _interval(differences: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    finite = differences[np.isfinite(differences)]
    if finite.size < max(10, differences.size // 2):  # mostly unscorable resamples
        return (float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return (float(low), float(high))
