"""Classification diagnostics: confusion matrix, ROC/PR curves, calibration, thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation._inputs import (
    FloatArray,
    IntArray,
    check_class_labels,
    prepare,
)
from modelcycle.evaluation._serial import jsonable, number, numbers

_DEFAULT_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass(frozen=True, slots=True)
class ConfusionMatrix:
    """Counts of true class (rows) against predicted class (columns).

    Examples
    --------
    >>> matrix = confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], class_labels=["a", "b", "c"])
    >>> matrix.counts
    ((1, 0, 0), (0, 1, 1), (0, 0, 1))
    >>> matrix.recall()
    (1.0, 0.5, 1.0)
    """

    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    def recall(self) -> tuple[float, ...]:
        """Share of each true class predicted correctly (NaN for a class never seen)."""
        table = np.asarray(self.counts, dtype=np.float64)
        totals = table.sum(axis=1)
        return tuple(
            float(table[i, i] / totals[i]) if totals[i] else float("nan")
            for i in range(len(totals))
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"labels": list(self.labels), "counts": [list(row) for row in self.counts]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfusionMatrix:
        """Build a matrix from :meth:`to_dict` output."""
        counts = tuple(tuple(int(c) for c in row) for row in data["counts"])
        return cls(labels=tuple(str(label) for label in data["labels"]), counts=counts)


def confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    n_classes: int | None = None,
    class_labels: Sequence[object] | None = None,
) -> ConfusionMatrix:
    """Count true class codes against predicted ones.

    The number of classes is ``n_classes``, else ``len(class_labels)``, else the
    largest code seen plus one (at least two). Every class gets a row and a column,
    even when absent, so matrices of one task have one shape.

    Examples
    --------
    >>> confusion_matrix([0, 0, 1], [0, 1, 1]).counts
    ((1, 1), (0, 1))
    """
    if n_classes is None and class_labels is not None:
        n_classes = len(class_labels)
    outcome = prepare(Task.MULTICLASS, y_true, y_pred=y_pred, n_classes=n_classes)
    size = outcome.n_classes
    flat = outcome.y.astype(np.int64) * size + outcome.pred.astype(np.int64)
    table = np.bincount(flat, minlength=size * size).reshape(size, size)
    counts = tuple(tuple(int(c) for c in row) for row in table)
    return ConfusionMatrix(labels=check_class_labels(class_labels, size), counts=counts)


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One reliability bin: predicted probabilities in ``(lower, upper]`` and what happened."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """A reliability curve with its expected and maximum calibration errors.

    ``kind`` is ``"positive"`` (binary: probability of the positive class against its
    observed rate) or ``"top_label"`` (multiclass: confidence in the predicted class
    against accuracy). ``ece`` weighs each bin's gap by its share of rows; ``mce`` is
    the largest gap. Empty bins are left out.
    """

    kind: str
    strategy: str
    bins: tuple[CalibrationBin, ...]
    ece: float
    mce: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(jsonable(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Build a calibration curve from :meth:`to_dict` output."""
        bins = tuple(
            CalibrationBin(
                lower=number(b["lower"]),
                upper=number(b["upper"]),
                count=int(b["count"]),
                mean_predicted=number(b["mean_predicted"]),
                observed_rate=number(b["observed_rate"]),
            )
            for b in data["bins"]
        )
        return cls(
            kind=str(data["kind"]),
            strategy=str(data["strategy"]),
            bins=bins,
            ece=number(data["ece"]),
            mce=number(data["mce"]),
        )


