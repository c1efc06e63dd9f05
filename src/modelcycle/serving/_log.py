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

Delayed labels go the same way through :class:`FeedbackLog` (already validated
tables of :data:`~modelcycle.store.FEEDBACK_SCHEMA` rows).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from modelcycle.serving._log_columns import (
    ARROW_MIN_ROWS,
    epoch_ms,
    inputs_chunk,
    inputs_texts,
    json_texts,
    value_json,
)
from modelcycle.serving._model import as_rows
from modelcycle.serving._privacy import Redactor
from modelcycle.store import FEEDBACK_SCHEMA, PREDICTION_SCHEMA, inputs_json, write_segment

_LOG = logging.getLogger("modelcycle.serving")

SCHEMA = PREDICTION_SCHEMA

Entry = TypeVar("Entry")


@dataclass(frozen=True)
class LoggedRequest:
    """One answered or refused request, as the route saw it (expanded to rows when written).

    A refused request has ``error`` set (its error code) and no predictions; it is
    written as one row with empty inputs, prediction and probabilities.
    """

    request_id: str
    time: datetime
    model: str
    version: int
    inputs: list[dict[str, Any]] | dict[str, list[Any]] | None
    predictions: NDArray[Any] | None
    probabilities: NDArray[np.float64] | None
    latency_ms: float
    route: str = "primary"
    sensitive: frozenset[str] = frozenset()
    error: str | None = None

    @property
    def answered(self) -> bool:
        """Whether the request was answered (it then has inputs and predictions)."""
        return self.error is None and self.inputs is not None and self.predictions is not None

    @property
    def n_rows(self) -> int:
        """Rows this request takes in the log (one for a refused request)."""
        if not self.answered or not self.inputs:
            return 1
        if isinstance(self.inputs, list):
            return len(self.inputs)
        return len(next(iter(self.inputs.values())))

    def rows(self, redactor: Redactor | None = None) -> list[dict[str, Any]]:
        """One log row per predicted input row (sensitive inputs hashed or dropped)."""
        if not self.answered or self.predictions is None:
            return [self._row(None, None, None, None)]
        rows = self._input_rows(redactor)
        values = self.predictions.tolist()
        if len(rows) == 1:  # most requests: one orjson call each is cheapest
            inputs, predictions = [inputs_json(rows[0])], [value_json(values[0])]
        else:
            inputs, predictions = inputs_texts(rows), json_texts(values)
        probabilities = self.probabilities.tolist() if self.probabilities is not None else None
        return [
            self._row(
                index,
                inputs[index],
                predictions[index],
                probabilities[index] if probabilities is not None else None,
            )
            for index in range(len(rows))
        ]

    def table(self, redactor: Redactor | None = None) -> pa.Table:
        """The rows of :meth:`rows` as an Arrow table, built a column at a time.

        Much cheaper than :meth:`rows` for a large request: one orjson call and Arrow
        cut the inputs into rows, the rest are whole-column conversions.
        """
        if not self.answered or self.predictions is None:
            return pa.Table.from_pylist(self.rows(), schema=PREDICTION_SCHEMA)
        rows = self._input_rows(redactor)
        n_rows = len(rows)
        probabilities = self.probabilities
        columns = {
            "request_id": pa.repeat(self.request_id, n_rows),
            "time": pa.array([epoch_ms(self.time)] * n_rows, PREDICTION_SCHEMA.field("time").type),
            "model": pa.repeat(self.model, n_rows),
            "version": pa.repeat(self.version, n_rows),
            "row": pa.array(range(n_rows), pa.int32()),
            "inputs": inputs_chunk(rows),
            "prediction": json_texts(self.predictions.tolist()),
            "probabilities": (
                probabilities.tolist() if probabilities is not None else [None] * n_rows
            ),
            "latency_ms": pa.repeat(self.latency_ms, n_rows),
            "route": pa.repeat(self.route, n_rows),
            "error": pa.nulls(n_rows, pa.string()),
        }
        return pa.table(columns, schema=PREDICTION_SCHEMA)

    def _input_rows(self, redactor: Redactor | None) -> list[dict[str, Any]]:
        inputs = self.inputs or []
        rows = inputs if isinstance(inputs, list) else as_rows(inputs)
        if redactor is not None and self.sensitive:
            return [redactor.row(row, self.sensitive) for row in rows]
        return rows

    def _row(
        self, index: int | None, inputs: str | None, prediction: str | None, proba: Any
    ) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "time": self.time,
            "model": self.model,
            "version": self.version,
            "row": index,
            "inputs": inputs,
            "prediction": prediction,
            "probabilities": proba,
            "latency_ms": self.latency_ms,
            "route": self.route,
            "error": self.error,
        }


