"""The prediction and feedback logs: buffered in memory, written as Parquet segments.

Every answered request is appended (a cheap list append under a lock); a writer thread
turns the buffer into one Parquet file per model and flush under
``log_dir/<model>/`` at least every ``flush_interval_s`` seconds, when the buffer
holds ``max_buffer`` entries, and on :meth:`BufferedLog.close`. A crash loses at most
one flush interval; a clean shutdown loses nothing. ``route`` says how the request
reached the version: ``primary``, ``canary`` or ``shadow`` (a shadow row repeats the
answered request's ``request_id``, for comparison). A request refused for its inputs
(``invalid``, ``too_large``) or failed in the model (``model_error``) is one row whose
``error`` holds that code and whose inputs, prediction and probabilities are empty.
Segments written before the ``route`` or ``error`` columns existed lack them; read
with ``union_by_name=true``. With DuckDB::

    duckdb.sql("select * from read_parquet('log_dir/**/*.parquet', union_by_name=true)")

With logs in an object store, ``folder`` is the private staging folder of this
machine and ``publish`` uploads its closed segments (see
:class:`~modelcycle.store.LogLayout`). A second thread publishes, woken by each
flush that wrote a segment, so a slow or unreachable store never delays the local
writes: a crash still loses at most one flush interval. An upload that fails leaves
the segments staged and is tried again every flush interval (and on close, and by the
next process writing logs from this workspace folder), so no row is lost while the
store is down; they become visible to readers once uploaded.

Delayed labels go the same way through :class:`FeedbackLog` (already validated
tables of :data:`~modelcycle.store.FEEDBACK_SCHEMA` rows).

One row never costs the others: a request whose rows cannot all be encoded (text
with a lone surrogate, say, which validation refuses but a Python caller may still
append) is written row by row, and a segment that cannot be written costs only its
own model's rows. Each row left out is logged and counted by the ``on_drop``
callback (the server's ``modelcycle_log_rows_dropped_total``) with its reason:
``unencodable`` or ``write_failed``.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import pyarrow as pa

from modelcycle.serving._log_request import ENCODING_ERRORS, LoggedRequest, Segment
from modelcycle.serving._privacy import Redactor
from modelcycle.store import FEEDBACK_SCHEMA, PREDICTION_SCHEMA, write_segment

_LOG = logging.getLogger("modelcycle.serving")

SCHEMA = PREDICTION_SCHEMA

Entry = TypeVar("Entry")

#: ``on_drop(log, model, reason, rows)``: rows of ``model`` one of the logs left out.
DropCallback = Callable[[str, str, str, int], None]
UNENCODABLE = "unencodable"
WRITE_FAILED = "write_failed"


class BufferedLog(ABC, Generic[Entry]):
    """An append-only log under ``folder`` whose entries a writer thread flushes as segments.

    Parameters
    ----------
    folder:
        Root of the log; each model writes to ``folder/<model>/``.
    flush_interval_s:
        Most time an appended entry waits before it is written.
    max_buffer:
        Buffered entries that wake the writer at once.
    on_drop:
        Told of every row left out (see :data:`DropCallback`); :attr:`dropped` counts them.
    publish:
        Uploads the segments written under ``folder`` (logs in an object store); raises
        when it cannot, leaving them for the next flush. ``None``: the folder is the log.

    Thread-safety: :meth:`append` may be called from any thread.
    """

    #: Name of the writer thread (shown in thread dumps).
    thread_name = "segment-log"
    #: Which log this is, for ``on_drop``.
    kind = "log"

    def __init__(
        self,
        folder: Path,
        *,
        flush_interval_s: float,
        max_buffer: int,
        on_drop: DropCallback | None = None,
        publish: Callable[[], int] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.publish = publish
        #: Whether segments may wait in ``folder`` to be published (some may be left
        #: from an earlier process, so the first flush looks).
        self.unpublished = publish is not None
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.on_drop = on_drop
        self.written = 0
        self.dropped = 0
        #: Whether the last attempt to publish failed.
        self.failing = False
        self._buffer: list[Entry] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._staged = threading.Event()
        self._publish_lock = threading.Lock()
        self._publisher: threading.Thread | None = None

    def start(self) -> None:
        """Start the writer thread (and the publisher thread of logs in an object store)."""
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if self.publish is not None:
            self._publisher = threading.Thread(
                target=self._run_publisher, name=f"{self.thread_name}-publisher", daemon=True
            )
            self._publisher.start()

    def append(self, entry: Entry) -> None:
        """Buffer one entry."""
        with self._lock:
            self._buffer.append(entry)
            full = len(self._buffer) >= self.max_buffer
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write everything buffered now, then publish; return the number of rows written."""
        count = self._write_buffered()
        self._publish_staged()
        return count

    def _write_buffered(self) -> int:
        """Write everything buffered as segments; return the number of rows written."""
        with self._write_lock:
            with self._lock:
                taken, self._buffer = self._buffer, []
            if not taken:
                return 0
            count = self._write(taken)
            self.written += count
        if count and self.publish is not None:
            self.unpublished = True
            self._staged.set()
        return count

    def _publish_staged(self) -> None:
        """Upload what is staged; on failure keep it staged and say so once."""
        if self.publish is None:
            return
        with self._publish_lock:
            if not self.unpublished:
                return
            # Cleared first: a segment written while this upload runs sets it again.
            self.unpublished = False
            try:
                self.publish()
            except Exception as exc:  # the store is down: the segments wait, no row is lost
                self.unpublished = True
                self._failed(exc)
                return
            if self.failing:
                _LOG.warning("serving: the %s is published again", self.kind)
            self.failing = False

    def _failed(self, exc: Exception) -> None:
        """Say once that publishing fails (not at every retry)."""
        if not self.failing:
            _LOG.warning(
                "serving: publishing the %s failed; its segments stay staged in %s and are "
                "retried every flush interval (%s)",
                self.kind,
                self.folder,
                exc,
            )
        self.failing = True

    @abstractmethod
    def _write(self, entries: list[Entry]) -> int:
        """Write ``entries`` as one segment per model; return the number of rows written."""

    def _dropped(self, model: str, reason: str, rows: int) -> None:
        """Count (and log) ``rows`` rows of ``model`` left out for ``reason``."""
        if rows <= 0:
            return
        self.dropped += rows
        _LOG.error("serving: the %s left out %d row(s) of %r (%s)", self.kind, rows, model, reason)
        if self.on_drop is not None:
            self.on_drop(self.kind, model, reason, rows)

    def _write_segment(self, model: str, table: pa.Table) -> int:
        """Write one model's segment; on failure, count its rows dropped. Return rows written."""
        try:
            write_segment(self.folder / model, table)
        except Exception:  # a disk or permission fault: the other models still get written
            _LOG.exception("serving: writing a %s segment of %r failed", self.kind, model)
            self._dropped(model, WRITE_FAILED, len(table))
            return 0
        return len(table)

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self._write_buffered()
            except Exception:  # keep logging alive; the rows stay lost only for this flush
                _LOG.exception("serving: writing the %s failed", self.thread_name)

    def _run_publisher(self) -> None:
        # Woken by a written segment; otherwise, while something waits, retries each interval.
        while not self._closed.is_set():
            self._staged.wait(self.flush_interval_s)
            self._staged.clear()
            self._publish_staged()

    def close(self) -> None:
        """Stop the writer, write what is left and publish it (call on shutdown)."""
        self._closed.set()
        self._wake.set()
        self._staged.set()
        for thread in (self._thread, self._publisher):
            if thread is not None:
                thread.join()
        self._thread = self._publisher = None
        self.flush()


