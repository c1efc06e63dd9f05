"""Service health from the prediction log: requests, errors, throughput and latency per version.

Counted in DuckDB over the log's narrow columns (request id, version, time, latency,
error), so a window of millions of rows never reaches pandas. Shadow rows are left
out (they repeat requests another version answered). Latency percentiles are over
answered *requests*, not rows: a 1,000-row batch is one latency, not a thousand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from modelcycle.core import ValidationError
from modelcycle.monitoring._logread import ANSWERED_ROUTES
from modelcycle.monitoring._logsql import (
    Filters,
    TimeLike,
    add_cutoff,
    add_window,
    base_relation,
    connect,
    has_segments,
    positive,
    to_frame,
)
from modelcycle.store import LogLayout

_PERCENTILES = "[0.5, 0.95, 0.99]"


@dataclass(frozen=True)
class VersionHealth:
    """How one version served a window of requests.

    ``requests`` counts distinct request ids (answered or refused), ``rows`` the
    predicted rows, ``errors`` the refused requests (``error_rate = errors /
    requests``); ``throughput_rps`` is requests per second between the first and the
    last (NaN for a single instant); latencies are percentiles over answered requests
    (NaN without any).
    """

    version: int
    requests: int
    rows: int
    errors: int
    error_rate: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    first: datetime
    last: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601, NaN as ``None``)."""
        data = asdict(self)
        data["first"], data["last"] = self.first.isoformat(), self.last.isoformat()
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in data.items()}


def service_health(
    layout: LogLayout,
    model: str,
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    last_rows: int | None = None,
) -> list[VersionHealth]:
    """Health of each version that answered requests in the window, by version number.

    Parameters
    ----------
    layout, model:
        The workspace's log layout (``services.layout``) and the model name.
    since, until, last_rows:
        The window, as in :func:`read_predictions` (``last_rows`` counts log rows).

    Returns
    -------
    list of VersionHealth
        Empty without segments or rows.

    Examples
    --------
    >>> import tempfile
    >>> service_health(LogLayout.under(tempfile.mkdtemp()), "churn")
    []
    """
    folder = layout.predictions_of(model)
    if not has_segments(folder):
        return []
    with connect() as connection:
        _aggregate_requests(connection, folder, since, until, last_rows)
        return _version_health(connection)


def latency_over_time(
    layout: LogLayout,
    model: str,
    *,
    freq: str = "1min",
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    last_rows: int | None = None,
) -> pd.DataFrame:
    """Requests and latency percentiles per time bucket and version, for charts.

    Returns
    -------
    pandas.DataFrame
        ``time`` (bucket start, UTC), ``version``, ``requests``, ``p50``, ``p99``
        (milliseconds, over answered requests) and ``errors`` (refused requests),
        ordered by time then version.

    Examples
    --------
    >>> import tempfile
    >>> from modelcycle.store import LogLayout
    >>> latency_over_time(LogLayout.under(tempfile.mkdtemp()), "churn").columns.tolist()
    ['time', 'version', 'requests', 'p50', 'p99', 'errors']
    """
    width_ms = _width_ms(freq)
    folder = layout.predictions_of(model)
    with connect() as connection:
        if not has_segments(folder):
            return to_frame(connection.sql(_EMPTY_LATENCY))
        _aggregate_requests(connection, folder, since, until, last_rows)
        return _latency(connection, width_ms)


def health_and_latency(
    layout: LogLayout,
    model: str,
    *,
    freq: Callable[[list[VersionHealth]], str],
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    last_rows: int | None = None,
) -> tuple[list[VersionHealth], pd.DataFrame]:
    """:func:`service_health` and :func:`latency_over_time` of one window, its requests
    aggregated once: on a large log that aggregation (one group per request) is most of
    the cost of each. ``freq`` chooses the chart's bucket width from the health.
    """
    folder = layout.predictions_of(model)
    with connect() as connection:
        if not has_segments(folder):
            return [], to_frame(connection.sql(_EMPTY_LATENCY))
        _aggregate_requests(connection, folder, since, until, last_rows)
        health = _version_health(connection)
        return health, _latency(connection, _width_ms(freq(health)))


