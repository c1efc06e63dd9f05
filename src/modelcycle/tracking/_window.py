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
the window is not read. Then (a filter matching rarely) the answer is ``None`` and the
caller runs the whole search, which for such a filter reads short lists. Nothing here
estimates a result: each answer is exact or absent.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.store import tables
from modelcycle.tracking._filter import compile_filter, parse_filter, parse_order_by

#: The window holds this many runs per match the answer needs: a filter matching one
#: run in 20 or more is answered from it.
WINDOW_FACTOR = 20
#: The first window tried (and the smallest).
MIN_WINDOW = 1_000


def first_matches(
    connection: Connection,
    scope: sa.Select[Any],
    filter: str,
    order_by: list[str] | None,
    needed: int,
) -> list[str] | None:
    """The ids of the first ``needed`` runs of ``scope`` matching ``filter`` in the order
    of ``order_by`` (clauses on attributes first), fewer when fewer match; or ``None``.

    ``scope`` selects ``run_id`` of the searched runs (already limited to the search's
    experiments).
    """
    order = parse_order_by(order_by)
    condition = compile_filter(parse_filter(filter), probe=True)
    size = max(MIN_WINDOW, needed * WINDOW_FACTOR)
    sample = _Window(scope, order, min(MIN_WINDOW, size))
    found = sample.matches(connection, condition, needed)
    if len(found) == needed or sample.holds_everything(connection):
        return found
    if size == sample.size or len(found) * size < needed * sample.size:
        return None  # too rare a match to fill the whole window
    window = _Window(scope, order, size)
    found = window.matches(connection, condition, needed)
    if len(found) == needed or window.holds_everything(connection):
        return found
    return None


class _Window:
    """The first ``size`` runs of ``scope`` in ``order``."""

    def __init__(self, scope: sa.Select[Any], order: list[Any], size: int) -> None:
        self.scope = scope
        self.order = order
        self.size = size

    def matches(self, connection: Connection, condition: Any, most: int) -> list[str]:
        """Ids of the window's runs meeting ``condition``, in order, at most ``most``."""
        window = self.scope.order_by(*self.order).limit(self.size)
        query = (
            self.scope.where(tables.runs.c.run_id.in_(window))
            .where(condition)
            .order_by(*self.order)
            .limit(most)
        )
        return [row[0] for row in connection.execute(query)]

    def holds_everything(self, connection: Connection) -> bool:
        """Whether the scope has at most ``size`` runs (the window is all of them)."""
        first = self.scope.limit(self.size + 1).subquery()
        counted = connection.execute(sa.select(sa.func.count()).select_from(first)).scalar()
        return int(counted or 0) <= self.size
