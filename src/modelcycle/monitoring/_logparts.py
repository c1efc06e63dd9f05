"""The window :func:`read_predictions` reads, found part by part, for a cluster to merge.

On one machine :func:`~modelcycle.monitoring.read_predictions` selects its window in one
DuckDB query over every segment: the filters, then the latest ``last_rows`` rows (the
boundary is the ``last_rows``-th latest key), then a seeded hash sample (the threshold is
the ``sample_rows``-th smallest hash), then it decodes the rows kept. Each boundary is
the k-th element of an order over the whole window, and a log cut into parts (groups of
segments) finds it exactly without shipping the order: a part's work is a few narrow
queries and the decoding of its own kept rows, and the client only merges short answers:

1. :func:`scan_part`: the part's rows in the window, the JSON types of its predictions
   (when the signature does not say), its ``last_rows`` latest times, and (without a row
   limit) the sample hash of each of its rows;
2. :func:`ties_part`: with a row limit, the part's rows at the boundary time, to break
   the tie as one machine does (by request and row);
3. :func:`hashes_part`: with a row limit larger than the sample, the sample hashes of
   the part's rows at or after the boundary;
4. :func:`decode_part`: the part's kept rows with their inputs decoded.

A part's hashes stay on the worker that computed them: the client gets how many fall in
each of ``2**bits`` equal ranges (:meth:`PartScan.brief`, :func:`bucket_counts`),
which says the range holding the ``sample_rows``-th smallest (:func:`merge_buckets`),
and then only that range's few hashes (:meth:`PartScan.between`), which give the exact
threshold (:func:`merge_threshold`). Sending each part's ``sample_rows`` smallest
hashes instead cost every part a sort of them and the client their transfer.

:class:`PartWindow` carries what every step needs as plain values (it crosses to a
worker); :func:`merge_parts` orders the decoded parts into :func:`read_predictions`'
frame. The same rows, decoded by the same SQL, in the same order: the report a cluster
computes from it is the one a single machine computes (``tests/distributed`` checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from modelcycle.monitoring._logsql import (
    Filters,
    add_window,
    arrow_frame,
    arrow_table,
    base_relation,
    connect,
    cutoff_clause,
    decode_inputs,
    kind_of_types,
    output_columns,
    placeholders,
    sample_key,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Types DuckDB gives the key columns of a tie (as :func:`ties_part` returns them).
_TIE_SCHEMA = pa.schema([("time", pa.int64()), ("request_id", pa.string()), ("row", pa.int64())])
#: Leading bits of the 64-bit sample hash that number a bucket: 4,096 buckets of equal
#: range, so a part's counts are 32 KB whatever its size, and the boundary bucket holds
#: about one in 4,096 of the window's hashes.
BUCKET_BITS = 12


@dataclass(frozen=True)
class PartWindow:
    """What :func:`read_predictions` was asked for, as values a worker can receive.

    ``prediction`` is the DuckDB type of the prediction column (``None`` until known:
    the scan reports the JSON types found); ``cutoff`` (epoch milliseconds, request id,
    row) keeps the rows at or after that key, ``threshold`` the rows whose sample hash
    is at most it. Both are found by merging the parts' answers.
    """

    specs: dict[str, str]
    routes: tuple[str, ...]
    include_errors: bool = False
    versions: tuple[int, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    last_rows: int | None = None
    sample_rows: int | None = None
    seed: int = 0
    prediction: str | None = None
    cutoff: tuple[int, str | None, int] | None = None
    threshold: int | None = None

    def filters(self) -> Filters:
        """The ``WHERE`` of the window so far: route, errors, versions, times, cutoff, sample."""
        filters = Filters()
        filters.add(f"route IN ({placeholders(self.routes)})", *self.routes)
        if not self.include_errors:
            filters.add("error IS NULL")
        add_window(filters, versions=self.versions, since=self.since, until=self.until)
        if self.cutoff is not None:
            millis, request_id, row = self.cutoff
            cutoff_clause(filters, _EPOCH + timedelta(milliseconds=millis), request_id, row)
        if self.threshold is not None:
            filters.add(f"{sample_key(self.seed)} <= CAST({int(self.threshold)} AS UBIGINT)")
        return filters


@dataclass(frozen=True)
class PartScan:
    """What :func:`scan_part` found in one part."""

    rows: int
    #: JSON types of the part's logged predictions (empty when the kind was known).
    types: frozenset[str] = frozenset()
    #: The part's ``last_rows`` latest times, epoch milliseconds (with a row limit).
    times: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    #: The sample hash of each of the part's rows in the window: from :func:`scan_part`
    #: with a sample and no row limit, from :func:`hashes_part` after a cutoff. Kept on
    #: the worker; :meth:`brief` counts them for the client.
    hashes: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    #: :func:`bucket_counts` of ``hashes``, in a :meth:`brief` scan.
    buckets: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def brief(self, bits: int = BUCKET_BITS) -> PartScan:
        """The scan with its hashes counted in ``2**bits`` buckets: what the client needs."""
        counts = bucket_counts(self.hashes, bits)
        return PartScan(self.rows, self.types, self.times, buckets=counts)

    def between(self, low: int, high: int) -> np.ndarray:
        """The scan's hashes from ``low`` to ``high``, both included."""
        hashes = self.hashes
        return hashes[(hashes >= np.uint64(low)) & (hashes <= np.uint64(high))]


