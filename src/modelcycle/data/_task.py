"""Task detection: binary, multiclass or regression, from the target's values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from modelcycle.core import Task, ValidationError
from modelcycle.data._read import target_missing
from modelcycle.data._values import describe_examples, is_datetime, is_number, value_counts

#: Whole-number targets with at most this many distinct values are classes.
MAX_CLASSES = 20
_TASKS = [t.value for t in Task]


def check_target(frame: pd.DataFrame, target: str, *, source: str = "the data") -> pd.Series:
    """The target column of ``frame``; names ``source`` and its columns when it is absent.

    Raises
    ------
    ValidationError
        ``target`` is not a column of ``frame``.

    Examples
    --------
    >>> check_target(pd.DataFrame({"y": [1]}), "y").tolist()
    [1]
    """
    if target not in frame.columns:
        raise target_missing(target, source, [str(c) for c in frame.columns])
    column: pd.Series = frame[target]
    return column


def detect_task(
    target: pd.Series, override: Task | str | None = None, *, max_classes: int = MAX_CLASSES
) -> Task:
    """Decide what a model of ``target`` predicts, or check a declared task against it.

    Two distinct values make a binary task. Text, categories and booleans with more
    make a multiclass task; so do whole numbers (including floats that hold only whole
    numbers, as a CSV column with missing values does) with at most ``max_classes``
    distinct values. Other numbers make a regression task. Missing values are ignored.

    Parameters
    ----------
    target:
        The target column.
    override:
        A declared task (``"binary"``, ``"multiclass"``, ``"regression"``); it is
        checked against the values instead of guessed.
    max_classes:
        Most distinct whole numbers still read as classes.

    Raises
    ------
    ValidationError
        The target has no values or a single value, or ``override`` is unknown or does
        not fit the values (e.g. ``"regression"`` on text, ``"binary"`` on 3 classes).

    Examples
    --------
    >>> import pandas as pd
    >>> detect_task(pd.Series([0, 1, 1, 0])).value
    'binary'
    >>> detect_task(pd.Series([1.5, 2.25, 3.0])).value
    'regression'
    >>> detect_task(pd.Series([1, 2, 3, 1]), "regression").value
    'regression'
    """
    if not isinstance(target, pd.Series):
        raise ValidationError(f"target is a {type(target).__name__}; expected a pandas Series")
    name = str(target.name) if target.name is not None else "target"
    declared = parse_task(override)
    counts = value_counts(target, name)
    _check_values(target, counts, name)
    if declared is None:
        return _guess(target, counts, max_classes)
    _check_fits(declared, target, counts, name)
    return declared


def parse_task(override: Task | str | None) -> Task | None:
    """Return ``override`` as a :class:`Task` (``None`` stays ``None``), or raise."""
    if override is None or isinstance(override, Task):
        return override
    try:
        return Task(str(override).strip().lower())
    except ValueError as exc:
        raise ValidationError(
            f"task {override!r} is not known; expected one of {_TASKS}",
            details={"field": "task", "value": str(override)},
        ) from exc


def _check_values(target: pd.Series, counts: pd.Series, name: str) -> None:
    if counts.empty:
        raise ValidationError(
            f"target {name!r} has no values (all {len(target)} are missing); "
            "expected labels or numbers to learn from",
            details={"column": name},
        )
    if len(counts) == 1:
        raise ValidationError(
            f"target {name!r} has a single value {describe_examples(counts.index, 1)}; "
            "expected at least two classes, or varying numbers for regression",
            details={"column": name},
        )
    if is_datetime(target):
        raise ValidationError(
            f"target {name!r} holds dates; expected labels or numbers "
            "(predict e.g. a duration in days instead)",
            details={"column": name},
        )


def _guess(target: pd.Series, counts: pd.Series, max_classes: int) -> Task:
    if len(counts) == 2:
        return Task.BINARY
    if not is_number(target):
        return Task.MULTICLASS
    if _whole_numbers(target, counts) and len(counts) <= max_classes:
        return Task.MULTICLASS
    return Task.REGRESSION


def _whole_numbers(target: pd.Series, counts: pd.Series) -> bool:
    if ptypes.is_integer_dtype(target.dtype):
        return True
    values = np.asarray(counts.index, dtype=np.float64)
    return bool((np.isfinite(values) & (values == np.round(values))).all())


def _check_fits(task: Task, target: pd.Series, counts: pd.Series, name: str) -> None:
    if task is Task.REGRESSION and not is_number(target):
        raise ValidationError(
            f"task 'regression' needs a numeric target, but {name!r} holds "
            f"{target.dtype} values (e.g. {describe_examples(counts.index)}); "
            "expected 'binary' or 'multiclass' for labels",
            details={"column": name, "task": task.value},
        )
    if task is Task.BINARY and len(counts) != 2:
        raise ValidationError(
            f"task 'binary' needs exactly 2 classes, but target {name!r} has {len(counts)} "
            f"(e.g. {describe_examples(counts.index)}); expected 'multiclass' or 'regression'",
            details={"column": name, "task": task.value, "classes": len(counts)},
        )
