"""Schema overrides: what a user declares about columns, from a small TOML or JSON file.

A TOML file looks like::

    target = "churn"            # optional

    [columns.age]
    kind = "integer"

    [columns.email]
    sensitive = true
    drop = true

    [columns.coupon]
    optional = true             # callers may leave it out (it counts as missing)

and the same as JSON: ``{"target": "churn", "columns": {"age": {"kind": "integer"}}}``.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeAlias

from modelcycle.core import Column, ColumnKind, ValidationError

_KINDS = [k.value for k in ColumnKind]
_FLAGS = ("sensitive", "drop", "nullable", "optional")
_FIELDS = ("kind", *_FLAGS, "categories", "note")
_TOP_LEVEL = ("target", "columns")
#: Kinds that are excluded from modelling unless ``drop = false`` says otherwise.
DROPPED_KINDS = frozenset({ColumnKind.IDENTIFIER, ColumnKind.CONSTANT})


@dataclass(frozen=True, slots=True)
class ColumnOverride:
    """What a user declares about one column; ``None`` leaves the inferred value."""

    kind: ColumnKind | None = None
    sensitive: bool | None = None
    drop: bool | None = None
    nullable: bool | None = None
    optional: bool | None = None
    categories: tuple[str, ...] | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict holding only the declared fields."""
        data: dict[str, Any] = {}
        if self.kind is not None:
            data["kind"] = self.kind.value
        for name in _FLAGS:
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.categories is not None:
            data["categories"] = list(self.categories)
        if self.note is not None:
            data["note"] = self.note
        return data

    @classmethod
    def from_dict(
        cls, data: Any, *, column: str, origin: str = "schema overrides"
    ) -> ColumnOverride:
        """Build an override from a mapping, naming ``origin`` and ``column`` in errors."""
        where = f"{origin}: column {column!r}"
        if not isinstance(data, Mapping):
            raise _invalid(f"{where} is {data!r}; expected a table of fields {list(_FIELDS)}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise _invalid(
                f"{where} has unknown field {unknown[0]!r}; expected fields {list(_FIELDS)}",
                column=column,
                field=unknown[0],
            )
        flags = {name: _flag(data, name, where, column) for name in _FLAGS}
        return cls(
            kind=_kind(data, where, column),
            categories=_categories(data, where, column),
            note=_note(data, where, column),
            **flags,
        )

    def apply(self, column: Column, *, origin: str) -> Column:
        """Return ``column`` with this override's declared fields replacing inferred ones."""
        kind = self.kind if self.kind is not None else column.kind
        dropped = column.dropped if self.kind is None else kind in DROPPED_KINDS
        categories = column.categories
        if self.kind is not None and kind not in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN):
            categories = None
        changed = ", ".join(f"{k} = {v!r}" for k, v in self.to_dict().items() if k != "note")
        note = self.note if self.note is not None else f"set by {origin}: {changed}"
        return replace(
            column,
            kind=kind,
            dropped=self.drop if self.drop is not None else dropped,
            sensitive=self.sensitive if self.sensitive is not None else column.sensitive,
            nullable=self.nullable if self.nullable is not None else column.nullable,
            optional=self.optional if self.optional is not None else column.optional,
            categories=self.categories if self.categories is not None else categories,
            note=note if changed or self.note is not None else column.note,
        )