def _aggregate_requests(
    connection: duckdb.DuckDBPyConnection,
    folder: Path,
    since: TimeLike | None,
    until: TimeLike | None,
    last_rows: int | None,
) -> None:
    """The window's requests, one row per version and request id, as temp table ``requests``."""
    window, params = _window(connection, folder, since, until, last_rows)
    connection.execute(
        f"""
        CREATE TEMP TABLE requests AS
        SELECT version, min(time) AS first, max(time) AS last, max(latency_ms) AS latency,
               bool_or(error IS NOT NULL) AS failed,
               count(*) FILTER (WHERE error IS NULL) AS answered
        FROM ({window}) GROUP BY version, request_id
        """,
        params,
    )


def _version_health(connection: duckdb.DuckDBPyConnection) -> list[VersionHealth]:
    found = connection.sql(
        f"""
        SELECT version, count(*) AS requests, sum(answered) AS n,
               count(*) FILTER (WHERE failed) AS errors,
               quantile_cont(latency, {_PERCENTILES}) FILTER (WHERE NOT failed) AS q,
               min(first) AS first, max(last) AS last
        FROM requests GROUP BY version ORDER BY version
        """
    ).fetchall()
    return [_health(*row) for row in found]


def _latency(connection: duckdb.DuckDBPyConnection, width_ms: int) -> pd.DataFrame:
    return to_frame(
        connection.sql(
            f"""
            SELECT epoch_ms((epoch_ms(first) // {width_ms}) * {width_ms}) AS time, version,
                   count(*) AS requests,
                   quantile_cont(latency, 0.5) FILTER (WHERE NOT failed) AS p50,
                   quantile_cont(latency, 0.99) FILTER (WHERE NOT failed) AS p99,
                   count(*) FILTER (WHERE failed) AS errors
            FROM requests GROUP BY ALL ORDER BY time, version
            """
        )
    )


_EMPTY_LATENCY = (
    "SELECT CAST(NULL AS TIMESTAMPTZ) AS time, CAST(NULL AS BIGINT) AS version, "
    "CAST(NULL AS BIGINT) AS requests, CAST(NULL AS DOUBLE) AS p50, "
    "CAST(NULL AS DOUBLE) AS p99, CAST(NULL AS BIGINT) AS errors LIMIT 0"
)


def _window(
    connection: duckdb.DuckDBPyConnection,
    folder: Path,
    since: TimeLike | None,
    until: TimeLike | None,
    last_rows: int | None,
) -> tuple[str, list[Any]]:
    source = base_relation(connection, folder)
    filters = Filters()
    filters.add(f"route IN ('{ANSWERED_ROUTES[0]}', '{ANSWERED_ROUTES[1]}')")
    filters.add("version IS NOT NULL")
    add_window(filters, since=since, until=until)
    if last_rows is not None:
        add_cutoff(connection, source, filters, positive(last_rows, "last_rows"))
    window = f"SELECT request_id, version, time, latency_ms, error FROM {source} {filters.where}"
    return window, filters.params


def _health(
    version: int,
    requests: int,
    rows: int,
    errors: int,
    percentiles: list[float] | None,
    first: datetime,
    last: datetime,
) -> VersionHealth:
    p50, p95, p99 = percentiles if percentiles is not None else (math.nan,) * 3
    span = (last - first).total_seconds()
    return VersionHealth(
        version=int(version),
        requests=int(requests),
        rows=int(rows),
        errors=int(errors),
        error_rate=errors / requests if requests else math.nan,
        throughput_rps=requests / span if span > 0 else math.nan,
        p50_ms=_number(p50),
        p95_ms=_number(p95),
        p99_ms=_number(p99),
        first=first.astimezone(UTC),
        last=last.astimezone(UTC),
    )


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _width_ms(freq: str) -> int:
    try:
        width = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"freq={freq!r} is not a fixed time span; expected a pandas offset alias such as "
            "'1min', '15min' or '1h'"
        ) from exc
    ms = int(width.total_seconds() * 1000)
    if ms < 1:
        raise ValidationError(f"freq={freq!r} is shorter than a millisecond; the log keeps ms")
    return ms
