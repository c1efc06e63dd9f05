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
backticks or double quotes: ``metrics.`val loss` < 0.3``, ``tags."data set" = 'v2'``;
inside, a quote is doubled or escaped with a backslash (``metrics.`a``b` ``,
``params."say \"hi\""``). Metrics compare with numbers (their latest value); params
and tags are strings, so quote their values. ``status`` is one of ``RUNNING``,
``FINISHED``, ``FAILED`` and ``KILLED``.

A filter is at most :data:`MAX_FILTER_LENGTH` characters, nests ``not`` and
parentheses at most :data:`MAX_FILTER_DEPTH` deep and holds at most
:data:`MAX_FILTER_TERMS` comparisons; a longer, deeper or larger one is refused with
the position where it crosses the limit (long before Python's recursion limit or the
database's expression limits, which would fail with a traceback or an SQL error).

Examples
--------
>>> parse_filter("metrics.auc > 0.9 and params.lr = '0.1'").kind
'and'
>>> parse_filter("metrics.`val loss` < 0.3").field
Field(kind='metric', key='val loss')
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
from modelcycle.tracking._status import RUN_STATUSES

#: Longest filter (and ``order_by`` clause), in characters.
MAX_FILTER_LENGTH = 4096
#: Deepest nesting of ``not`` and parentheses.
MAX_FILTER_DEPTH = 32
#: Most comparisons in one filter.
MAX_FILTER_TERMS = 256

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
      | (?P<quoted>`(?:[^`\\]|\\.|``)*`)
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_\-/]*(?:\.[A-Za-z0-9_\-/]+)*\.?)
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
    "user_id": tables.runs.c.user_name,  # MLflow's name for it
    "experiment": tables.experiments.c.name,
}
_NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
_OPS = {"=", "==", "!=", "<>", "<", "<=", ">", ">=", "like", "ilike"}


@dataclass(frozen=True, slots=True)
class Field:
    """A thing a filter or order can name: ``metric``/``param``/``tag`` + key, or an attribute."""

    kind: str
    key: str


_STATUS = Field("attribute", "status")


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
        if len(text) > MAX_FILTER_LENGTH:
            raise _limit_error(
                text,
                MAX_FILTER_LENGTH,
                f"is {len(text):,} characters long; the limit is {MAX_FILTER_LENGTH:,}",
            )
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.terms = 0

    def error(self, expected: str) -> ValidationError:
        if self.index < len(self.tokens):
            token = self.tokens[self.index]
            where = f"at position {token.position + 1} ({_shorten(token.text)!r})"
            position = token.position + 1
        else:
            where, position = "at the end", len(self.text)
        return ValidationError(
            f"filter {_shown(self.text, position - 1)} has a syntax error {where}: expected "
            f"{expected}; example: \"metrics.auc > 0.9 and params.lr = '0.1'\"",
            details={"filter": self.text, "expected": expected, "position": position},
        )

    def nest(self, token: _Token) -> None:
        """Enter one more level of ``not`` or parentheses, refusing one too many."""
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise _limit_error(
                self.text,
                token.position,
                f"nests 'not' and parentheses more than {MAX_FILTER_DEPTH} deep",
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
        token = self.peek()
        if self.keyword("not"):
            assert token is not None
            self.nest(token)
            node = Node("not", (self.not_expr(),))
            self.depth -= 1
            return node
        if token is not None and token.text == "(" and token.kind == "punct":
            self.nest(token)
            self.index += 1
            node = self.expr()
            if self.next("')'").text != ")":
                self.index -= 1
                raise self.error("')'")
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        token = self.peek()
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS and token is not None:
            raise _limit_error(
                self.text, token.position, f"has more than {MAX_FILTER_TERMS} comparisons"
            )
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
                if not dot or following is None or following.kind not in ("quoted", "string"):
                    raise self.error(
                        f"a key after '{prefix}.', e.g. {prefix}.auc or {prefix}.`val loss`"
                    )
                key = _unquote(following.text)
                if not key:
                    raise self.error(f"a key between the quotes after '{prefix}.'")
                self.index += 1
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
    """The text between quotes (``'``, ``"`` or a backtick), with a doubled or
    backslash-escaped character taken literally."""
    quote, body = text[0], text[1:-1]
    escaped = re.compile(r"\\(.)|" + re.escape(quote * 2), re.DOTALL)
    return escaped.sub(lambda m: m.group(1) if m.group(1) is not None else quote, body)


def _limit_error(text: str, position: int, problem: str) -> ValidationError:
    return ValidationError(
        f"filter {_shown(text, position)} {problem} (at position {position + 1}); "
        "split the search, or select runs by experiment or tag instead",
        details={"filter": _shorten(text, 200), "position": position + 1},
    )


def _shown(text: str, position: int) -> str:
    """``text`` quoted for a message: all of it when short, else the part around ``position``."""
    if len(text) <= 200:
        return repr(text)
    start = max(0, position - 40)
    end = min(start + 80, len(text))
    return f"{text[start:end]!r} (characters {start + 1}-{end} of {len(text):,})"


def _shorten(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[:most] + "..."


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    stripped_end = len(text.rstrip())
    while position < stripped_end:
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = len(text) - len(text[position:].lstrip())
            raise ValidationError(
                f"filter {_shown(text, start)} has a syntax error at position {start + 1} "
                f"({text[start : start + 10]!r}): unexpected character",
                details={"filter": text, "position": start + 1},
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
    if field == _STATUS and op in ("=", "!=", "in", "not in"):
        unknown = [item for item in values if item not in RUN_STATUSES]
        if unknown:
            raise ValidationError(
                f"filter compares status with {unknown[0]!r}; expected one of "
                + ", ".join(repr(status) for status in RUN_STATUSES)
            )
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


def compile_filter(node: Node, *, probe: bool = False) -> ColumnElement[bool]:
    """Turn a parsed filter into a SQL condition on ``runs`` (joined with ``experiments``).

    A metric, param or tag comparison is by default an uncorrelated ``run_id IN
    (...)``: each list is read once from its ``(key, value, run_id)`` index, the right
    plan for a search over every run. ``probe=True`` compiles it to a correlated
    ``EXISTS`` instead, looked up by ``(run_id, key)`` for each run the query visits:
    the right plan when only a few runs are visited (a window of the newest runs).
    """
    if node.kind == "and":
        return sa.and_(*(compile_filter(child, probe=probe) for child in node.children))
    if node.kind == "or":
        return sa.or_(*(compile_filter(child, probe=probe) for child in node.children))
    if node.kind == "not":
        return sa.not_(compile_filter(node.children[0], probe=probe))
    assert node.field is not None and node.op is not None
    field = node.field
    if node.op not in ("is null", "is not null"):
        _check_value(field, node.op, node.value)
    if field.kind == "attribute":
        return _compare(_ATTRIBUTES[field.key], node.op, node.value)
    if probe:
        return _probe(field, node if node.op not in ("is null", "is not null") else None, node.op)
    if node.op == "is null":
        return ~_exists(field, None)
    if node.op == "is not null":
        return _exists(field, None)
    return _exists(field, node)


def _probe(field: Field, node: Node | None, op: str) -> ColumnElement[bool]:
    """``EXISTS`` a value of ``field`` for this run (matching ``node`` when given)."""
    table = logged_table(field).alias()
    query = sa.select(sa.literal(1)).where(
        table.c.run_id == tables.runs.c.run_id, table.c.key == field.key
    )
    if node is not None:
        assert node.op is not None
        query = query.where(_compare(table.c.value, node.op, node.value))
    found = query.exists()
    return ~found if op == "is null" else found


def _exists(field: Field, node: Node | None) -> ColumnElement[bool]:
    table = logged_table(field)
    # An uncorrelated IN (...) is evaluated once (using the (key, value) index of
    # latest_metrics) instead of probing every run: several times faster on large searches.
    query = sa.select(table.c.run_id).where(table.c.key == field.key)
    if node is not None:
        assert node.op is not None
        if field.kind != "metric" and node.op in ("=", "in"):
            # The (key, value prefix, run_id) index answers the prefix; the whole
            # value is then compared on the few rows it finds.
            values = node.value if isinstance(node.value, tuple) else (node.value,)
            prefixes = sorted({v[: tables.VALUE_PREFIX] for v in values})
            prefix = tables.value_prefix(table.c.value)
            query = query.where(
                prefix == prefixes[0] if len(prefixes) == 1 else prefix.in_(prefixes)
            )
            # ``value || ''``, not the bare column: SQLite would otherwise substitute
            # the constant into the indexed expression and no longer match the index.
            whole = table.c.value.concat("")
            return tables.runs.c.run_id.in_(query.where(_compare(whole, node.op, node.value)))
        query = query.where(_compare(table.c.value, node.op, node.value))
    return tables.runs.c.run_id.in_(query)


def parse_order_by(clauses: str | list[str] | tuple[str, ...] | None) -> list[Any]:
    """Parse ``["metrics.auc DESC", "start_time"]`` into SQL ORDER BY terms (NULLs last)."""
    if clauses is None:
        return [tables.runs.c.start_time.desc(), tables.runs.c.run_id]
    terms = [_ordered(value_column(field), direction) for field, direction in order_fields(clauses)]
    terms.append(tables.runs.c.run_id)
    return terms


def logged_table(field: Field) -> sa.Table:
    """The table holding a metric's (latest), param's or tag's values."""
    return {"metric": tables.latest_metrics, "param": tables.params, "tag": tables.tags}[field.kind]


def sort_key(field: Field, column: Any) -> list[Any]:
    """The ORDER BY expressions of a logged ``field`` whose value is ``column``.

    A param or tag sorts on its indexed prefix first (then the whole value), so a
    sort on one reads the ``(key, value prefix, run_id)`` index in order.
    """
    if field.kind == "metric":
        return [column]
    return [tables.value_prefix(column), column]


def _ordered(column: Any, direction: str) -> Any:
    ordered = column.desc() if direction == "desc" else column.asc()
    return ordered.nulls_last()


def order_fields(clauses: str | list[str] | tuple[str, ...]) -> list[tuple[Field, str]]:
    """``["metrics.auc DESC", "start_time"]`` → ``[(field, 'desc'), (field, 'asc')]``."""
    if isinstance(clauses, str):
        clauses = [clauses]
    found: list[tuple[Field, str]] = []
    for clause in clauses:
        text = clause.strip()
        direction = "asc"
        lowered = text.lower()
        for suffix in (" desc", " asc"):
            if lowered.endswith(suffix):
                direction = suffix.strip()
                text = text[: -len(suffix)].strip()
                break
        try:
            parser = _Parser(text)
            field = parser.field()
        except ValidationError as exc:
            raise ValidationError(
                f"order_by {_shown(clause, 0)} is not valid; expected a field such as "
                "'metrics.auc DESC', 'metrics.`val loss`', 'params.lr' or 'start_time ASC'"
            ) from exc
        if parser.peek() is not None:
            raise ValidationError(
                f"order_by {_shown(clause, 0)} is not valid; expected '<field> [ASC|DESC]'"
            )
        found.append((field, direction))
    return found
