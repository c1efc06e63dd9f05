"""Feature importance on the holdout: permutation importance and summaries of contributions.

Permutation importance asks how much the holdout score drops when one feature's
values are shuffled, breaking its link to the target while keeping its
distribution. Contributions are per-prediction attributions computed by the
learner (LightGBM's ``pred_contrib``); here they are summarised, not computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation._inputs import FloatArray, check_task, prepare_output
from modelcycle.evaluation._metric_table import default_metric, metric_spec
from modelcycle.evaluation._metrics import metric_value
from modelcycle.evaluation._serial import jsonable, number

#: Maps a 2-D float array of features to probabilities (classification) or predictions.
PredictFn = Callable[[FloatArray], ArrayLike]
#: Most cells (rows × features) of shuffled copies sent to ``predict_fn`` in one call.
_BATCH_CELLS = 5_000_000


@dataclass(frozen=True, slots=True)
class FeatureImportance:
    """How much the score worsens, on average over repeats, when one feature is shuffled."""

    feature: str
    mean: float
    std: float


@dataclass(frozen=True, slots=True)
class PermutationImportance:
    """Permutation importance of every feature, most important first.

    A positive ``mean`` is a worse score without the feature, whatever the direction
    of ``metric``; near zero means the model does not rely on it; negative means
    shuffling helped (noise, or overfitting to the feature).
    """

    metric: str
    baseline: float
    n_repeats: int
    features: tuple[FeatureImportance, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(jsonable(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PermutationImportance:
        """Build importances from :meth:`to_dict` output."""
        features = tuple(
            FeatureImportance(str(f["feature"]), number(f["mean"]), number(f["std"]))
            for f in data["features"]
        )
        return cls(str(data["metric"]), number(data["baseline"]), int(data["n_repeats"]), features)


def permutation_importance(
    predict_fn: PredictFn,
    X: ArrayLike,
    y: ArrayLike,
    task: Task | str,
    *,
    feature_names: Sequence[str],
    n_repeats: int = 5,
    random_state: int = 0,
    metric: str | None = None,
) -> PermutationImportance:
    """Measure each feature's importance as the score lost when it is shuffled.

    Parameters
    ----------
    predict_fn:
        Maps a 2-D float array shaped like ``X`` to probabilities (classification:
        ``(n,)``/``(n, 2)`` binary, ``(n, k)`` multiclass) or predictions (regression).
        Called once per feature with the ``n_repeats`` shuffled copies stacked.
    X, y:
        Holdout features (2-D, numeric) and targets (class codes or values).
    task:
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    feature_names:
        One name per column of ``X``.
    n_repeats:
        Shuffles per feature.
    random_state:
        Seed of the shuffles.
    metric:
        Metric of :func:`score`; default :func:`default_metric` of the task.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> y = 3.0 * X[:, 0]
    >>> result = permutation_importance(
    ...     lambda a: 3.0 * a[:, 0], X, y, "regression", feature_names=["signal", "noise"]
    ... )
    >>> [f.feature for f in result.features], result.features[1].mean
    (['signal', 'noise'], 0.0)
    """
    kind, matrix = check_task(task), _matrix(X, feature_names)
    spec = metric_spec(metric or default_metric(kind), kind)
    chosen, sign = spec.name, (1.0 if spec.greater_is_better else -1.0)
    if n_repeats < 1:
        raise ValidationError(f"n_repeats must be at least 1; got {n_repeats}")
    target = np.asarray(y)
    baseline = _score(kind, chosen, target, predict_fn(matrix))
    if not np.isfinite(baseline):
        raise ValidationError(f"{chosen} is undefined on this holdout (one class only?)")
    rng = np.random.default_rng(random_state)
    found = []
    for j, name in enumerate(feature_names):
        scores = _shuffled_scores(predict_fn, matrix, j, target, kind, chosen, n_repeats, rng)
        drops = sign * (baseline - scores)
        found.append(FeatureImportance(str(name), float(drops.mean()), float(drops.std())))
    found.sort(key=lambda f: (-f.mean, f.feature))
    return PermutationImportance(chosen, baseline, n_repeats, tuple(found))


def _matrix(X: ArrayLike, feature_names: Sequence[str]) -> FloatArray:
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError("X must be a numeric 2-D array (the model's inputs)") from exc
    if matrix.ndim != 2 or matrix.shape[1] != len(feature_names):
        raise ValidationError(
            f"X has shape {matrix.shape} but {len(feature_names)} feature_names were given; "
            "pass a 2-D array with one column per name"
        )
    return matrix


def _shuffled_scores(
    predict_fn: PredictFn,
    X: FloatArray,
    column: int,
    y: ArrayLike,
    task: Task,
    metric: str,
    n_repeats: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Scores of ``n_repeats`` copies of ``X`` with ``column`` shuffled, few predict calls."""
    n_rows = X.shape[0]
    per_call = max(1, min(n_repeats, _BATCH_CELLS // max(1, X.size)))
    scores: list[float] = []
    for start in range(0, n_repeats, per_call):
        copies = min(per_call, n_repeats - start)
        stacked = np.tile(X, (copies, 1))
        for r in range(copies):
            stacked[r * n_rows : (r + 1) * n_rows, column] = X[rng.permutation(n_rows), column]
        output = np.asarray(predict_fn(stacked))
        if output.shape[:1] != (stacked.shape[0],):
            raise ValidationError(
                f"predict_fn returned shape {output.shape} for {stacked.shape[0]} rows; "
                "it must return one prediction (or probability row) per input row"
            )
        for r in range(copies):
            part = output[r * n_rows : (r + 1) * n_rows]
            scores.append(_score(task, metric, y, part))
    return np.asarray(scores)


def _score(task: Task, metric: str, y: ArrayLike, output: ArrayLike) -> float:
    return metric_value(prepare_output(task, y, output), metric)


@dataclass(frozen=True, slots=True)
class FeatureContribution:
    """Average size and average signed value of one feature's contributions."""

    feature: str
    mean_abs: float
    mean: float


@dataclass(frozen=True, slots=True)
class ContributionSummary:
    """Global summary of per-prediction contributions, largest mean |contribution| first.

    ``n_outputs`` is 1 for binary and regression models and the number of classes
    for multiclass ones (whose per-class values are averaged); ``expected_value``
    holds the mean bias term of each output.
    """

    n_rows: int
    n_outputs: int
    expected_value: tuple[float, ...]
    features: tuple[FeatureContribution, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(jsonable(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContributionSummary:
        """Build a summary from :meth:`to_dict` output."""
        features = tuple(
            FeatureContribution(str(f["feature"]), number(f["mean_abs"]), number(f["mean"]))
            for f in data["features"]
        )
        expected = tuple(number(v) for v in data["expected_value"])
        return cls(int(data["n_rows"]), int(data["n_outputs"]), expected, features)


@dataclass(frozen=True, slots=True)
class Contribution:
    """One feature's contribution to one prediction, with the feature's value if known."""

    feature: str
    contribution: float
    value: Any = None


def summarise_contributions(
    contrib: ArrayLike, feature_names: Sequence[str]
) -> ContributionSummary:
    """Summarise LightGBM ``pred_contrib`` output as mean |contribution| per feature.

    Parameters
    ----------
    contrib:
        Shape ``(n, d + 1)`` (binary, regression: one column per feature then the
        bias) or ``(n, k * (d + 1))`` (multiclass: one such block per class), as
        ``Booster.predict(X, pred_contrib=True)`` returns.
    feature_names:
        The ``d`` feature names.

    Examples
    --------
    >>> contrib = np.array([[0.5, -0.1, 1.0], [-0.3, 0.1, 1.0]])
    >>> summary = summarise_contributions(contrib, ["age", "plan"])
    >>> [(f.feature, round(f.mean_abs, 2)) for f in summary.features], summary.expected_value
    ([('age', 0.4), ('plan', 0.1)], (1.0,))
    """
    blocks = _blocks(np.asarray(contrib, dtype=np.float64), len(feature_names))
    values = blocks[:, :, :-1]
    mean_abs = np.abs(values).mean(axis=(0, 1))
    mean = values.mean(axis=(0, 1))
    order = sorted(range(len(feature_names)), key=lambda j: (-mean_abs[j], feature_names[j]))
    features = tuple(
        FeatureContribution(str(feature_names[j]), float(mean_abs[j]), float(mean[j]))
        for j in order
    )
    expected = tuple(float(v) for v in blocks[:, :, -1].mean(axis=0))
    return ContributionSummary(int(blocks.shape[0]), int(blocks.shape[1]), expected, features)


def top_contributions(
    contrib_row: ArrayLike,
    feature_names: Sequence[str],
    *,
    k: int = 5,
    values: Sequence[Any] | None = None,
    output: int = 0,
) -> list[Contribution]:
    """Return the ``k`` largest contributions (by absolute size) to one prediction.

    ``contrib_row`` is one row of ``pred_contrib`` output; ``output`` picks the class
    of a multiclass model; ``values`` are the row's feature values, for display.

    Examples
    --------
    >>> top = top_contributions([0.2, -0.7, 0.1, 1.5], ["a", "b", "c"], k=2, values=[1, 2, 3])
    >>> [(c.feature, c.contribution, c.value) for c in top]
    [('b', -0.7, 2), ('a', 0.2, 1)]
    """
    blocks = _blocks(np.asarray(contrib_row, dtype=np.float64).reshape(1, -1), len(feature_names))
    if not 0 <= output < blocks.shape[1]:
        raise ValidationError(f"output {output} is out of range; the model has {blocks.shape[1]}")
    row = blocks[0, output, :-1]
    order = sorted(range(row.size), key=lambda j: (-abs(row[j]), j))[:k]
    return [
        Contribution(str(feature_names[j]), float(row[j]), None if values is None else values[j])
        for j in order
    ]


def _blocks(contrib: FloatArray, n_features: int) -> FloatArray:
    """Reshape contributions to ``(rows, outputs, features + bias)``."""
    width = n_features + 1
    if contrib.ndim != 2 or contrib.shape[1] % width:
        raise ValidationError(
            f"contributions have shape {contrib.shape} but {n_features} features were named; "
            f"expected (n, {width}) or (n, k * {width}) as LightGBM's pred_contrib returns"
        )
    return contrib.reshape(contrib.shape[0], contrib.shape[1] // width, width)
