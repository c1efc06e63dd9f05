"""Schema inference: the kind of each column, and which columns to leave out of modelling.

Every decision is made on the distinct values of a column weighted by their counts, so
a million rows of a low-cardinality column cost one ``value_counts``. Text columns are
tested, in order, for booleans (``yes``/``no``), numbers, dates, free text, identifiers,
and otherwise taken as categorical.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.data._overrides import (
    DROPPED_KINDS,
    OverridesLike,
    SchemaOverrides,
    as_overrides,
)
from modelcycle.data._task import check_target
from modelcycle.data._values import (
    describe_examples,
    guess_date_format,
    is_datetime,
    is_number,
    parse_dates,
    parse_numbers,
    value_counts,
)

#: Default most categories listed in a categorical column's schema entry.
MAX_CATEGORIES = 50
#: A column unique per row is called an identifier only from this many rows on
#: (unless its name or values say so), so tiny tables keep their columns.
MIN_ROWS_FOR_KEYS = 20
#: Share of (non-missing) values that must parse for text to count as numbers or dates.
PARSE_SHARE = 0.95
_SAMPLE = 1000
_TEXT_MEAN_WORDS = 3.0
_TEXT_VOCABULARY = 50
_BOOLEAN_WORDS = ({"true", "false"}, {"yes", "no"}, {"y", "n"}, {"t", "f"})
_ID_NAME = re.compile(
    r"^(?:id|uuid|guid|key|index|row_?id|unnamed: ?\d+)$|[_\s.-](?:id|uuid|guid|key)$"
    r"|^(?:id|uuid|guid)[_\s.-]",
    re.IGNORECASE,
)
_ID_NAME_CAMEL = re.compile(r"[a-z0-9](?:Id|ID|Uuid|UUID)$")
_UUID = re.compile(r"^[0-9a-f]{8}-?(?:[0-9a-f]{4}-?){3}[0-9a-f]{12}$", re.IGNORECASE)
_LEADING_ZERO = re.compile(r"^[+-]?0\d")


@dataclass(frozen=True, slots=True)
class _Guess:
    kind: ColumnKind
    categories: tuple[str, ...] | None = None
    note: str | None = None


def infer_schema(
    df: pd.DataFrame,
    *,
    target: str | None = None,
    overrides: OverridesLike = None,
    max_categories: int = MAX_CATEGORIES,
) -> Schema:
    """Infer a :class:`~modelcycle.core.Schema` from a DataFrame.

    Parameters
    ----------
    df:
        The table; column names must be unique strings.
    target:
        The column to predict; it is never dropped. Defaults to the ``target`` of the
        overrides, if they name one.
    overrides:
        A :class:`SchemaOverrides`, a path to a ``.toml``/``.json`` overrides file, or a
        mapping ``{column: {"kind": ..., "drop": ..., "sensitive": ...}}``.
    max_categories:
        Categorical columns with at most this many distinct values list them in
        ``Column.categories``.

    Returns
    -------
    Schema
        One column per DataFrame column, in order. Identifier-like and constant columns
        are ``dropped`` with a ``note`` saying why.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": range(30), "x": [0.5, 1.5] * 15, "y": ["a", "b", "c"] * 10})
    >>> schema = infer_schema(df, target="y")
    >>> [(c.name, c.kind.value, c.dropped) for c in schema.columns]
    [('id', 'identifier', True), ('x', 'numeric', False), ('y', 'categorical', False)]
    """
    _check_frame(df)
    if isinstance(max_categories, bool) or not isinstance(max_categories, int):
        raise ValidationError(f"max_categories is {max_categories!r}; expected an integer")
    declared = as_overrides(overrides)
    target = _resolve_target(df, target, declared)
    columns = [
        infer_column(df[name], name=name, is_target=name == target, max_categories=max_categories)
        for name in df.columns
    ]
    if declared is not None:
        columns = _apply_overrides(df, columns, declared, target, max_categories)
    return Schema(tuple(columns), target=target, notes=_notes(columns, declared))


def infer_column(
    series: pd.Series, *, name: str, is_target: bool = False, max_categories: int = MAX_CATEGORIES
) -> Column:
    """Infer one column's kind; the target is never marked as an identifier or dropped."""
    counts = value_counts(series, name)
    missing = len(series) - int(counts.sum())
    guess = _constant(counts, missing) or _guess(series, counts, name, is_target, max_categories)
    return Column(
        name=name,
        kind=guess.kind,
        nullable=missing > 0,
        categories=guess.categories,
        dropped=guess.kind in DROPPED_KINDS and not is_target,
        note=guess.note,
    )


def _check_frame(df: pd.DataFrame) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame; got a {type(df).__name__}")
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise ValidationError(
            f"column name {bad[0]!r} is a {type(bad[0]).__name__}; expected text names "
            "(rename with df.columns = df.columns.astype(str))"
        )
    names = list(df.columns)
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValidationError(f"the table has duplicated column names {duplicated}")


