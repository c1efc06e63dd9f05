"""A filtered search or count answered from a window of runs instead of every run.

A filter compiles by default to uncorrelated ``run_id IN (...)`` lists (see
:func:`~modelcycle.tracking._filter.compile_filter`): each list is read whole from its
index, 50,000 run ids for ``metrics.auc > 0.5`` over 100,000 runs, however small the
page asked for. When the filter matches often, the page lies among the first runs of
the search's order, and looking those runs up one by one (``EXISTS`` by ``(run_id,
key)``) reads a few thousand index entries instead.

So a filtered search that needs its first ``n`` matches (a page ending at ``n``, or a
count bounded at ``n - 1``) looks in the window of the first ``n * WINDOW_FACTOR`` runs
of its order (at least :data:`MIN_WINDOW`). The window's matches are the search's first
matches in the same order, so when the window holds ``n`` of them (a filter matching
one run in ``WINDOW_FACTOR`` or more), or holds every run of the search, they are the
answer exactly. The first :data:`MIN_WINDOW` runs are tried first: they often hold the
answer already, and when the filter matches too few of them to fill the whole window,
the window is not read (else only its runs after the first ones are). Then (a filter
matching rarely) the answer is ``None`` and the caller runs the whole search, which for
such a filter reads short lists. Nothing here estimates a result: each answer is exact
or absent.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.store import tables
from modelcycle.tracking._filter import (
    Field,
    compile_filter,
    order_fields,
    parse_filter,
    parse_order_by,
    value_column,
)

#: The window holds this many runs per match the answer needs: a filter matching one
#: run in 20 or more is answered from it.
WINDOW_FACTOR = 20
#: The first window tried (and the smallest).
MIN_WINDOW = 1_000
#: The order of a search without ``order_by`` (:func:`parse_order_by`'s default).
_NEWEST = (Field("attribute", "start_time"), "desc")


def first_matches(
    connection: Connection,
    scope: sa.Select[Any],
    filter: str,
    order_by: list[str] | None,
    needed: int,
) -> list[str] | None:
    """The ids of the first ``needed`` runs of ``scope`` matching ``filter`` in the order
    of ``order_by`` (clauses on attributes first), fewer when fewer match; or ``None``
    (also for an order whose first column no index starts with, such as the name).

    ``scope`` selects ``run_id`` of the searched runs (already limited to the search's
    experiments).
    """
    if not windowed(order_by):
        return None  # finding the window would sort every run first
    condition = compile_filter(parse_filter(filter), probe=True)
    size = max(MIN_WINDOW, needed * WINDOW_FACTOR)
    sample = _Window(connection, scope, order_by, min(MIN_WINDOW, size))
    found = sample.matches(condition, needed)
    if len(found) == needed or sample.everything:
        return found
    if size == sample.size or len(found) * size < needed * sample.size:
        return None  # too rare a match to fill the whole window
    window = _Window(connection, scope, order_by, size)
    found += window.matches(condition, needed - len(found), past=sample)
    if len(found) == needed or window.everything:
        return found
    return None


def windowed(order_by: list[str] | None) -> bool:
    """Whether a search in this order can use a window: its first clause is a run
    attribute that an index starts with (the start, the status, the run id)."""
    first, _ = order_fields(order_by)[0] if order_by else _NEWEST
    return first.kind == "attribute" and _indexed(value_column(first))


class _Window:
    """The first ``size`` runs of ``scope`` in the order of ``order_by``.

    When the order starts with a run attribute that is never NULL (the start, the
    name, the status), the window is the runs up to the ``size``-th one's value of
    it (ties included: still a prefix of the order), so the database reads the runs in
    order and stops at the matches asked for; otherwise it is a list of run ids.
    """

    def __init__(
        self,
        connection: Connection,
        scope: sa.Select[Any],
        order_by: list[str] | None,
        size: int,
    ) -> None:
        self.connection = connection
        self.scope = scope
        self.order = parse_order_by(order_by)
        self.size = size
        self.everything = False
        first, direction = order_fields(order_by)[0] if order_by else _NEWEST
        leading = value_column(first) if first.kind == "attribute" else None
        if leading is not None and not leading.nullable:
            self.bound = self._bounded(leading, direction)
        else:
            self.bound = tables.runs.c.run_id.in_(scope.order_by(*self.order).limit(size))
            self.everything = self._counted() <= size

    def _bounded(self, leading: Any, direction: str) -> Any:
        last = self.scope.with_only_columns(leading).order_by(*self.order)
        value = self.connection.execute(last.limit(1).offset(self.size - 1)).scalar()
        if value is None:
            self.everything = True
            return sa.true()
        return leading >= value if direction == "desc" else leading <= value

    def _counted(self) -> int:
        first = self.scope.limit(self.size + 1).subquery()
        counted = self.connection.execute(sa.select(sa.func.count()).select_from(first))
        return int(counted.scalar() or 0)

    def matches(self, condition: Any, most: int, *, past: _Window | None = None) -> list[str]:
        """Ids of the window's runs meeting ``condition``, in order, at most ``most``;
        with ``past`` (a smaller window of the same order), only the runs after it."""
        query = self.scope.where(self.bound, condition)
        if past is not None:
            query = query.where(sa.not_(past.bound))
        query = query.order_by(*self.order).limit(most)
        return [row[0] for row in self.connection.execute(query)]


def _indexed(column: Any) -> bool:
    """Whether an index of its table starts with ``column`` (so it is read in order)."""
    table = column.table
    starts = [next(iter(index.columns), None) for index in table.indexes]
    starts.append(next(iter(table.primary_key.columns), None))
    return any(start is column for start in starts)
