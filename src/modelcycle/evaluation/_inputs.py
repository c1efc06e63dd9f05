"""Checks at the public edge: targets, predictions and probabilities as clean arrays.

Every public function of :mod:`modelcycle.evaluation` turns its inputs into an
:class:`Outcome` here, once; the computations behind it trust the types.
Classes are integer codes ``0..k-1``; display labels travel separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcycle.core import Task, ValidationError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Targets and model output of one holdout set, checked and aligned.

    ``y`` holds class codes (as float64 ``0..k-1``) or regression targets; ``pred``
    the predicted codes or values; ``proba`` the positive-class probability
    (binary, shape ``(n,)``), the class probabilities (multiclass, ``(n, k)``) or
    ``None`` when only hard predictions were given.
    """

    task: Task
    y: FloatArray
    pred: FloatArray
    proba: FloatArray | None
    n_classes: int

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.y.shape[0])


def check_task(task: Task | str) -> Task:
    """Return ``task`` as a :class:`Task`, or raise naming the accepted values."""
    try:
        return Task(task)
    except ValueError as exc:
        raise ValidationError(
            f"task {task!r} is not known; expected one of {[t.value for t in Task]}"
        ) from exc


def prepare(
    task: Task | str,
    y_true: ArrayLike,
    y_pred: ArrayLike | None = None,
    proba: ArrayLike | None = None,
    *,
    n_classes: int | None = None,
) -> Outcome:
    """Check and align targets with hard predictions and/or probabilities."""
    kind = check_task(task)
    if kind is Task.REGRESSION:
        if proba is not None:
            raise ValidationError("a regression task takes y_pred, not proba; pass predictions")
        return _regression(y_true, y_pred)
    return _classification(kind, y_true, y_pred, proba, n_classes)


def prepare_output(
    task: Task | str, y_true: ArrayLike, proba_or_pred: ArrayLike, *, n_classes: int | None = None
) -> Outcome:
    """Like :func:`prepare`, reading ``proba_or_pred`` as probabilities unless regressing."""
    if check_task(task) is Task.REGRESSION:
        return prepare(task, y_true, y_pred=proba_or_pred)
    return prepare(task, y_true, proba=proba_or_pred, n_classes=n_classes)


def check_class_labels(labels: Sequence[object] | None, n_classes: int) -> tuple[str, ...]:
    """Return display labels for ``n_classes`` classes (the codes when ``labels`` is None)."""
    if labels is None:
        return tuple(str(code) for code in range(n_classes))
    if len(labels) != n_classes:
        raise ValidationError(
            f"class_labels has {len(labels)} labels {list(labels)!r} but the task has "
            f"{n_classes} classes; pass one label per class code 0..{n_classes - 1}"
        )
    return tuple(str(label) for label in labels)


def float_vector(
    values: ArrayLike, name: str, n_rows: int | None = None, *, against: str = "y_true"
) -> FloatArray:
    """Return ``values`` as a finite 1-D float64 array (of ``n_rows`` rows, as ``against``)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must hold numbers; got {_preview(values)}") from exc
    if array.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional; got shape {array.shape}")
    _check_rows(array, name, n_rows, against)
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValidationError(f"{name} must be finite; row {bad} is {float(array[bad])!r}")
    return array


def _regression(y_true: ArrayLike, y_pred: ArrayLike | None) -> Outcome:
    if y_pred is None:
        raise ValidationError("a regression task needs y_pred; got None")
    y = float_vector(y_true, "y_true")
    if y.size == 0:
        raise ValidationError("y_true is empty; evaluation needs at least one row")
    pred = float_vector(y_pred, "y_pred", y.size)
    return Outcome(Task.REGRESSION, y, pred, None, 0)


def _classification(
    task: Task,
    y_true: ArrayLike,
    y_pred: ArrayLike | None,
    proba: ArrayLike | None,
    n_classes: int | None,
) -> Outcome:
    if y_pred is None and proba is None:
        raise ValidationError(f"a {task.value} task needs proba or y_pred; got neither")
    y = float_vector(y_true, "y_true")
    if y.size == 0:
        raise ValidationError("y_true is empty; evaluation needs at least one row")
    checked = _proba(task, proba, y.size) if proba is not None else None
    given = None if y_pred is None else float_vector(y_pred, "y_pred", y.size)
    k = _n_classes(task, np.r_[y, given if given is not None else []], checked, n_classes)
    _check_codes(y, "y_true", k)
    if given is None:
        assert checked is not None
        return Outcome(task, y, _decide(checked), checked, k)
    _check_codes(given, "y_pred", k)
    return Outcome(task, y, given, checked, k)


def _proba(task: Task, proba: ArrayLike, n_rows: int) -> FloatArray:
    array = np.asarray(proba, dtype=np.float64)
    if task is Task.BINARY and array.ndim == 2 and array.shape[1] == 2:
        array = array[:, 1]
    expected = 1 if task is Task.BINARY else 2
    if array.ndim != expected:
        shape = "(n,) or (n, 2)" if expected == 1 else "(n, k)"
        raise ValidationError(
            f"proba for a {task.value} task must be {shape}; got shape {array.shape}"
        )
    _check_rows(array, "proba", n_rows)
    if not np.all((array >= 0.0) & (array <= 1.0)):
        raise ValidationError("proba must hold probabilities in [0, 1]; found values outside")
    return array


def _n_classes(task: Task, codes: FloatArray, proba: FloatArray | None, given: int | None) -> int:
    """Classes of the task: 2 (binary), proba's columns, ``given``, or the codes seen."""
    if task is Task.BINARY:
        return 2
    if proba is not None:
        found = int(proba.shape[1])
        if given is not None and given != found:
            raise ValidationError(f"n_classes is {given} but proba has {found} columns")
        return found
    if given is not None:
        return given
    return max(int(codes.max()) + 1, 2)


def _check_codes(values: FloatArray, name: str, n_classes: int) -> None:
    ok = (values == np.round(values)) & (values >= 0) & (values < n_classes)
    if not np.all(ok):
        bad = int(np.flatnonzero(~ok)[0])
        raise ValidationError(
            f"{name} must hold class codes 0..{n_classes - 1}; row {bad} is "
            f"{float(values[bad])!r}. Encode labels as codes and pass the names as class_labels"
        )


def _decide(proba: FloatArray) -> FloatArray:
    if proba.ndim == 1:
        return np.asarray(proba >= 0.5, dtype=np.float64)
    return np.asarray(np.argmax(proba, axis=1), dtype=np.float64)


def _check_rows(
    array: NDArray[np.float64], name: str, n_rows: int | None, against: str = "y_true"
) -> None:
    if n_rows is not None and array.shape[0] != n_rows:
        raise ValidationError(
            f"{name} has {array.shape[0]} rows but {against} has {n_rows}; pass aligned arrays"
        )


def _preview(values: object) -> str:
    text = repr(values)
    return text if len(text) <= 80 else text[:77] + "..."
