"""Checks that a table is fit for training, run before any model sees it.

:func:`validate` never raises for a problem in the data; it returns every finding in a
:class:`ValidationReport`, whose :meth:`~ValidationReport.raise_for_errors` stops the
caller when an error was found. Thresholds live in :class:`ValidationRules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from modelcycle.core import Column, ColumnKind, Schema, Task, ValidationError
from modelcycle.data._leakage import leakage_scores
from modelcycle.data._report import Issue, Severity, ValidationReport, error, warning
from modelcycle.data._task import MAX_CLASSES, detect_task, parse_task
from modelcycle.data._values import (
    describe_examples,
    examples,
    guess_date_format,
    is_datetime,
    is_textual,
    parse_dates,
    parse_numbers,
    value_counts,
)

_NUMERIC_KINDS = (ColumnKind.NUMERIC, ColumnKind.INTEGER)
_LISTED_KINDS = (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)


@dataclass(frozen=True, slots=True)
class ValidationRules:
    """Thresholds of :func:`validate`.

    Below ``min_rows`` labelled rows, or ``min_rows_per_class`` rows in any class, is
    an error; below the ``recommended_*`` counts a warning. A majority/minority class
    ratio of ``imbalance_ratio`` or more is a warning, and so is a single feature
    whose holdout score exceeds ``leakage_threshold``.
    """

    min_rows: int = 20
    min_rows_per_class: int = 5
    recommended_rows: int = 100
    recommended_rows_per_class: int = 20
    imbalance_ratio: float = 10.0
    leakage_threshold: float = 0.99
    leakage_max_rows: int = 20_000
    max_classes: int = MAX_CLASSES


@dataclass(slots=True)
class _Target:
    issues: list[Issue] = field(default_factory=list)
    task: Task | None = None
    labels: pd.Series | None = None


def validate(
    df: pd.DataFrame,
    schema: Schema,
    *,
    task: Task | str | None = None,
    rules: ValidationRules | None = None,
) -> ValidationReport:
    """Check a table against its schema before training.

    Errors: no rows; declared columns missing; missing target column; target all
    missing or with one class; a task that does not fit the target; too few rows or
    too few rows in a class; a date column where no value parses. Warnings: rows
    without a target, few rows, class imbalance, mixed numbers and words in a column,
    some unparseable dates, missing values in a column declared without them, values
    outside declared categories, duplicated rows, columns not in the schema, and
    leakage suspects (one feature that predicts the target almost perfectly).

    Parameters
    ----------
    df:
        The training table.
    schema:
        Its schema, e.g. from :func:`infer_schema`; ``schema.target`` names the target.
    task:
        The declared task; detected from the target when ``None``.
    rules:
        Thresholds; :class:`ValidationRules` defaults when ``None``.

    Examples
    --------
    >>> import pandas as pd
    >>> from modelcycle.data import infer_schema
    >>> df = pd.DataFrame({"x": range(10), "y": [0, 1] * 5})
    >>> report = validate(df, infer_schema(df, target="y"))
    >>> report.ok, [issue.code for issue in report.errors]
    (False, ['too_few_rows'])
    """
    declared = _check_arguments(df, schema, task)
    rules = rules if rules is not None else ValidationRules()
    if len(df) == 0:
        issue = error("no_rows", "the table has no rows; expected data to train on")
        return ValidationReport(rows=0, task=declared, errors=(issue,))
    issues = _check_columns(df, schema)
    target = _check_target(df, schema, declared, rules)
    issues += target.issues
    issues += _check_size(df, schema.target, target, rules)
    for column in schema.columns:
        if not column.dropped and column.name in df.columns:
            issues += _check_values(df[column.name], column)
    issues += _check_duplicates(df)
    if target.labels is not None and target.task is not None and not _errors(issues):
        issues += _check_leakage(df, schema, target.labels, target.task, rules)
    return ValidationReport(
        rows=len(df),
        task=target.task,
        errors=tuple(i for i in issues if i.severity is Severity.ERROR),
        warnings=tuple(i for i in issues if i.severity is Severity.WARNING),
    )


def _check_arguments(df: pd.DataFrame, schema: Schema, task: Task | str | None) -> Task | None:
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame; got a {type(df).__name__}")
    if not isinstance(schema, Schema):
        raise ValidationError(f"expected a modelcycle Schema; got a {type(schema).__name__}")
    return parse_task(task)


def _errors(issues: list[Issue]) -> bool:
    return any(issue.severity is Severity.ERROR for issue in issues)


def _check_columns(df: pd.DataFrame, schema: Schema) -> list[Issue]:
    issues = []
    missing = [c.name for c in schema.features if c.name not in df.columns]
    if missing:
        issues.append(
            error(
                "missing_column",
                f"columns {missing} are declared in the schema but missing from the table; "
                "expected every feature column",
                columns=missing,
            )
        )
    extra = [str(c) for c in df.columns if c not in schema.names]
    if extra:
        issues.append(
            warning(
                "unknown_column",
                f"columns {extra} are not in the schema and will be ignored",
                columns=extra,
            )
        )
    return issues


def _check_target(
    df: pd.DataFrame, schema: Schema, declared: Task | None, rules: ValidationRules
) -> _Target:
    name = schema.target
    if name is None:
        if declared is None:
            return _Target()
        message = f"task {declared.value!r} was given but the schema names no target column"
        return _Target([error("no_target", message + "; expected infer_schema(df, target=...)")])
    if name not in df.columns:
        return _Target(
            [error("missing_target", f"target column {name!r} is missing from the table", name)]
        )
    labels = df[name].dropna()
    result = _Target(labels=labels)
    if labels.empty:
        result.issues.append(
            error("target_empty", f"target {name!r} has no values; all are missing", name)
        )
        return result
    missing = len(df) - len(labels)
    if missing:
        message = (
            f"target {name!r} is missing in {missing} of {len(df)} rows "
            f"({missing / len(df):.1%}); those rows cannot be used for training"
        )
        result.issues.append(warning("target_missing", message, name, rows=missing))
    result.task = _task(labels, name, declared, rules, result.issues)
    return result


def _task(
    labels: pd.Series, name: str, declared: Task | None, rules: ValidationRules, issues: list[Issue]
) -> Task | None:
    try:
        values = value_counts(labels, name)
    except ValidationError:
        return None  # reported by the column checks
    if len(values) == 1:
        message = (
            f"target {name!r} has a single value {describe_examples(values.index, 1)}; "
            "expected at least two classes, or varying numbers for regression"
        )
        issues.append(error("target_single_value", message, name))
        return None
    try:
        return detect_task(labels, declared, max_classes=rules.max_classes)
    except ValidationError as exc:
        issues.append(error("task_mismatch", exc.message, name))
        return None


def _check_size(
    df: pd.DataFrame, name: str | None, target: _Target, rules: ValidationRules
) -> list[Issue]:
    rows = len(target.labels) if target.labels is not None else len(df)
    what = "labelled rows" if target.labels is not None else "rows"
    issues = []
    if rows < rules.min_rows:
        message = f"only {rows} {what}; expected at least {rules.min_rows} to train and validate"
        issues.append(error("too_few_rows", message, name, rows=rows))
    elif rows < rules.recommended_rows:
        message = f"only {rows} {what}; results will be unreliable below {rules.recommended_rows}"
        issues.append(warning("few_rows", message, name, rows=rows))
    if target.labels is not None and target.task in (Task.BINARY, Task.MULTICLASS):
        counts = target.labels.astype(str).value_counts()
        issues += _check_classes(counts, str(name), rules)
    return issues


def _check_classes(counts: pd.Series, name: str, rules: ValidationRules) -> list[Issue]:
    issues = []
    for limit, build, code in (
        (rules.min_rows_per_class, error, "class_too_small"),
        (rules.recommended_rows_per_class, warning, "small_class"),
    ):
        small = counts[counts < limit].sort_index()
        if not small.empty:
            listed = ", ".join(f"{c!r} has {n}" for c, n in list(small.items())[:5])
            listed += f" and {len(small) - 5} more" if len(small) > 5 else ""
            message = f"target {name!r} has classes with fewer than {limit} rows: {listed}"
            classes = {str(c): int(n) for c, n in list(small.items())[:20]}
            issues.append(build(code, message, name, classes=classes))
            break
    ratio = counts.max() / counts.min()
    if ratio >= rules.imbalance_ratio:
        major, minor = str(counts.idxmax()), str(counts.idxmin())
        message = (
            f"target {name!r} is imbalanced: class {major!r} has {counts.max()} rows and "
            f"class {minor!r} {counts.min()} (ratio {ratio:.1f}); consider class weights "
            "and a metric that accounts for imbalance"
        )
        issues.append(warning("class_imbalance", message, name, ratio=round(float(ratio), 3)))
    return issues


def _check_values(series: pd.Series, column: Column) -> list[Issue]:
    try:
        counts = value_counts(series, column.name)
    except ValidationError as exc:
        return [error("unsupported_values", exc.message, column.name)]
    issues = [
        _mixed_types(series, counts, column),
        _bad_dates(series, counts, column),
        _unexpected_missing(series, counts, column),
        _unknown_categories(counts, column),
    ]
    return [issue for issue in issues if issue is not None]


def _mixed_types(series: pd.Series, counts: pd.Series, column: Column) -> Issue | None:
    if not is_textual(series) or column.kind in (ColumnKind.TEXT, ColumnKind.DATETIME):
        return None
    parsed = ~np.isnan(parse_numbers(counts.index))
    weights = counts.to_numpy(dtype=np.int64)
    numbers, others = int(weights[parsed].sum()), int(weights[~parsed].sum())
    if not numbers or not others:
        return None
    python_types = {isinstance(v, str) for v in counts.index}
    if not (column.kind in _NUMERIC_KINDS or numbers >= others or len(python_types) == 2):
        return None
    number_examples, other_examples = counts.index[parsed], counts.index[~parsed]
    message = (
        f"column {column.name!r} mixes numbers and words: {numbers} numbers "
        f"(e.g. {describe_examples(number_examples)}) and {others} other values "
        f"(e.g. {describe_examples(other_examples)}); expected one type — fix or blank the "
        "odd values, or declare the column categorical"
    )
    return warning(
        "mixed_types",
        message,
        column.name,
        numbers=numbers,
        others=others,
        examples=examples(number_examples) + examples(other_examples),
    )


def _bad_dates(series: pd.Series, counts: pd.Series, column: Column) -> Issue | None:
    if column.kind is not ColumnKind.DATETIME or is_datetime(series) or counts.empty:
        return None
    parsed = parse_dates(counts.index, guess_date_format(counts.index)).notna().to_numpy(copy=True)
    if not parsed.all():
        retried = parse_dates(counts.index[~parsed], None).notna().to_numpy()
        parsed[~parsed] = retried
    if parsed.all():
        return None
    bad = counts[~parsed]
    rows = int(bad.sum())
    shown = describe_examples(bad.index)
    if not parsed.any():
        message = f"column {column.name!r} is declared datetime but no value parses as a date"
        return error("dates_unparseable", f"{message} (e.g. {shown})", column.name, rows=rows)
    message = (
        f"column {column.name!r} has {rows} values that do not parse as dates "
        f"(e.g. {shown}); they will be treated as missing"
    )
    return warning(
        "unparseable_dates", message, column.name, rows=rows, examples=examples(bad.index)
    )


def _unexpected_missing(series: pd.Series, counts: pd.Series, column: Column) -> Issue | None:
    missing = len(series) - int(counts.sum())
    if column.nullable or not missing:
        return None
    message = f"column {column.name!r} was declared without missing values but has {missing}"
    return warning("unexpected_missing", message, column.name, rows=missing)


def _unknown_categories(counts: pd.Series, column: Column) -> Issue | None:
    if column.categories is None or column.kind not in _LISTED_KINDS:
        return None
    allowed = set(column.categories)
    unknown = [v for v in counts.index if str(v) not in allowed]
    if not unknown:
        return None
    rows = int(counts[[str(v) not in allowed for v in counts.index]].sum())
    message = (
        f"column {column.name!r} has {rows} values outside its declared categories "
        f"(e.g. {describe_examples(unknown)}); expected one of {list(column.categories)[:20]}"
    )
    return warning(
        "unknown_categories", message, column.name, rows=rows, examples=examples(unknown)
    )


def _check_duplicates(df: pd.DataFrame) -> list[Issue]:
    try:
        duplicated = int(df.duplicated().sum())
    except TypeError:  # unhashable cells; the column checks report them
        return []
    if not duplicated:
        return []
    message = (
        f"{duplicated} rows ({duplicated / len(df):.1%}) duplicate earlier rows; duplicates "
        "on both sides of a split inflate validation scores"
    )
    return [warning("duplicated_rows", message, rows=duplicated)]


def _check_leakage(
    df: pd.DataFrame, schema: Schema, labels: pd.Series, task: Task, rules: ValidationRules
) -> list[Issue]:
    features = [c for c in schema.features if c.name in df.columns]
    frame = df[df[str(schema.target)].notna().to_numpy()]
    scores = leakage_scores(frame, features, labels, task, max_rows=rules.leakage_max_rows)
    issues = []
    for found in scores:
        if found.score <= rules.leakage_threshold:
            continue
        message = (
            f"column {found.column!r} alone predicts target {schema.target!r} almost perfectly "
            f"(holdout {found.metric} {found.score:.3f}); check it is not derived from the "
            "target or recorded after the outcome, and drop it if so"
        )
        details = {"score": round(found.score, 6), "metric": found.metric}
        issues.append(warning("leakage", message, found.column, **details))
    return issues
