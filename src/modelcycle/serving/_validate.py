"""Request validation against a model's signature, on plain Python values (no pandas).

Each input column gets one small checker built once per model version; a request
is checked cell by cell and every problem names its row, field, value and the
expectation. At most :data:`MAX_REPORTED` problems are listed.

A request of :data:`COLUMNAR_MIN_ROWS` rows or more is first checked column by
column (:mod:`modelcycle.serving._columnar`), which also extracts the columns the
model reads; only when that finds something does the request go cell by cell, so
its error is the same as a small request's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelcycle.core import ValidationError
from modelcycle.packaging import InputSpec, Signature
from modelcycle.serving._columnar import MAX_NUMBER, WHOLE_64_BITS, ColumnChecks, Columns
from modelcycle.serving._encode import quoted, shown_text
from modelcycle.serving._errors import PayloadTooLarge

#: How many bad cells one error lists.
MAX_REPORTED = 10

#: Requests with at least this many rows are checked column by column first; below
#: it, checking cell by cell costs less than extracting the columns (a single row:
#: about 25 microseconds for 24 fields).
COLUMNAR_MIN_ROWS = 16

#: What an error shows instead of a sensitive field's value.
REDACTED = "<redacted>"

#: A checker returns ``None`` for a good value, else what was expected.
Checker = Callable[[Any], str | None]


#: What a number outside :data:`MAX_NUMBER` is told (every flavor reads float32 safely).
NUMBER_RANGE = (
    f"a number from {-MAX_NUMBER:.8g} to {MAX_NUMBER:.8g} (the float32 range: tree "
    "learners and XGBoost read numbers as 32-bit floats)"
)


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "a number"
    if isinstance(value, float) and math.isinf(value):
        return "a finite number"
    if isinstance(value, int) and value not in WHOLE_64_BITS:
        return "a whole number within 64 bits"
    if abs(value) > MAX_NUMBER:
        return NUMBER_RANGE
    return None


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _datetime(value: Any) -> str | None:
    if not isinstance(value, str):
        return "an ISO 8601 date-time string"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return "an ISO 8601 date-time string"
    return None


_TYPE_CHECKS: dict[str, Checker] = {
    "double": _number,
    "long": _number,
    "boolean": _boolean,
    "string": _string,
    "datetime": _datetime,
}


def _category(spec: InputSpec) -> Checker:
    allowed = frozenset(spec.categories or ())
    shown = "" if spec.sensitive else f" {sorted(allowed)[:20]}"

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "a string"
        return None if value in allowed else f"one of the allowed values{shown}"

    return check


@dataclass(frozen=True)
class Checked:
    """A request that passed validation: its rows, and its columns when checked column-wise.

    ``columns`` (every signature input, numbers as NumPy arrays) is what the model
    reads fastest; ``None`` for a request checked cell by cell (small, or one the
    column checks could not clear), which the model then reads as it was sent.
    """

    n_rows: int
    columns: Columns | None = None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _checker(spec: InputSpec) -> Checker:
    """One function checking a present, non-missing cell of ``spec``'s column."""
    if spec.type == "string" and spec.categories is not None:
        return _category(spec)
    return _TYPE_CHECKS[spec.type]


