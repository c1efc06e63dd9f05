"""The prediction log: answered predictions buffered in memory, written as Parquet segments.

Every answered request is appended (a cheap list append under a lock); a writer thread
turns the buffer into one Parquet file per model and flush under
``log_dir/<model>/`` at least every ``flush_interval_s`` seconds, when the buffer
holds ``max_buffer`` rows, and on :meth:`PredictionLog.close`. A crash loses at most
one flush interval; a clean shutdown loses nothing. ``route`` says how the request
reached the version: ``primary``, ``canary`` or ``shadow`` (a shadow row repeats the
answered request's ``request_id``, for comparison). Segments written before the
``route`` column existed lack it; read with ``union_by_name=true``. With DuckDB::

    duckdb.sql("select * from 'log_dir/**/*.parquet'")
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from numpy.typing import NDArray

from modelcycle.serving._model import as_rows
from modelcycle.serving._privacy import Redactor
from modelcycle.store import PREDICTION_SCHEMA, inputs_json, write_segment

_LOG = logging.getLogger("modelcycle.serving")

SCHEMA = PREDICTION_SCHEMA


@dataclass(frozen=True)
class LoggedRequest:
    """One answered request, as the route saw it (expanded to rows when written)."""

    request_id: str
    time: datetime
    model: str
    version: int
    inputs: list[dict[str, Any]] | dict[str, list[Any]]
    predictions: NDArray[Any]
    probabilities: NDArray[np.float64] | None
    latency_ms: float
    route: str = "primary"
    sensitive: frozenset[str] = frozenset()

    def rows(self, redactor: Redactor | None = None) -> list[dict[str, Any]]:
        """One log row per predicted input row (sensitive inputs hashed or dropped)."""
        inputs = self.inputs if isinstance(self.inputs, list) else as_rows(self.inputs)
        if redactor is not None and self.sensitive:
            inputs = [redactor.row(row, self.sensitive) for row in inputs]
        predictions = self.predictions.tolist()
        probabilities = self.probabilities.tolist() if self.probabilities is not None else None
        return [
            {
                "request_id": self.request_id,
                "time": self.time,
                "model": self.model,
                "version": self.version,
                "row": index,
                "inputs": inputs_json(row),
                "prediction": _json(predictions[index]),
                "probabilities": probabilities[index] if probabilities is not None else None,
                "latency_ms": self.latency_ms,
                "route": self.route,
                "error": None,
            }
            for index, row in enumerate(inputs)
        ]


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class PredictionLog:
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

    def __init__(
        self,
        folder: Path,
        *,
        flush_interval_s: float,
        max_buffer: int,
        redactor: Redactor | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.redactor = redactor
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.written = 0
        self._buffer: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def append(self, request: LoggedRequest) -> None:
        """Buffer one answered request."""
        with self._lock:
            self._buffer.append(request)
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
            by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for request in taken:
                by_model[request.model] += request.rows(self.redactor)
            for model, rows in by_model.items():
                self._write(model, rows)
            count = sum(len(rows) for rows in by_model.values())
            self.written += count
            return count

    def _write(self, model: str, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA)
        write_segment(self.folder / model, table)

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep logging alive; the rows stay lost only for this flush
                _LOG.exception("serving: writing the prediction log failed")

    def close(self) -> None:
        """Stop the writer and write what is left (call on shutdown)."""
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