class PredictionLog(BufferedLog[LoggedRequest]):
    """Append-only, buffered prediction log under ``folder``.

    Parameters
    ----------
    folder:
        Root of the log; each model writes to ``folder/<model>/``.
    flush_interval_s:
        Most time an appended request waits before it is written.
    max_buffer:
        Buffered requests that wake the writer at once.
    redactor:
        Hashes or drops sensitive inputs as rows are written (``None``: kept as sent).
    on_drop:
        Told of every row left out (see :data:`DropCallback`).
    publish:
        Uploads the staged segments (logs in an object store), as in :class:`BufferedLog`.

    Thread-safety: :meth:`append` may be called from any thread.
    """

    thread_name = "prediction-log"
    kind = "predictions"  # the metrics' label of this log

    def __init__(
        self,
        folder: Path,
        *,
        flush_interval_s: float,
        max_buffer: int,
        redactor: Redactor | None = None,
        on_drop: DropCallback | None = None,
        publish: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(
            folder,
            flush_interval_s=flush_interval_s,
            max_buffer=max_buffer,
            on_drop=on_drop,
            publish=publish,
        )
        self.redactor = redactor

    def _write(self, entries: list[LoggedRequest]) -> int:
        by_model: dict[str, Segment] = {}
        for request in entries:
            segment = by_model.get(request.model)
            if segment is None:
                segment = by_model[request.model] = Segment(self.redactor)
            segment.add(request)
        written = 0
        for model, segment in by_model.items():
            table = segment.table()
            self._dropped(model, UNENCODABLE, segment.dropped)
            written += self._write_segment(model, table) if len(table) else 0
        return written


class FeedbackLog(BufferedLog[pa.Table]):
    """Append-only, buffered feedback log: delayed labels under ``folder/<model>/``.

    Each appended table holds validated :data:`~modelcycle.store.FEEDBACK_SCHEMA`
    rows of one model (see :class:`~modelcycle.serving.FeedbackValidator`); a flush
    writes one segment per model. A table that does not fit the schema is taken row
    by row, leaving out (and counting) the rows that do not.

    Thread-safety: :meth:`append` may be called from any thread.
    """

    thread_name = "feedback-log"
    kind = "feedback"

    def _write(self, entries: list[pa.Table]) -> int:
        by_model: dict[str, list[pa.Table]] = defaultdict(list)
        for table in entries:
            for model, part in self._fitted(table):
                by_model[model].append(part)
        return sum(
            self._write_segment(model, pa.concat_tables(tables))
            for model, tables in by_model.items()
        )

    def _fitted(self, table: pa.Table) -> list[tuple[str, pa.Table]]:
        """``table`` cast to the schema, with its model; row by row when it does not fit."""
        try:
            return [_feedback_rows(table)] if len(table) else []
        except ENCODING_ERRORS:
            fitted = []
            for index in range(len(table)):
                try:
                    fitted.append(_feedback_rows(table.slice(index, 1)))
                except ENCODING_ERRORS:
                    self._dropped(_model_of(table, index), UNENCODABLE, 1)
            return fitted


def _feedback_rows(table: pa.Table) -> tuple[str, pa.Table]:
    """One model's labels cast to :data:`FEEDBACK_SCHEMA`, with that model's name."""
    cast = table.cast(FEEDBACK_SCHEMA)
    models = cast.column("model").unique().to_pylist()
    if len(models) != 1 or not isinstance(models[0], str):
        raise ValueError(f"a feedback table holds labels of models {models[:5]}; expected one")
    return models[0], cast


def _model_of(table: pa.Table, index: int) -> str:
    """The model named in row ``index`` of a table that may not fit the schema."""
    try:
        model = table.column("model")[index].as_py()
    except ENCODING_ERRORS:
        return "unknown"
    return model if isinstance(model, str) else "unknown"
