"""The run filter language and ``order_by`` clauses, compiled to SQL.

Grammar (keywords are case-insensitive)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := field op value | field ["not"] "in" "(" value ("," value)* ")"
                | field "is" ["not"] "null"
    field      := ("metrics" | "params" | "tags") "." key | ["attributes" "."] attribute
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"

A key with characters other than letters, digits, ``_ - . /`` is quoted with
backticks or double quotes: ``metrics.`val loss` < 0.3``. Metrics compare with
numbers (their latest value); params and tags are strings, so quote their values.

Examples
--------
>>> parse_filter("metrics.auc > 0.9 and params.lr = '0.1'").kind
'and'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from modelcycle.core import ValidationError
from modelcycle.store import tables

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
      | (?P<quoted>`[^`]+`)
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_\-/]*(?:\.[A-Za-z0-9_\-/]+)*)
    )""",
    re.VERBOSE,
)

_KINDS = {
    "metrics": "metric", "metric": "metric",
    "params": "param", "param": "param",
    "tags": "tag", "tag": "tag",
}  # fmt: skip
_ATTRIBUTES = {
    "run_id": tables.runs.c.run_id,
    "name": tables.runs.c.name,
    "run_name": tables.runs.c.name,
    "status": tables.runs.c.status,
    "start_time": tables.runs.c.start_time,
    "end_time": tables.runs.c.end_time,
    "parent_run_id": tables.runs.c.parent_run_id,
    "git_commit": tables.runs.c.git_commit,
    "user": tables.runs.c.user_name,
    "experiment": tables.experiments.c.name,
}
_NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
_OPS = {"=", "==", "!=", "<>", "<", "<=", ">", ">=", "like", "ilike"}


@dataclass(frozen=True, slots=True)
class Field:
    """A thing a filter or order can name: ``metric``/``param``/``tag`` + key, or an attribute."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class Node:
    """A parsed filter: ``and``/``or``/``not`` of children, or one comparison."""

    kind: str
    children: tuple[Node, ...] = ()
    field: Field | None = None
    op: str | None = None
    value: Any = None


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    position: int


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def error(self, expected: str) -> ValidationError:
        if self.index < len(self.tokens):
            token = self.tokens[self.index]
            where = f"at position {token.position + 1} ({token.text!r})"
        else:
            where = "at the end"
        return ValidationError(
            f"filter {self.text!r} has a syntax error {where}: expected {expected}; "
            "example: \"metrics.auc > 0.9 and params.lr = '0.1'\"",
            details={"filter": self.text, "expected": expected},
        )

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self, expected: str) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error(expected)
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.index += 1
            return True
        return False

    def parse(self) -> Node:
        if not self.tokens:
            raise self.error("a condition")
        node = self.expr()
        if self.peek() is not None:
            raise self.error("'and', 'or' or the end of the filter")
        return node

    def expr(self) -> Node:
        nodes = [self.and_expr()]
        while self.keyword("or"):
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else Node("or", tuple(nodes))

    def and_expr(self) -> Node:
        nodes = [self.not_expr()]
        while self.keyword("and"):
            nodes.append(self.not_expr())
        return nodes[0] if len(nodes) == 1 else Node("and", tuple(nodes))

    def not_expr(self) -> Node:
        if self.keyword("not"):
            return Node("not", (self.not_expr(),))
        token = self.peek()
        if token is not None and token.text == "(":
            self.index += 1
            node = self.expr()
            if self.next("')'").text != ")":
                self.index -= 1
                raise self.error("')'")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        field = self.field()
        if self.keyword("is"):
            negate = self.keyword("not")
            if not self.keyword("null"):
                raise self.error("'null' after 'is'")
            return Node("compare", field=field, op="is not null" if negate else "is null")
        if self.keyword("not"):
            if not self.keyword("in"):
                raise self.error("'in' after 'not'")
            return Node("compare", field=field, op="not in", value=self.value_list())
        if self.keyword("in"):
            return Node("compare", field=field, op="in", value=self.value_list())
        token = self.next("a comparison operator (=, !=, <, <=, >, >=, like, ilike, in)")
        op = token.text.lower()
        if op not in _OPS:
            self.index -= 1
            raise self.error("a comparison operator (=, !=, <, <=, >, >=, like, ilike, in)")
        op = {"==": "=", "<>": "!="}.get(op, op)
        return Node("compare", field=field, op=op, value=self.value())

    def field(self) -> Field:
        token = self.next("a field such as metrics.auc, params.lr, tags.team or status")
        if token.kind != "word":
            self.index -= 1
            raise self.error("a field such as metrics.auc, params.lr, tags.team or status")
        prefix, dot, rest = token.text.partition(".")
        prefix = prefix.lower()
        if prefix in _KINDS:
            key = rest
            if not dot or not key:
                following = self.peek()
                if dot and following is not None and following.kind == "quoted":
                    self.index += 1
                    key = following.text[1:-1]
                elif dot and following is not None and following.kind == "string":
                    self.index += 1
                    key = _unquote(following.text)
                else:
                    raise self.error(f"a key after '{prefix}.', e.g. {prefix}.auc")
            return Field(_KINDS[prefix], key)
        name = rest if prefix in ("attributes", "attribute", "attr", "run") and dot else token.text
        if name.lower() not in _ATTRIBUTES:
            self.index -= 1
            raise self.error(
                "metrics.<key>, params.<key>, tags.<key> or one of "
                + ", ".join(sorted(_ATTRIBUTES))
            )
        return Field("attribute", name.lower())

    def value(self) -> Any:
        token = self.next("a value (a number or a quoted string)")
        if token.kind == "number":
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        if token.kind == "string":
            return _unquote(token.text)
        self.index -= 1
        raise self.error("a value (a number or a quoted string)")

    def value_list(self) -> tuple[Any, ...]:
        if self.next("'('").text != "(":
            self.index -= 1
            raise self.error("'(' starting a list of values")
        values = [self.value()]
        while True:
            token = self.next("',' or ')'")
            if token.text == ")":
                return tuple(values)
            if token.text != ",":
                self.index -= 1
                raise self.error("',' or ')'")
            values.append(self.value())


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    if quote == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    stripped_end = len(text.rstrip())
    while position < stripped_end:
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = len(text) - len(text[position:].lstrip())
            raise ValidationError(
                f"filter {text!r} has a syntax error at position {start + 1} "
                f"({text[start : start + 10]!r}): unexpected character",
                details={"filter": text},
            )
        kind = match.lastgroup
        assert kind is not None
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


@functools.lru_cache(maxsize=256)
def parse_filter(text: str) -> Node:
    """Parse a filter string, raising :class:`ValidationError` that points at the error.

    Parsed filters are immutable, so repeated searches reuse them.
    """
    return _Parser(text).parse()


def _check_value(field: Field, op: str, value: Any) -> Any:
    values = value if isinstance(value, tuple) else (value,)
    numeric = field.kind == "metric" or field.key in _NUMERIC_ATTRIBUTES
    for item in values:
        if numeric and not isinstance(item, int | float):
            raise ValidationError(
                f"filter compares {_label(field)} with {item!r}; expected a number"
            )
        if not numeric and not isinstance(item, str):
            raise ValidationError(
                f"filter compares {_label(field)} with the number {item!r}; {_label(field)} "
                f"holds text, so quote the value: '{item}'"
            )
    if numeric and op in ("like", "ilike"):
        raise ValidationError(f"filter uses {op!r} on {_label(field)}; it holds numbers")
    return value


def _label(field: Field) -> str:
    return field.key if field.kind == "attribute" else f"{field.kind}s.{field.key}"


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "is null":
        return column.is_(None)  # type: ignore[no-any-return]
    if op == "is not null":
        return column.is_not(None)  # type: ignore[no-any-return]
    comparisons = {
        "=": lambda: column == value,
        "!=": lambda: column != value,
        "<": lambda: column < value,
        "<=": lambda: column <= value,
        ">": lambda: column > value,
        ">=": lambda: column >= value,
        "like": lambda: column.like(value),
        "ilike": lambda: column.ilike(value),
        "in": lambda: column.in_(value),
        "not in": lambda: column.not_in(value),
    }
    return comparisons[op]()  # type: ignore[no-any-return]


def value_column(field: Field) -> Any:
    """A correlated scalar expression giving ``field``'s value for the current run row."""
    if field.kind == "attribute":
        return _ATTRIBUTES[field.key]
    table = {"metric": tables.latest_metrics, "param": tables.params, "tag": tables.tags}[
        field.kind
    ]
    return (
        sa.select(table.c.value)
        .where(table.c.run_id == tables.runs.c.run_id, table.c.key == field.key)
        .scalar_subquery()
    )


