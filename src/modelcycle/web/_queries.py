"""What the run pages read: one page of runs, and metric histories cut to a chart's width.

The runs table never reads every run: the filter, the sort and the page are one SQL
query (:meth:`~modelcycle.tracking.Tracker.runs` with ``offset``) and the total is one
``count``, exact without a filter; with one, the page and a count bounded at
:data:`COUNT_CAP` past the page come from one read
(:meth:`~modelcycle.tracking.Tracker.runs_counted`), from a window of the newest runs
when the filter matches often. A page of 50 runs costs about the same with 100 or
100,000 runs stored. A long
metric history is downsampled in SQL-read order to at most ``points`` per run (the
first, the last, and the minimum and maximum of each bucket between), so a chart of
500 runs × 10,000 steps draws a few hundred thousand points at most, keeping every
spike.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from modelcycle.core import ValidationError
from modelcycle.store import Database, tables
from modelcycle.tracking import Run, Tracker

PAGE_SIZES = (25, 50, 100, 200)
#: A filtered table counts its runs exactly up to this many past its page's start, and
#: beyond says "more than": counting a filter's matches costs about this many divided by
#: the share of runs it matches in lookups (500 took twice the time of 200: 58 against
#: 32 ms of CPU for a filter matching 1 run in 10 of 100,000), and every match of a broad
#: filter much more than finding its page. An unfiltered table is counted exactly.
COUNT_CAP = 200
#: Most runs the compare view takes.
MAX_COMPARE = 500
#: Columns of the runs table a user may choose at most.
MAX_COLUMNS = 50
_ATTRIBUTES = ("start_time", "end_time", "name", "status", "run_id")
_COLUMN = re.compile(r"(metrics|params|tags)\.[A-Za-z0-9_\-./ ]{1,250}")


@dataclass(frozen=True)
class RunsQuery:
    """A runs table as its URL states it: experiment, filter, sort, page and columns."""

    experiment: str | None = None
    filter: str = ""
    sort: str = "start_time"
    descending: bool = True
    page: int = 1
    size: int = 50
    columns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: dict[str, str]) -> RunsQuery:
        """From the query string; a value out of range is a :class:`ValidationError`."""
        sort = params.get("sort") or "start_time"
        if sort not in _ATTRIBUTES and not _COLUMN.fullmatch(sort):
            raise ValidationError(
                f"cannot sort by {sort!r}; expected one of {', '.join(_ATTRIBUTES)} or "
                "'metrics.<key>', 'params.<key>', 'tags.<key>'"
            )
        size = _integer(params.get("size"), "size", 50)
        if size not in PAGE_SIZES:
            raise ValidationError(
                f"page size {size} is not offered; expected one of "
                + ", ".join(map(str, PAGE_SIZES))
            )
        return cls(
            experiment=params.get("experiment") or None,
            filter=(params.get("filter") or "").strip(),
            sort=sort,
            descending=params.get("order", "desc") != "asc",
            page=max(1, _integer(params.get("page"), "page", 1)),
            size=size,
            columns=parse_columns(params.get("columns") or ""),
        )

    @property
    def order_by(self) -> str:
        """The ``order_by`` clause of the tracking API."""
        field = self.sort if "." not in self.sort else _quoted(self.sort)
        return f"{field} {'DESC' if self.descending else 'ASC'}"

    def link(self, **changes: Any) -> str:
        """The query string of this table with ``changes`` (for sort links and the pager)."""
        values = {
            "experiment": self.experiment or "",
            "filter": self.filter,
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "page": self.page,
            "size": self.size,
            "columns": ",".join(self.columns),
        }
        values.update(changes)
        return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})


def parse_columns(text: str) -> tuple[str, ...]:
    """``metrics.auc, params.lr`` → the columns (each ``metrics.``/``params.``/``tags.``)."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for name in names:
        if not _COLUMN.fullmatch(name):
            raise ValidationError(
                f"column {name!r} is not valid; expected 'metrics.<key>', 'params.<key>' or "
                "'tags.<key>', separated by commas"
            )
    if len(names) > MAX_COLUMNS:
        raise ValidationError(f"{len(names)} columns chosen; at most {MAX_COLUMNS} are shown")
    return names