@dataclass(frozen=True, slots=True)
class SchemaOverrides:
    """Declared column overrides and, optionally, the target, with where they came from."""

    columns: Mapping[str, ColumnOverride] = field(default_factory=dict)
    target: str | None = None
    origin: str = "schema overrides"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict in the file format :func:`load_schema_overrides` reads."""
        data: dict[str, Any] = {}
        if self.target is not None:
            data["target"] = self.target
        data["columns"] = {name: o.to_dict() for name, o in self.columns.items()}
        return data

    @classmethod
    def from_dict(cls, data: Any, *, origin: str = "schema overrides") -> SchemaOverrides:
        """Build overrides from a mapping (a parsed file), naming ``origin`` in errors."""
        if not isinstance(data, Mapping):
            raise _invalid(f"{origin} is {type(data).__name__}; expected a table with 'columns'")
        unknown = sorted(set(data) - set(_TOP_LEVEL))
        if unknown:
            raise _invalid(
                f"{origin} has unknown key {unknown[0]!r}; expected keys {list(_TOP_LEVEL)}",
                field=unknown[0],
            )
        target = data.get("target")
        if target is not None and not isinstance(target, str):
            raise _invalid(f"{origin}: 'target' is {target!r}; expected a column name (text)")
        columns = data.get("columns", {})
        if not isinstance(columns, Mapping):
            raise _invalid(f"{origin}: 'columns' is {columns!r}; expected a table of columns")
        parsed = {
            str(name): ColumnOverride.from_dict(value, column=str(name), origin=origin)
            for name, value in columns.items()
        }
        return cls(columns=parsed, target=target, origin=origin)


#: What ``infer_schema(overrides=...)`` accepts: overrides, a mapping in the file format
#: (or of column name to fields), or the path of a ``.toml``/``.json`` file.
OverridesLike: TypeAlias = SchemaOverrides | Mapping[str, Any] | str | os.PathLike[str] | None


def load_schema_overrides(path: str | os.PathLike[str]) -> SchemaOverrides:
    """Read schema overrides from a ``.toml`` or ``.json`` file.

    Raises
    ------
    ValidationError
        The file is missing, is not valid TOML/JSON, or declares an unknown column field
        or a bad value; the message names the file, column, field and value.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "schema.toml"
    >>> _ = path.write_text('[columns.age]\\nkind = "integer"\\n')
    >>> load_schema_overrides(path).columns["age"].kind
    <ColumnKind.INTEGER: 'integer'>
    """
    file = Path(path)
    origin = f"schema overrides file '{file}'"
    if file.suffix.lower() not in (".toml", ".json"):
        raise _invalid(f"{origin} has an unknown extension; expected a .toml or .json file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _invalid(f"{origin} could not be read ({exc}); expected a UTF-8 text file") from exc
    try:
        data = tomllib.loads(text) if file.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if file.suffix.lower() == ".toml" else "JSON"
        raise _invalid(f"{origin} is not valid {kind}: {exc}") from exc
    return SchemaOverrides.from_dict(data, origin=origin)


def as_overrides(value: OverridesLike) -> SchemaOverrides | None:
    """Accept overrides as an object, a mapping in the file format, a path, or ``None``."""
    if value is None or isinstance(value, SchemaOverrides):
        return value
    if isinstance(value, str | os.PathLike):
        return load_schema_overrides(value)
    if isinstance(value, Mapping):
        if "columns" not in value and "target" not in value:
            value = {"columns": value}
        return SchemaOverrides.from_dict(value, origin="overrides argument")
    raise _invalid(
        f"overrides is a {type(value).__name__}; expected a SchemaOverrides, a mapping "
        "of column name to fields, or a path to a .toml/.json file"
    )


def _kind(data: Mapping[str, Any], where: str, column: str) -> ColumnKind | None:
    value = data.get("kind")
    if value is None:
        return None
    if value not in _KINDS:
        raise _invalid(
            f"{where} field 'kind' has value {value!r}; expected one of {_KINDS}",
            column=column,
            field="kind",
        )
    return ColumnKind(value)


def _flag(data: Mapping[str, Any], name: str, where: str, column: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise _invalid(
            f"{where} field {name!r} has value {value!r}; expected true or false",
            column=column,
            field=name,
        )
    return value


def _categories(data: Mapping[str, Any], where: str, column: str) -> tuple[str, ...] | None:
    value = data.get("categories")
    if value is None:
        return None
    scalars = isinstance(value, list) and all(isinstance(v, str | int | float) for v in value)
    if not scalars:
        raise _invalid(
            f"{where} field 'categories' has value {value!r}; expected a list of values",
            column=column,
            field="categories",
        )
    return tuple(str(v) for v in value)


def _note(data: Mapping[str, Any], where: str, column: str) -> str | None:
    value = data.get("note")
    if value is not None and not isinstance(value, str):
        raise _invalid(
            f"{where} field 'note' has value {value!r}; expected text",
            column=column,
            field="note",
        )
    return value


def _invalid(message: str, **details: str) -> ValidationError:
    return ValidationError(message, details=details)