def compile_filter(node: Node) -> ColumnElement[bool]:
    """Turn a parsed filter into a SQL condition on ``runs`` (joined with ``experiments``)."""
    if node.kind == "and":
        return sa.and_(*(compile_filter(child) for child in node.children))
    if node.kind == "or":
        return sa.or_(*(compile_filter(child) for child in node.children))
    if node.kind == "not":
        return sa.not_(compile_filter(node.children[0]))
    assert node.field is not None and node.op is not None
    field = node.field
    if node.op not in ("is null", "is not null"):
        _check_value(field, node.op, node.value)
    if field.kind == "attribute":
        return _compare(_ATTRIBUTES[field.key], node.op, node.value)
    if node.op == "is null":
        return ~_exists(field, None)
    if node.op == "is not null":
        return _exists(field, None)
    return _exists(field, node)


def _exists(field: Field, node: Node | None) -> ColumnElement[bool]:
    table = {"metric": tables.latest_metrics, "param": tables.params, "tag": tables.tags}[
        field.kind
    ]
    # An uncorrelated IN (...) is evaluated once (using the (key, value) index of
    # latest_metrics) instead of probing every run: several times faster on large searches.
    query = sa.select(table.c.run_id).where(table.c.key == field.key)
    if node is not None:
        assert node.op is not None
        query = query.where(_compare(table.c.value, node.op, node.value))
    return tables.runs.c.run_id.in_(query)


def parse_order_by(clauses: str | list[str] | tuple[str, ...] | None) -> list[Any]:
    """Parse ``["metrics.auc DESC", "start_time"]`` into SQL ORDER BY terms (NULLs last)."""
    if clauses is None:
        return [tables.runs.c.start_time.desc(), tables.runs.c.run_id]
    if isinstance(clauses, str):
        clauses = [clauses]
    terms: list[Any] = []
    for clause in clauses:
        text = clause.strip()
        direction = "asc"
        lowered = text.lower()
        for suffix in (" desc", " asc"):
            if lowered.endswith(suffix):
                direction = suffix.strip()
                text = text[: -len(suffix)].strip()
                break
        parser = _Parser(text)
        try:
            field = parser.field()
        except ValidationError as exc:
            raise ValidationError(
                f"order_by {clause!r} is not valid; expected a field such as 'metrics.auc DESC', "
                "'params.lr' or 'start_time ASC'"
            ) from exc
        if parser.peek() is not None:
            raise ValidationError(
                f"order_by {clause!r} is not valid; expected '<field> [ASC|DESC]'"
            )
        column = value_column(field)
        ordered = column.desc() if direction == "desc" else column.asc()
        terms.append(ordered.nulls_last())
    terms.append(tables.runs.c.run_id)
    return terms