def _quoted(column: str) -> str:
    kind, key = column.split(".", 1)
    return f"{kind}.`{key.replace('`', '``')}`"


def _integer(text: str | None, name: str, default: int) -> int:
    if not text:
        return default
    if not text.isdigit() or len(text) > 9:
        raise ValidationError(f"{name} {text!r} is not valid; expected a whole number")
    return int(text)


@dataclass(frozen=True)
class RunsPage:
    """One page of the runs table: its runs, the total, and the columns shown.

    ``total`` is the number of matching runs when ``exact``; otherwise there are more
    than ``total`` (the count stopped there, see :data:`COUNT_CAP`).
    """

    runs: list[Run]
    total: int
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    exact: bool = True

    def value(self, run: Run, column: str) -> Any:
        """The cell of ``run`` in ``column`` (``None`` when the run did not log it)."""
        kind, key = column.split(".", 1)
        source: Any = {"metrics": run.metrics, "params": run.params, "tags": run.tags}[kind]
        return source.get(key)


def runs_page(tracker: Tracker, query: RunsQuery) -> RunsPage:
    """The runs of ``query``'s page, sorted and filtered in SQL, and the total count."""
    offset = (query.page - 1) * query.size
    if query.filter:
        at_most = offset + COUNT_CAP
        runs, counted = tracker.runs_counted(
            query.experiment,
            filter=query.filter,
            order_by=query.order_by,
            limit=query.size,
            offset=offset,
            at_most=at_most,
        )
        total, exact = (at_most, False) if counted > at_most else (counted, True)
    else:
        runs = tracker.runs(
            query.experiment, order_by=query.order_by, limit=query.size, offset=offset
        )
        last = 0 < len(runs) < query.size or (not runs and offset == 0)
        # the last page knows the total without counting; else an index count
        total = offset + len(runs) if last else tracker.count_runs(query.experiment)
        exact = True
    keys = sorted(
        {f"metrics.{k}" for run in runs for k in run.metrics}
        | {f"params.{k}" for run in runs for k in run.params}
    )
    columns = query.columns or tuple(k for k in keys if k.startswith("metrics."))[:6]
    return RunsPage(runs, total, columns, tuple(keys), exact)


def histories(
    db: Database, run_ids: Sequence[str], key: str, *, points: int = 300
) -> dict[str, tuple[list[int], list[float]]]:
    """``{run_id: (steps, values)}`` of metric ``key``, each cut to about ``points`` points."""
    metrics = tables.metrics
    found: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start : start + 500])
        query = (
            sa.select(metrics.c.run_id, metrics.c.step, metrics.c.value)
            .where(metrics.c.run_id.in_(chunk), metrics.c.key == key)
            .order_by(metrics.c.run_id, metrics.c.step, metrics.c.timestamp)
        )
        with db.read() as connection:
            for run_id, step, value in connection.execute(query):
                found[run_id].append((int(step), float(value)))
    return {run_id: _downsample(series, points) for run_id, series in found.items()}


def _downsample(series: list[tuple[int, float]], points: int) -> tuple[list[int], list[float]]:
    """At most about ``points`` points: first, last, and each bucket's minimum and maximum."""
    if len(series) <= points:
        return [s for s, _ in series], [v for _, v in series]
    buckets = max(1, (points - 2) // 2)
    width = (len(series) - 2) / buckets
    kept = [series[0]]
    for index in range(buckets):
        bucket = series[1 + int(index * width) : 1 + int((index + 1) * width)]
        if bucket:
            low, high = min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])
            kept.extend(sorted({low, high}))
    kept.append(series[-1])
    return [s for s, _ in kept], [v for _, v in kept]


def history_keys(db: Database, run_ids: Sequence[str]) -> list[str]:
    """Metric keys with more than one logged step in any of these runs (chartable)."""
    latest = tables.latest_metrics
    query = (
        sa.select(latest.c.key)
        .where(latest.c.run_id.in_(list(run_ids)[:500]), latest.c.step > 0)
        .distinct()
        .order_by(latest.c.key)
    )
    with db.read() as connection:
        return [row[0] for row in connection.execute(query)]