class InputValidator:
    """Checks rows or columns against a signature before they reach the model.

    Parameters
    ----------
    signature:
        The served version's signature.
    max_rows:
        Most rows one request may carry (413 beyond).

    Examples
    --------
    >>> from modelcycle.packaging import InputSpec, Signature
    >>> check = InputValidator(Signature((InputSpec("age", "long", False),)), max_rows=10)
    >>> check.rows([{"age": 31}])
    1
    """

    def __init__(self, signature: Signature, *, max_rows: int) -> None:
        self.signature = signature
        self.max_rows = max_rows
        self.names = frozenset(signature.names)
        self._checks = [(spec, _checker(spec)) for spec in signature.inputs]
        self._columnar = ColumnChecks(signature)

    def check(self, inputs: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> int:
        """Check rows or columns, whichever were sent; return the number of rows."""
        return self.prepare(inputs).n_rows

    def prepare(self, inputs: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> Checked:
        """Check rows or columns; a large request also comes back as the model's columns.

        Raises the same errors, naming row, field, value and expectation, as
        :meth:`rows` and :meth:`columns`.
        """
        if isinstance(inputs, Mapping):
            return self._prepare_columns(inputs)
        self._check_count(len(inputs))
        if len(inputs) >= COLUMNAR_MIN_ROWS:
            columns = self._columnar.rows(inputs)
            if columns is not None:
                return Checked(columns.n_rows, columns)
        return Checked(self.rows(inputs))

    def _prepare_columns(self, inputs: Mapping[str, Sequence[Any]]) -> Checked:
        lengths = {len(values) for values in inputs.values()}
        if len(lengths) == 1 and COLUMNAR_MIN_ROWS <= min(lengths) <= self.max_rows:
            columns = self._columnar.columns(inputs, min(lengths))
            if columns is not None:
                return Checked(columns.n_rows, columns)
        return Checked(self.columns(inputs))  # every problem found as before

    def as_columns(
        self, inputs: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
    ) -> Columns | None:
        """The inputs as the model's columns when the column checks clear every value.

        ``None`` when a value needs a closer look (:meth:`rows` or :meth:`columns` then
        names it); it refuses nothing. A number column may also be a NumPy int64 array,
        or float64 with NaN where missing (as batch scoring reads a Parquet file).
        """
        if not isinstance(inputs, Mapping):
            return self._columnar.rows(inputs) if inputs else None
        lengths = {len(values) for values in inputs.values()}
        if len(lengths) != 1 or not min(lengths):
            return None
        return self._columnar.columns(inputs, min(lengths))

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Check a list of row dicts; return the number of rows."""
        self._check_count(len(rows))
        problems: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            unknown = row.keys() - self.names
            if unknown:
                self._unknown(sorted(unknown, key=str), index)
            for spec, check in self._checks:
                if spec.required and spec.name not in row:
                    problems.append(_absent(spec, index))
                    continue
                problem = _cell(spec, check, row.get(spec.name), index)
                if problem is not None:
                    problems.append(problem)
            if len(problems) >= MAX_REPORTED:
                break
        _raise_for(problems)
        return len(rows)

    def columns(self, columns: Mapping[str, Sequence[Any]]) -> int:
        """Check a dict of equal-length columns; return the number of rows."""
        unknown = sorted(columns.keys() - self.names, key=str)
        if unknown:
            self._unknown(unknown, None)
        n_rows = _common_length(columns)
        self._check_count(n_rows)
        problems: list[dict[str, Any]] = []
        for spec, check in self._checks:
            values = columns.get(spec.name)
            if values is None and spec.required:
                problems.append(_absent(spec, 0))
                continue
            for index in range(n_rows):
                value = None if values is None else values[index]
                problem = _cell(spec, check, value, index)
                if problem is not None:
                    problems.append(problem)
                    if len(problems) >= MAX_REPORTED:
                        _raise_for(problems)
        _raise_for(problems)
        return n_rows

    def _check_count(self, n_rows: int) -> None:
        if n_rows == 0:
            raise ValidationError("the request has no rows; send at least one")
        if n_rows > self.max_rows:
            raise PayloadTooLarge(
                f"the request has {n_rows} rows; at most {self.max_rows} are accepted per "
                "request (split it, or use 'modelcycle score' for batch files)",
                details={"rows": n_rows, "limit": self.max_rows},
            )

    def _unknown(self, unknown: list[str], row: int | None) -> None:
        where = f"row {row}: " if row is not None else ""
        shown = [shown_value(name) for name in unknown[:MAX_REPORTED]]
        more = f" (and {len(unknown) - MAX_REPORTED} more)" if len(unknown) > MAX_REPORTED else ""
        raise ValidationError(
            f"{where}unknown field(s) [{', '.join(map(_quoted, unknown[:MAX_REPORTED]))}]{more}; "
            f"the model expects {self.signature.names}",
            details={"row": row, "field": shown[0], "expected": self.signature.names},
        )


def _absent(spec: InputSpec, row: int) -> dict[str, Any]:
    """The problem of a required field left out of a row (or of every row)."""
    return {
        "row": row,
        "field": spec.name,
        "value": None,
        "absent": True,
        "expected": f"the field ({spec.type}) in every row: it is required (send null where "
        "a value is unknown)",
    }


def _cell(spec: InputSpec, check: Checker, value: Any, row: int) -> dict[str, Any] | None:
    if _missing(value):
        if spec.nullable:
            return None
        expected = f"a value ({spec.type}); the field is required and may not be null or NaN"
    else:
        found = check(value)
        if found is None:
            return None
        expected = f"{found} ({spec.type})"
    shown = REDACTED if spec.sensitive else shown_value(value)
    return {"row": row, "field": spec.name, "value": shown, "expected": expected}


def shown_value(value: Any) -> Any:
    """The offending value as an error can carry it, whatever the client sent.

    NaN and infinities as text; long text cut (with its length) and lone surrogates
    escaped; an integer past 64 bits, a list or an object summarised, never quoted whole.

    Examples
    --------
    >>> shown_value(float("nan")), shown_value([1, [2]]), shown_value({"a": 1})
    ('nan', '<a list of 2 items>', '<an object of 1 fields>')
    """
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return shown_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and value not in WHOLE_64_BITS:
        return f"<a whole number of {value.bit_length()} bits>"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return f"<a list of {len(value)} items>"
    if isinstance(value, Mapping):
        return f"<an object of {len(value)} fields>"
    return f"<{type(value).__name__}>"


def _quoted(value: Any) -> str:
    """A shown value in a message: text quoted (cut, surrogates escaped), others as shown."""
    return quoted(value) if isinstance(value, str) else str(shown_value(value))


def _common_length(columns: Mapping[str, Sequence[Any]]) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValidationError(
            f"columns have different lengths {lengths}; expected the same number of rows in each",
            details={"lengths": lengths},
        )
    return next(iter(lengths.values()), 0)


def _raise_for(problems: list[dict[str, Any]]) -> None:
    if not problems:
        return
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    found = "it is missing" if first.get("absent") else f"got {first['value']!r}"
    raise ValidationError(
        f"row {first['row']}, field {quoted(first['field'])}: {found}; "
        f"expected {first['expected']}{more}",
        details={**first, "errors": problems},
    )