def scan_part(files: Sequence[str], window: PartWindow) -> PartScan:
    """Count a part's rows in the window and return the candidates for its boundaries."""
    filters = window.filters()
    with connect() as connection:
        source = base_relation(connection, files)
        where, params = filters.where, filters.params
        ((rows,),) = connection.sql(
            f"SELECT count(*) FROM {source} {where}", params=params
        ).fetchall()
        types: frozenset[str] = frozenset()
        if window.prediction is None:
            typed = Filters([*filters.clauses, "prediction IS NOT NULL"], list(params))
            found = connection.sql(
                f"SELECT DISTINCT json_type(prediction) FROM {source} {typed.where}",
                params=typed.params,
            ).fetchall()
            types = frozenset(str(t) for (t,) in found)
        times = np.empty(0, np.int64)
        hashes = np.empty(0, np.uint64)
        if window.last_rows is not None:
            times = _column(
                connection.sql(
                    f"SELECT epoch_ms(time) AS t FROM {source} {where} "
                    f"ORDER BY t DESC LIMIT {int(window.last_rows)}",
                    params=params,
                ),
                np.int64,
            )
        elif window.sample_rows is not None:
            hashes = _hashes(connection, source, filters, window)
    return PartScan(int(rows), types, times, hashes)


def ties_part(files: Sequence[str], window: PartWindow, millis: int, need: int) -> pa.Table:
    """The part's ``need`` latest keys logged at ``millis`` (time, request id, row)."""
    filters = window.filters()
    filters.add("epoch_ms(time) = ?", int(millis))
    with connect() as connection:
        source = base_relation(connection, files)
        table = arrow_table(
            connection.sql(
                f'SELECT epoch_ms(time) AS time, request_id, CAST("row" AS BIGINT) AS "row" '
                f"FROM {source} {filters.where} "
                f'ORDER BY request_id DESC, "row" DESC LIMIT {int(need)}',
                params=filters.params,
            )
        )
    return table.cast(_TIE_SCHEMA)


def hashes_part(files: Sequence[str], window: PartWindow) -> PartScan:
    """The part's rows in the window (cutoff included), with the sample hash of each."""
    with connect() as connection:
        source = base_relation(connection, files)
        hashes = _hashes(connection, source, window.filters(), window)
    return PartScan(hashes.size, hashes=hashes)


def bucket_counts(hashes: np.ndarray, bits: int = BUCKET_BITS) -> np.ndarray:
    """How many of ``hashes`` fall in each of ``2**bits`` equal ranges of 64-bit values.

    >>> bucket_counts(np.array([0, 2**63 - 1, 2**63, 2**64 - 1], np.uint64), bits=1).tolist()
    [2, 2]
    """
    buckets = (hashes >> np.uint64(64 - bits)).astype(np.intp)
    return np.bincount(buckets, minlength=2**bits).astype(np.int64)


def decode_part(files: Sequence[str], window: PartWindow) -> pa.Table:
    """The part's rows of the window with their inputs decoded, as :func:`read_predictions`
    orders them (the client then only sorts where parts overlap in time)."""
    filters = window.filters()
    assert window.prediction is not None, "the prediction kind is merged before decoding"
    with connect() as connection:
        source = base_relation(connection, files)
        picked = f"SELECT * FROM {source} {filters.where}"
        query = (
            f"SELECT {output_columns(window.specs, window.prediction)} "
            f'FROM ({decode_inputs(picked, window.specs)}) ORDER BY time, request_id, "row"'
        )
        return arrow_table(connection.sql(query, params=filters.params))


