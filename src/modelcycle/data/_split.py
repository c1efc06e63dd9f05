"""Train/test splits of a table, stratified by the target for classification."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelcycle.core import Task, ValidationError
from modelcycle.data._task import check_target, detect_task, parse_task
from modelcycle.data._values import describe_examples


def train_test_split_frame(
    df: pd.DataFrame,
    target: str,
    task: Task | str | None = None,
    test_size: float | int = 0.2,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into shuffled train and test frames, keeping the original index.

    For binary and multiclass tasks the split is stratified, so each class keeps its
    share on both sides; regression splits are plain shuffles.

    Parameters
    ----------
    df:
        The table, with no missing values in ``target``.
    target:
        The target column.
    task:
        The task; detected from the target when ``None``.
    test_size:
        Share of rows (a float in (0, 1)) or number of rows (an int) in the test frame.
    random_state:
        Seed; the same seed on the same table gives the same split.

    Raises
    ------
    ValidationError
        The target is absent or has missing values, ``test_size`` is out of range, or a
        class has too few rows to appear on both sides.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": range(10), "y": ["a", "b"] * 5})
    >>> train, test = train_test_split_frame(df, "y", "binary", test_size=0.4)
    >>> len(train), sorted(test["y"])
    (6, ['a', 'a', 'b', 'b'])
    """
    labels = _labels(df, target)
    declared = parse_task(task)
    resolved = detect_task(labels, declared) if declared is None else declared
    _check_test_size(test_size, len(df))
    stratify = None
    if resolved is not Task.REGRESSION:
        stratify = labels.astype(str).to_numpy()
        _check_classes(labels, target)
    from sklearn.model_selection import train_test_split  # heavy: import on use

    try:
        train, test = train_test_split(
            np.arange(len(df)), test_size=test_size, random_state=random_state, stratify=stratify
        )
    except ValueError as exc:
        raise ValidationError(
            f"cannot split {len(df)} rows by target {target!r} with test_size={test_size!r}: "
            f"{exc}; expected a test size of at least one row per class",
            details={"column": target},
        ) from exc
    return df.iloc[train], df.iloc[test]


def _labels(df: pd.DataFrame, target: str) -> pd.Series:
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame; got a {type(df).__name__}")
    labels = check_target(df, target, source="the table")
    missing = int(labels.isna().sum())
    if missing:
        raise ValidationError(
            f"target {target!r} is missing in {missing} of {len(df)} rows; expected labelled "
            f"rows only (drop them first: df.dropna(subset=[{target!r}]))",
            details={"column": target, "rows": missing},
        )
    return labels


def _check_test_size(test_size: float | int, rows: int) -> None:
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        valid = False
    elif isinstance(test_size, int):
        valid = 1 <= test_size < rows
    else:
        valid = 0.0 < test_size < 1.0
    if not valid:
        raise ValidationError(
            f"test_size is {test_size!r}; expected a share between 0 and 1 or a number of "
            f"rows between 1 and {rows - 1}",
            details={"field": "test_size"},
        )


def _check_classes(labels: pd.Series, target: str) -> None:
    counts = labels.astype(str).value_counts()
    single = counts[counts < 2]
    if not single.empty:
        raise ValidationError(
            f"target {target!r} has classes with a single row ({describe_examples(single.index)}); "
            "expected at least 2 rows per class for a stratified split",
            details={"column": target, "classes": [str(c) for c in single.index]},
        )
