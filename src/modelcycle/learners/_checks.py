"""Checks of the inputs a learner receives, done once at its public edge.

Each function returns the checked value in the form the learners work with
(float64 matrices, int64 class codes) or raises :class:`~modelcycle.core.ValidationError`
saying what was expected and what arrived.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import Task, ValidationError

_JSON_SCALARS = (str, int, float, bool, type(None))


def check_task(task: Any, learner: str, supported: Iterable[Task]) -> Task:
    """Return ``task`` as a :class:`Task` the learner supports."""
    try:
        checked = Task(task)
    except ValueError:
        raise ValidationError(
            f"learner {learner!r} got task {task!r}; expected one of {[t.value for t in Task]}"
        ) from None
    if checked not in set(supported):
        raise ValidationError(f"learner {learner!r} does not support the {checked.value} task")
    return checked


def check_matrix(
    X: Any, name: str, learner: str, *, allow_nan: bool, n_features: int | None = None
) -> NDArray[np.float64]:
    """Return ``X`` as a 2-D float64 array with no infinities (NaN only if ``allow_nan``)."""
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"learner {learner!r} got {name} that is not numeric ({exc}); "
            "expected the float64 matrix made by modelcycle.features"
        ) from None
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValidationError(
            f"learner {learner!r} got {name} of shape {matrix.shape}; "
            "expected a 2-D matrix (rows, features) with at least one row"
        )
    if n_features is not None and matrix.shape[1] != n_features:
        raise ValidationError(
            f"learner {learner!r} was fitted on {n_features} features but {name} has "
            f"{matrix.shape[1]}; transform the rows with the same preprocessing"
        )
    _check_finite(matrix, name, learner, allow_nan=allow_nan)
    return matrix


def _check_finite(matrix: NDArray[np.float64], name: str, learner: str, *, allow_nan: bool) -> None:
    if np.isinf(matrix).any():
        raise ValidationError(f"learner {learner!r} got infinite values in {name}; expected finite")
    if not allow_nan and np.isnan(matrix).any():
        columns = sorted({int(c) for c in np.nonzero(np.isnan(matrix))[1]})
        raise ValidationError(
            f"learner {learner!r} needs finite values but {name} has NaN in columns "
            f"{columns[:10]}; impute missing values first (modelcycle.features does)"
        )


def check_target(y: Any, task: Task, n_rows: int, learner: str) -> tuple[NDArray[Any], int]:
    """Return ``y`` (int64 class codes or float64 values) and the number of classes.

    The number of classes is 2 for binary, ``max(code) + 1`` for multiclass and 0
    for regression.
    """
    values = np.asarray(y)
    if values.shape != (n_rows,):
        raise ValidationError(
            f"learner {learner!r} got y of shape {values.shape}; expected ({n_rows},), "
            "one value per row of X"
        )
    if task is Task.REGRESSION:
        return _regression_target(values, learner), 0
    codes = class_codes(values, "y", learner)
    n_classes = 2 if task is Task.BINARY else int(codes.max()) + 1
    if codes.max() >= n_classes or len(np.unique(codes)) < 2:
        raise ValidationError(
            f"learner {learner!r} got {task.value} classes {np.unique(codes).tolist()[:10]}; "
            "expected codes 0..k-1 with at least two classes (0 and 1 for binary)"
        )
    return codes, n_classes


def _regression_target(values: NDArray[Any], learner: str) -> NDArray[np.float64]:
    try:
        floats = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            f"learner {learner!r} got a non-numeric regression target of dtype {values.dtype}"
        ) from None
    if not np.isfinite(floats).all():
        raise ValidationError(
            f"learner {learner!r} got {int((~np.isfinite(floats)).sum())} missing or infinite "
            "target values; drop those rows first"
        )
    return floats


def class_codes(values: NDArray[Any], name: str, learner: str) -> NDArray[np.int64]:
    """Return integer class codes (>= 0) from ints or integral floats."""
    integral = values.dtype.kind in "iub" or (
        values.dtype.kind == "f" and np.isfinite(values).all() and (values % 1 == 0).all()
    )
    if not integral:
        raise ValidationError(
            f"learner {learner!r} got {name} of dtype {values.dtype} "
            f"(first values {values[:3].tolist()}); expected integer class codes 0..k-1"
        )
    codes = values.astype(np.int64)
    if codes.size and codes.min() < 0:
        raise ValidationError(f"learner {learner!r} got negative class code {codes.min()}")
    return codes


def check_validation(
    X_valid: Any, y_valid: Any, *, task: Task, n_features: int, n_classes: int, learner: str
) -> tuple[NDArray[np.float64], NDArray[Any]] | None:
    """Return the checked validation set, or ``None`` when none was given."""
    if X_valid is None and y_valid is None:
        return None
    if X_valid is None or y_valid is None:
        raise ValidationError(
            f"learner {learner!r} got only one of X_valid and y_valid; pass both or neither"
        )
    matrix = check_matrix(X_valid, "X_valid", learner, allow_nan=True, n_features=n_features)
    values = np.asarray(y_valid)
    if values.shape != (matrix.shape[0],):
        raise ValidationError(
            f"learner {learner!r} got y_valid of shape {values.shape}; "
            f"expected ({matrix.shape[0]},)"
        )
    if task is Task.REGRESSION:
        return matrix, _regression_target(values, learner)
    codes = class_codes(values, "y_valid", learner)
    if codes.max() >= n_classes:
        raise ValidationError(
            f"learner {learner!r} got class code {codes.max()} in y_valid; "
            f"the training data has codes 0..{n_classes - 1}"
        )
    return matrix, codes


def check_categorical(indices: Iterable[Any], n_features: int, learner: str) -> list[int]:
    """Return the categorical feature indices, sorted and unique, each in range."""
    checked: set[int] = set()
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ValidationError(
                f"learner {learner!r} got categorical feature {index!r}; expected column indices"
            )
        if not 0 <= int(index) < n_features:
            raise ValidationError(
                f"learner {learner!r} got categorical feature index {int(index)}; "
                f"expected 0..{n_features - 1}"
            )
        checked.add(int(index))
    return sorted(checked)


def check_class_weight(class_weight: Any, task: Task, learner: str) -> None:
    """Accept ``None`` always and ``"balanced"`` for classification tasks."""
    if class_weight is None:
        return
    if class_weight != "balanced":
        raise ValidationError(
            f"learner {learner!r} got class_weight {class_weight!r}; expected 'balanced' or None"
        )
    if task is Task.REGRESSION:
        raise ValidationError(
            f"learner {learner!r} got class_weight='balanced' for a regression task; "
            "class weighting applies to classification only"
        )


def check_time_limit(time_limit_s: Any, learner: str) -> float | None:
    """Return the time limit as a float (>= 0) or ``None``."""
    if time_limit_s is None:
        return None
    if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, int | float):
        raise ValidationError(
            f"learner {learner!r} got time_limit_s {time_limit_s!r}; expected seconds or None"
        )
    if math.isnan(time_limit_s) or time_limit_s < 0:
        raise ValidationError(
            f"learner {learner!r} got time_limit_s {time_limit_s!r}; expected >= 0"
        )
    return float(time_limit_s)


def check_params(
    params: Mapping[str, Any] | None, learner: str, allowed: frozenset[str] | None
) -> dict[str, Any]:
    """Return ``params`` as a dict of JSON-ready values with known names.

    ``allowed`` lists the accepted names; ``None`` accepts any name.
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ValidationError(f"learner {learner!r} got params {params!r}; expected a dict")
    for key, value in params.items():
        if allowed is not None and key not in allowed:
            raise ValidationError(
                f"learner {learner!r} has no parameter {key!r}; expected one of {sorted(allowed)}"
            )
        if not _is_json_value(value):
            raise ValidationError(
                f"learner {learner!r} got parameter {key}={value!r}; expected a number, "
                "string, bool, None or a list of those (parameters are saved as JSON)"
            )
    return dict(params)


def _is_json_value(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(isinstance(item, _JSON_SCALARS) for item in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, _JSON_SCALARS)


def balanced_weights(codes: NDArray[np.int64], n_classes: int) -> NDArray[np.float64]:
    """Return the per-class weights ``n / (k * count)`` of scikit-learn's ``"balanced"``.

    Classes absent from ``codes`` get weight 0 (they have no rows to weigh).

    Examples
    --------
    >>> balanced_weights(np.array([0, 0, 0, 1]), 2).tolist()
    [0.6666666666666666, 2.0]
    """
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes, dtype=np.float64)
    weights[present] = codes.size / (present.sum() * counts[present])
    return weights