def merge_kind(scans: Iterable[PartScan]) -> str:
    """The prediction kind of the whole window, from the JSON types each part found."""
    found: set[str] = set()
    for scan in scans:
        found |= scan.types
    return kind_of_types(found)


def merge_cutoff(scans: Sequence[PartScan], last_rows: int) -> tuple[int, int] | None:
    """``(boundary time, rows still wanted at it)``, or ``None`` when the window is shorter."""
    times = np.concatenate([scan.times for scan in scans]) if scans else np.empty(0, np.int64)
    if times.size < last_rows:
        return None
    boundary = int(-np.partition(-times, last_rows - 1)[last_rows - 1])
    later = int(np.count_nonzero(times > boundary))
    return boundary, last_rows - later


def merge_ties(parts: Sequence[pa.Table], millis: int, need: int) -> tuple[int, str | None, int]:
    """The cutoff key: the ``need``-th latest of the parts' keys at the boundary time."""
    with connect() as connection:
        connection.register("ties", pa.concat_tables([p.cast(_TIE_SCHEMA) for p in parts]))
        found = connection.sql(
            f'SELECT request_id, "row" FROM ties ORDER BY request_id DESC, "row" DESC '
            f"LIMIT 1 OFFSET {int(need) - 1}"
        ).fetchall()
    request_id, row = found[0]
    return millis, request_id, int(row)


def merge_buckets(counts: Sequence[np.ndarray], size: int) -> tuple[int, int, int] | None:
    """``(low, high, need)``: the bucket of hashes ``low`` to ``high`` holds the ``size``-th
    smallest hash of the window, the ``need``-th smallest of that bucket (``None``: the
    window has no more than ``size`` rows).

    Examples
    --------
    The number of buckets is the counts' length, a power of two.

    >>> counts = np.zeros(8, np.int64)
    >>> counts[[0, 1, 5]] = [3, 4, 9]
    >>> low, high, need = merge_buckets([counts, counts], size=20)
    >>> low == 5 << 61, high == (6 << 61) - 1, need
    (True, True, 6)
    """
    ends = np.cumsum(np.sum(counts, axis=0)) if counts else np.zeros(1, np.int64)
    if ends[-1] <= size:
        return None
    bucket = int(np.searchsorted(ends, size))  # the first bucket reaching ``size`` rows
    below = int(ends[bucket - 1]) if bucket else 0
    shift = 64 - (len(ends).bit_length() - 1)
    return bucket << shift, ((bucket + 1) << shift) - 1, size - below


def merge_threshold(hashes: Sequence[np.ndarray], need: int) -> int:
    """The ``need``-th smallest of the parts' hashes in the boundary bucket
    (:meth:`PartScan.between` its ends): the sample's threshold."""
    merged = np.concatenate(hashes)
    return int(np.partition(merged, need - 1)[need - 1])


def merge_parts(parts: Sequence[pa.Table]) -> pd.DataFrame:
    """The decoded parts, each ordered, as :func:`read_predictions`' frame.

    Parts cut from a log in segment order usually follow each other in time: then the
    parts in order are the frame's order, and only where one part's first row comes
    before the previous part's last is the whole sorted again (on this machine).
    """
    present = [part for part in parts if part.num_rows]
    table = pa.concat_tables(present or parts[:1], promote_options="default")
    keys = [_key(part, 0) for part in present]
    lasts = [_key(part, part.num_rows - 1) for part in present]
    if any(first < last for first, last in zip(keys[1:], lasts[:-1], strict=True)):
        table = sort_rows(table)
    return arrow_frame(table)


def sort_rows(table: pa.Table) -> pa.Table:
    """``table`` ordered by time, request id and row, as the log's readers order rows."""
    return table.sort_by([("time", "ascending"), ("request_id", "ascending"), ("row", "ascending")])


def _key(table: pa.Table, index: int) -> tuple[Any, ...]:
    """A row's sort key as DuckDB and Arrow order it (a missing request id sorts last)."""
    request_id = table.column("request_id")[index].as_py()
    return (
        table.column("time")[index].as_py(),
        request_id is None,
        request_id or "",
        table.column("row")[index].as_py(),
    )


def _hashes(connection: Any, source: str, filters: Filters, window: PartWindow) -> np.ndarray:
    return _column(
        connection.sql(
            f"SELECT {sample_key(window.seed)} FROM {source} {filters.where}",
            params=filters.params,
        ),
        np.uint64,
    )


def _column(relation: Any, dtype: type) -> np.ndarray:
    table = arrow_table(relation)
    return np.asarray(table.column(0).to_numpy(), dtype=dtype)