def _resolve_target(
    df: pd.DataFrame, target: str | None, declared: SchemaOverrides | None
) -> str | None:
    if target is None and declared is not None:
        target = declared.target
    if target is not None:
        check_target(df, target, source="the table")
    return target


def _constant(counts: pd.Series, missing: int) -> _Guess | None:
    if counts.empty:
        return _Guess(ColumnKind.CONSTANT, note="every value is missing")
    if len(counts) == 1 and missing == 0:
        value = describe_examples(counts.index, 1)
        return _Guess(ColumnKind.CONSTANT, note=f"constant: every value is {value}")
    return None


def _guess(
    series: pd.Series, counts: pd.Series, name: str, is_target: bool, max_categories: int
) -> _Guess:
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return _Guess(ColumnKind.BOOLEAN, _category_names(counts))
    if is_datetime(series):
        return _Guess(ColumnKind.DATETIME)
    if ptypes.is_timedelta64_dtype(dtype):
        return _Guess(ColumnKind.NUMERIC, note="durations, used as seconds")
    if is_number(series):
        return _numeric(series, counts, name, is_target)
    if isinstance(dtype, pd.CategoricalDtype):
        return _boolean_words(counts) or _categorical(counts, max_categories)
    return _textual(series, counts, name, is_target, max_categories)


def _numeric(series: pd.Series, counts: pd.Series, name: str, is_target: bool) -> _Guess:
    values = np.asarray(counts.index, dtype=np.float64)
    if is_target and np.isin(values, (0.0, 1.0)).all():
        return _Guess(ColumnKind.BOOLEAN, _category_names(counts))
    # A 0/1 feature stays a number: new data may bring a 2 (a count that was never above 1).
    whole = np.isfinite(values) & (values == np.round(values))
    integral = ptypes.is_integer_dtype(series.dtype) or bool(whole.all())
    if integral and not is_target and _looks_like_key(series, counts, name):
        return _identifier(counts, len(series))
    return _Guess(ColumnKind.INTEGER if integral else ColumnKind.NUMERIC)


def _textual(
    series: pd.Series, counts: pd.Series, name: str, is_target: bool, max_categories: int
) -> _Guess:
    boolean = _boolean_words(counts)
    if boolean is not None:
        return boolean
    numbers = _numbers_in_text(counts)
    if numbers is not None:
        whole = numbers.kind is ColumnKind.INTEGER
        if whole and not is_target and _looks_like_key(series, counts, name):
            return _identifier(counts, len(series))
        return numbers
    dates = _date_objects(counts) or _dates_in_text(counts)
    if dates is not None:
        return dates
    if len(counts) > max_categories and _looks_like_text(counts.index):
        return _Guess(ColumnKind.TEXT, note=f"free text: {len(counts)} distinct values")
    if not is_target and _looks_like_key(series, counts, name):
        return _identifier(counts, len(series))
    return _categorical(counts, max_categories)


def _boolean_words(counts: pd.Series) -> _Guess | None:
    if len(counts) > 2:
        return None
    words = {str(v).strip().lower() for v in counts.index}
    if any(words <= pair for pair in _BOOLEAN_WORDS):
        return _Guess(ColumnKind.BOOLEAN, _category_names(counts))
    return None


def _numbers_in_text(counts: pd.Series) -> _Guess | None:
    texts = [str(v).strip() for v in counts.index[:_SAMPLE]]
    if any(_LEADING_ZERO.match(t) for t in texts):
        return None  # codes such as zip codes keep their leading zeros as categories
    sample = counts.iloc[:_SAMPLE]
    if _parsed_share(sample, ~np.isnan(parse_numbers(sample.index))) < PARSE_SHARE:
        return None
    numbers = parse_numbers(counts.index)
    parsed = ~np.isnan(numbers)
    if _parsed_share(counts, parsed) < PARSE_SHARE:
        return None
    finite = numbers[parsed & np.isfinite(numbers)]
    whole = bool((finite == np.round(finite)).all())
    kind = ColumnKind.INTEGER if whole else ColumnKind.NUMERIC
    return _Guess(kind, note=_unparsed_note(counts, parsed, "numbers"))


def _date_objects(counts: pd.Series) -> _Guess | None:
    """Dates and timestamps held as Python objects, as SQL drivers return them."""
    sample = counts.index[:_SAMPLE]
    if all(isinstance(v, datetime.date) for v in sample):
        return _Guess(ColumnKind.DATETIME, note="dates held as Python objects")
    return None


def _dates_in_text(counts: pd.Series) -> _Guess | None:
    sample = counts.iloc[:_SAMPLE]
    date_format = guess_date_format(sample.index)
    if date_format is None:
        return None
    parsed = parse_dates(sample.index, date_format).notna().to_numpy()
    if _parsed_share(sample, parsed) < PARSE_SHARE:
        return None
    note = f"dates in text, format {date_format!r}"
    unparsed = _unparsed_note(sample, parsed, "dates")
    return _Guess(ColumnKind.DATETIME, note=f"{note}; {unparsed}" if unparsed else note)