def calibration_curve(
    y_true: ArrayLike, proba: ArrayLike, *, n_bins: int = 10, strategy: str = "uniform"
) -> Calibration:
    """Bin predicted probabilities and compare each bin's mean with the observed rate.

    Parameters
    ----------
    y_true:
        Class codes.
    proba:
        Positive-class probabilities ``(n,)`` or ``(n, 2)``, or class probabilities
        ``(n, k)`` for a top-label curve.
    n_bins:
        Number of bins.
    strategy:
        ``"uniform"`` (equal-width bins on [0, 1]) or ``"quantile"`` (equally full bins).

    Examples
    --------
    >>> curve = calibration_curve([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2)
    >>> [(b.count, b.observed_rate) for b in curve.bins], round(curve.ece, 2)
    ([(2, 0.0), (2, 1.0)], 0.15)
    """
    if n_bins < 1 or strategy not in ("uniform", "quantile"):
        raise ValidationError(
            f"calibration needs n_bins >= 1 and strategy 'uniform' or 'quantile'; "
            f"got {n_bins!r}, {strategy!r}"
        )
    confidence, hit, kind = _calibration_inputs(y_true, proba)
    edges = _bin_edges(confidence, n_bins, strategy)
    # (lower, upper] bins, the first closed: scikit-learn's calibration_curve convention
    index = np.clip(np.searchsorted(edges[1:-1], confidence, side="left"), 0, len(edges) - 2)
    bins = tuple(_bin(edges, i, confidence[index == i], hit[index == i]) for i in np.unique(index))
    gaps = np.array([abs(b.mean_predicted - b.observed_rate) for b in bins])
    weights = np.array([b.count for b in bins]) / confidence.size
    return Calibration(kind, strategy, bins, float(gaps @ weights), float(gaps.max()))


def _calibration_inputs(y_true: ArrayLike, proba: ArrayLike) -> tuple[FloatArray, FloatArray, str]:
    shape = np.shape(proba)
    if len(shape) == 2 and shape[1] > 2:
        outcome = prepare(Task.MULTICLASS, y_true, proba=proba)
        assert outcome.proba is not None
        correct = (outcome.pred == outcome.y).astype(np.float64)
        return outcome.proba.max(axis=1), correct, "top_label"
    outcome = prepare(Task.BINARY, y_true, proba=proba)
    assert outcome.proba is not None
    return outcome.proba, outcome.y, "positive"


def _bin_edges(confidence: FloatArray, n_bins: int, strategy: str) -> FloatArray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.unique(np.quantile(confidence, np.linspace(0.0, 1.0, n_bins + 1)))
    return edges if edges.size > 1 else np.repeat(edges, 2)  # one value: one bin