class Segment:
    """One model's log rows of a flush, in append order: small requests as rows, large
    ones as Arrow tables (see :meth:`LoggedRequest.table`).
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor
        self.n_rows = 0
        self._parts: list[list[dict[str, Any]] | pa.Table] = []

    def add(self, request: LoggedRequest) -> None:
        """Append one request's rows."""
        n_rows = request.n_rows
        self.n_rows += n_rows
        if n_rows >= ARROW_MIN_ROWS:
            self._parts.append(request.table(self.redactor))
        elif self._parts and isinstance(self._parts[-1], list):
            self._parts[-1] += request.rows(self.redactor)
        else:
            self._parts.append(request.rows(self.redactor))

    def table(self) -> pa.Table:
        """Every row added, as one table of the prediction log's schema."""
        tables = [
            pa.Table.from_pylist(part, schema=PREDICTION_SCHEMA) if isinstance(part, list) else part
            for part in self._parts
        ]
        return pa.concat_tables(tables) if tables else PREDICTION_SCHEMA.empty_table()


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

    Thread-safety: :meth:`append` may be called from any thread.
    """

    #: Name of the writer thread (shown in thread dumps).
    thread_name = "segment-log"

    def __init__(self, folder: Path, *, flush_interval_s: float, max_buffer: int) -> None:
        self.folder = Path(folder)
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.written = 0
        self._buffer: list[Entry] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def append(self, entry: Entry) -> None:
        """Buffer one entry."""
        with self._lock:
            self._buffer.append(entry)
            full = len(self._buffer) >= self.max_buffer
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write everything buffered now; return the number of rows written."""
        with self._write_lock:
            with self._lock:
                taken, self._buffer = self._buffer, []
            if not taken:
                return 0
            count = self._write(taken)
            self.written += count
            return count

    @abstractmethod
    def _write(self, entries: list[Entry]) -> int:
        """Write ``entries`` as one segment per model; return the number of rows."""

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep logging alive; the rows stay lost only for this flush
                _LOG.exception("serving: writing the %s failed", self.thread_name)

    def close(self) -> None:
        """Stop the writer and write what is left (call on shutdown)."""
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
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

    Thread-safety: :meth:`append` may be called from any thread.
    """

    thread_name = "prediction-log"

    def __init__(
        self,
        folder: Path,
        *,
        flush_interval_s: float,
        max_buffer: int,
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__(folder, flush_interval_s=flush_interval_s, max_buffer=max_buffer)
        self.redactor = redactor

    def _write(self, entries: list[LoggedRequest]) -> int:
        by_model: dict[str, Segment] = {}
        for request in entries:
            segment = by_model.get(request.model)
            if segment is None:
                segment = by_model[request.model] = Segment(self.redactor)
            segment.add(request)
        for model, segment in by_model.items():
            write_segment(self.folder / model, segment.table())
        return sum(segment.n_rows for segment in by_model.values())


class FeedbackLog(BufferedLog[pa.Table]):
    """Append-only, buffered feedback log: delayed labels under ``folder/<model>/``.

    Each appended table holds validated :data:`~modelcycle.store.FEEDBACK_SCHEMA`
    rows of one model (see :class:`~modelcycle.serving.FeedbackValidator`); a flush
    writes one segment per model.

    Thread-safety: :meth:`append` may be called from any thread.
    """

    thread_name = "feedback-log"

    def _write(self, entries: list[pa.Table]) -> int:
        by_model: dict[str, list[pa.Table]] = defaultdict(list)
        for table in entries:
            if len(table):
                by_model[table.column("model")[0].as_py()].append(table)
        for model, tables in by_model.items():
            write_segment(self.folder / model, pa.concat_tables(tables).cast(FEEDBACK_SCHEMA))
        return sum(len(table) for table in entries)