def _looks_like_text(values: pd.Index) -> bool:
    texts = [v for v in values[:_SAMPLE] if isinstance(v, str)]
    if not texts:
        return False
    words = [text.split() for text in texts]
    mean_words = sum(len(w) for w in words) / len(texts)
    vocabulary = {word.lower() for split in words for word in split}
    return mean_words >= _TEXT_MEAN_WORDS and len(vocabulary) >= _TEXT_VOCABULARY


def _looks_like_key(series: pd.Series, counts: pd.Series, name: str) -> bool:
    """Unique per row, and named like a key, shaped like a UUID, or on enough rows."""
    if len(counts) != len(series) or len(series) < 2:
        return False
    if _ID_NAME.search(name) or _ID_NAME_CAMEL.search(name):
        return True
    sample = [str(v) for v in counts.index[:_SAMPLE]]
    if all(_UUID.match(v) for v in sample):
        return True
    # Whole numbers or text, unique per row: a code (customer, district, ticket), never a
    # measurement a model can generalise from (continuous numbers never come here).
    return len(series) >= MIN_ROWS_FOR_KEYS


def _identifier(counts: pd.Series, rows: int) -> _Guess:
    return _Guess(
        ColumnKind.IDENTIFIER,
        note=f"identifier-like: {len(counts)} distinct values in {rows} rows "
        f"(e.g. {describe_examples(counts.index)}); dropped from modelling (declare its kind "
        "in a schema file to keep it)",
    )


def _categorical(counts: pd.Series, max_categories: int) -> _Guess:
    if len(counts) <= max_categories:
        return _Guess(ColumnKind.CATEGORICAL, _category_names(counts))
    note = f"high cardinality: {len(counts)} distinct values, more than {max_categories} listed"
    return _Guess(ColumnKind.CATEGORICAL, note=note)


def category_names(series: pd.Series, name: str, max_categories: int) -> tuple[str, ...] | None:
    """Return a column's distinct values as sorted text, or ``None`` above the limit."""
    counts = value_counts(series, name)
    return _category_names(counts) if len(counts) <= max_categories else None


def _category_names(counts: pd.Series) -> tuple[str, ...]:
    """Distinct values as text, in numeric order for numbers and text order otherwise."""
    values = list(counts.index)
    if all(_is_plain_number(v) for v in values):
        return tuple(dict.fromkeys(str(v) for v in sorted(values)))
    return tuple(sorted({str(v) for v in values}))


def _is_plain_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _parsed_share(counts: pd.Series, parsed: np.ndarray) -> float:
    weights = counts.to_numpy(dtype=np.int64)
    total = int(weights.sum())
    return float(weights[parsed].sum() / total) if total else 0.0


def _unparsed_note(counts: pd.Series, parsed: np.ndarray, what: str) -> str | None:
    if parsed.all():
        return None
    bad = counts[~parsed]
    return (
        f"{int(bad.sum())} values are not {what} (e.g. {describe_examples(bad.index)}); "
        "they are read as missing"
    )


def _apply_overrides(
    df: pd.DataFrame,
    columns: list[Column],
    declared: SchemaOverrides,
    target: str | None,
    max_categories: int,
) -> list[Column]:
    unknown = sorted(set(declared.columns) - set(df.columns))
    if unknown:
        raise ValidationError(
            f"{declared.origin} names column {unknown[0]!r}, which is not in the table; "
            f"columns are {_names(df)}",
            details={"column": unknown[0]},
        )
    result = []
    for column in columns:
        override = declared.columns.get(column.name)
        if override is None:
            result.append(column)
            continue
        changed = override.apply(column, origin=declared.origin)
        if changed.name == target and changed.dropped:
            raise ValidationError(
                f"{declared.origin} drops column {target!r}, which is the target; "
                "expected the target to be kept (remove 'drop' or choose another target)",
                details={"column": target, "field": "drop"},
            )
        listable = changed.kind in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)
        if listable and changed.categories is None and override.kind is not None:
            categories = category_names(df[column.name], column.name, max_categories)
            changed = replace(changed, categories=categories)
        result.append(changed)
    return result


def _notes(columns: list[Column], declared: SchemaOverrides | None) -> tuple[str, ...]:
    notes = []
    dropped = [f"{c.name!r} ({c.kind.value})" for c in columns if c.dropped]
    if dropped:
        notes.append(f"dropped from modelling: {', '.join(dropped)}")
    if declared is not None and declared.columns:
        notes.append(f"applied {declared.origin} to columns {sorted(declared.columns)}")
    return tuple(notes)


def _names(df: pd.DataFrame) -> str:
    names = [str(c) for c in df.columns]
    shown = names[:20]
    return str(shown) if len(names) <= 20 else f"{shown[:-1]} and {len(names) - 19} more"
