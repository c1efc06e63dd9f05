"""Shared value types: tasks, column kinds, schemas and model references."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modelcycle.core._errors import ValidationError
from modelcycle.core._names import ALIAS, MODEL_NAME


class Task(StrEnum):
    """What a model predicts."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class ColumnKind(StrEnum):
    """The role a column's values play, as inferred or declared."""

    NUMERIC = "numeric"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"
    IDENTIFIER = "identifier"
    CONSTANT = "constant"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: its name, kind, and what is known of its values.

    ``categories`` lists allowed values for categorical and boolean columns;
    ``dropped`` with a ``note`` marks columns excluded from modelling; ``optional``
    lets callers of a model trained on the table leave the column out (it is then
    treated as missing) — other columns never missing in training are required.
    """

    name: str
    kind: ColumnKind
    nullable: bool = True
    categories: tuple[str, ...] | None = None
    sensitive: bool = False
    dropped: bool = False
    note: str | None = None
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data: dict[str, Any] = {"name": self.name, "kind": self.kind.value}
        data["nullable"] = self.nullable
        if self.categories is not None:
            data["categories"] = list(self.categories)
        if self.sensitive:
            data["sensitive"] = True
        if self.dropped:
            data["dropped"] = True
        if self.optional:
            data["optional"] = True
        if self.note:
            data["note"] = self.note
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        """Build a column from :meth:`to_dict` output."""
        try:
            kind = ColumnKind(data["kind"])
        except (KeyError, ValueError) as exc:
            raise ValidationError(
                f"column {data.get('name')!r} has kind {data.get('kind')!r}; "
                f"expected one of {[k.value for k in ColumnKind]}"
            ) from exc
        categories = data.get("categories")
        return cls(
            name=str(data["name"]),
            kind=kind,
            nullable=bool(data.get("nullable", True)),
            categories=tuple(str(c) for c in categories) if categories is not None else None,
            sensitive=bool(data.get("sensitive", False)),
            dropped=bool(data.get("dropped", False)),
            note=data.get("note"),
            optional=bool(data.get("optional", False)),
        )


@dataclass(frozen=True, slots=True)
class Schema:
    """An ordered set of columns, optionally naming the target."""

    columns: tuple[Column, ...]
    target: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValidationError(f"schema has duplicated column names {duplicated}")

    @property
    def names(self) -> list[str]:
        """Names of all columns, in order."""
        return [c.name for c in self.columns]

    @property
    def features(self) -> list[Column]:
        """Columns used as model inputs: not dropped and not the target."""
        return [c for c in self.columns if not c.dropped and c.name != self.target]

    def __getitem__(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "target": self.target,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Build a schema from :meth:`to_dict` output."""
        return cls(
            columns=tuple(Column.from_dict(c) for c in data.get("columns", [])),
            target=data.get("target"),
            notes=tuple(data.get("notes", ())),
        )


_REF = re.compile(
    rf"(?P<name>{MODEL_NAME.segment})(?:@(?P<alias>{ALIAS.segment})|/(?P<version>[0-9]{{1,9}}))?",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A reference to a model version: ``name``, ``name@alias`` or ``name/version``.

    Examples
    --------
    >>> ModelRef.parse("churn/3")
    ModelRef(name='churn', alias=None, version=3)
    >>> ModelRef.parse("churn").alias
    'champion'
    """

    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse a reference; a bare name means ``name@champion``.

        The whole text must match (no surrounding white space, no trailing newline),
        by the rules of :data:`~modelcycle.core.MODEL_NAME` and :data:`~modelcycle.core.ALIAS`.
        """
        match = _REF.fullmatch(text) if isinstance(text, str) else None
        if not match:
            raise ValidationError(
                f"model reference {text!r} is not valid; expected 'name', 'name@alias' "
                f"or 'name/version' (name: {MODEL_NAME.expected}; alias: {ALIAS.expected})"
            )
        version = match.group("version")
        alias = match.group("alias")
        if version is None and alias is None:
            alias = "champion"
        return cls(match.group("name"), alias, int(version) if version else None)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return f"{self.name}@{self.alias}"