def _bin(edges: FloatArray, i: int, confidence: FloatArray, hit: FloatArray) -> CalibrationBin:
    upper = edges[min(i + 1, len(edges) - 1)]
    return CalibrationBin(
        lower=float(edges[i]),
        upper=float(upper),
        count=int(confidence.size),
        mean_predicted=float(confidence.mean()),
        observed_rate=float(hit.mean()),
    )


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    """Quality of the rule "positive when probability >= threshold"."""

    threshold: float
    precision: float
    recall: float
    f1: float
    false_positive_rate: float
    positive_rate: float


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """Decision thresholds for a binary task and a table of the trade-off.

    ``best_f1_threshold`` maximises F1; ``youden_threshold`` maximises Youden's
    J = recall − false positive rate. Both are observed probabilities, so the
    rule ``proba >= threshold`` reproduces the reported values exactly.
    """

    best_f1_threshold: float
    best_f1: float
    youden_threshold: float
    youden_j: float
    rows: tuple[ThresholdRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(jsonable(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdChoice:
        """Build a threshold choice from :meth:`to_dict` output."""
        fields = ThresholdRow.__dataclass_fields__
        rows = tuple(ThresholdRow(**{f: number(row[f]) for f in fields}) for row in data["rows"])
        return cls(
            best_f1_threshold=number(data["best_f1_threshold"]),
            best_f1=number(data["best_f1"]),
            youden_threshold=number(data["youden_threshold"]),
            youden_j=number(data["youden_j"]),
            rows=rows,
        )


def choose_threshold(
    y_true: ArrayLike, proba: ArrayLike, *, grid: Sequence[float] = _DEFAULT_GRID
) -> ThresholdChoice:
    """Find the thresholds maximising F1 and Youden's J, and tabulate ``grid``.

    Every distinct predicted probability is a candidate; of equally good ones the
    highest is chosen.

    Examples
    --------
    >>> choice = choose_threshold([0, 0, 1, 1, 1], [0.1, 0.6, 0.4, 0.7, 0.9], grid=[0.5])
    >>> choice.best_f1_threshold, round(choice.best_f1, 3)
    (0.4, 0.857)
    >>> choice.rows[0].precision, round(choice.rows[0].recall, 3)
    (0.6666666666666666, 0.667)
    """
    y, p = _binary_inputs(y_true, proba)
    thresholds, tp, fp = _counts_by_threshold(y, p)
    n_pos, n_neg = tp[-1], fp[-1]
    f1 = 2.0 * tp / (tp + fp + n_pos)
    youden = tp / n_pos - fp / n_neg
    best, fair = int(np.argmax(f1)), int(np.argmax(youden))
    rows = tuple(_threshold_row(t, thresholds, tp, fp) for t in grid)
    return ThresholdChoice(
        float(thresholds[best]), float(f1[best]), float(thresholds[fair]), float(youden[fair]), rows
    )


def _threshold_row(
    t: float, thresholds: FloatArray, tp: FloatArray, fp: FloatArray
) -> ThresholdRow:
    at = int(np.searchsorted(-thresholds, -t, side="right"))  # groups scored >= t
    hits, false = (tp[at - 1], fp[at - 1]) if at else (0.0, 0.0)
    n_pos, n_neg = tp[-1], fp[-1]
    return ThresholdRow(
        threshold=float(t),
        precision=float(hits / (hits + false)) if hits + false else float("nan"),
        recall=float(hits / n_pos),
        f1=float(2.0 * hits / (hits + false + n_pos)),
        false_positive_rate=float(false / n_neg),
        positive_rate=float((hits + false) / (n_pos + n_neg)),
    )


@dataclass(frozen=True, slots=True)
class BinaryCurves:
    """ROC and precision–recall curves, thinned to at most ``max_points`` points each."""

    false_positive_rate: tuple[float, ...]
    true_positive_rate: tuple[float, ...]
    recall: tuple[float, ...]
    precision: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(jsonable(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BinaryCurves:
        """Build curves from :meth:`to_dict` output."""
        return cls(**{name: numbers(data[name]) for name in cls.__dataclass_fields__})


def binary_curves(y_true: ArrayLike, proba: ArrayLike, *, max_points: int = 200) -> BinaryCurves:
    """Compute the ROC and precision–recall curves of a binary task.

    Examples
    --------
    >>> curves = binary_curves([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> curves.false_positive_rate, curves.true_positive_rate
    ((0.0, 0.0, 0.5, 0.5, 1.0), (0.0, 0.5, 0.5, 1.0, 1.0))
    """
    y, p = _binary_inputs(y_true, proba)
    _, tp, fp = _counts_by_threshold(y, p)
    keep = _thin(tp.size, max_points)
    tp, fp = tp[keep], fp[keep]
    fpr, tpr = np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]
    recall, precision = np.r_[0.0, tp / tp[-1]], np.r_[1.0, tp / (tp + fp)]
    return BinaryCurves(*(tuple(float(v) for v in a) for a in (fpr, tpr, recall, precision)))


def _binary_inputs(y_true: ArrayLike, proba: ArrayLike) -> tuple[FloatArray, FloatArray]:
    outcome = prepare(Task.BINARY, y_true, proba=proba)
    assert outcome.proba is not None
    if outcome.y.min() == outcome.y.max():
        raise ValidationError(
            f"y_true holds only class {int(outcome.y[0])}; thresholds and curves need both classes"
        )
    return outcome.y, outcome.proba


def _counts_by_threshold(y: FloatArray, p: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Distinct scores (descending) and the true/false positives scored at or above each."""
    order = np.argsort(-p, kind="stable")
    ordered, hits = p[order], y[order]
    last = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), ordered.size - 1]
    tp = np.cumsum(hits)[last]
    return ordered[last], tp, (last + 1.0) - tp


def _thin(size: int, max_points: int) -> IntArray:
    """Indices of at most ``max_points`` evenly spread points, always keeping the last."""
    if size <= max_points:
        return np.arange(size)
    return np.unique(np.linspace(0, size - 1, max_points).round().astype(np.int64))
