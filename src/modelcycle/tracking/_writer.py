"""Buffered, batched writes of metrics, params and tags.

Logging calls validate their input and append it to an in-memory buffer; a
background thread writes the buffer in one transaction every
``interval_s`` seconds, or as soon as it holds ``max_buffer`` records. ``flush()``
writes synchronously in the caller's thread. A run's end, :meth:`BatchWriter.close`
and interpreter exit all flush, so nothing logged is lost on a clean exit; a hard
crash loses at most the last interval.

If a write fails (the database went away), the records go back to the front of
the buffer and the error is raised by the next logging call or ``flush()``, so a
failure is never silent.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_log = logging.getLogger("modelcycle.tracking")


@dataclass(frozen=True, slots=True)
class MetricRecord:
    """One metric value as it will be stored."""

    run_id: str
    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ParamRecord:
    """One param (``kind='param'``) or tag (``kind='tag'``) value."""

    kind: str
    run_id: str
    key: str
    value: str


Record = MetricRecord | ParamRecord


class BatchWriter:
    """Collect records and hand them, in batches, to ``write_batch``.

    Parameters
    ----------
    write_batch:
        Stores a list of records in one transaction (may be retried on failure).
    interval_s:
        Longest time a record waits in memory.
    max_buffer:
        Buffer size that triggers an immediate background write.

    Thread-safety: every method may be called from any thread.
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[Record]], None],
        *,
        interval_s: float,
        max_buffer: int,
    ) -> None:
        self._write_batch = write_batch
        self._interval_s = interval_s
        self._max_buffer = max_buffer
        self._pending: list[Record] = []
        self._lock = threading.Lock()  # guards _pending, _error, _thread
        self._io_lock = threading.Lock()  # one batch in flight, in order
        self._wake = threading.Event()
        self._closed = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        _EXIT_FLUSH.add(self)

    def add(self, records: Sequence[Record]) -> None:
        """Queue records for writing; raise a previous background write error, if any."""
        with self._lock:
            self._raise_pending_error()
            self._pending.extend(records)
            full = len(self._pending) >= self._max_buffer
            if self._thread is None or not self._thread.is_alive():
                self._start_thread()
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Write everything queued so far, in the caller's thread."""
        with self._io_lock:
            with self._lock:
                self._raise_pending_error()
            self._drain_locked()

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()

    def _start_thread(self) -> None:
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="modelcycle-tracking-writer", daemon=True
        )
        self._thread.start()

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            with self._io_lock:
                try:
                    self._drain_locked()
                except Exception as exc:  # surfaced to the next caller
                    _log.warning("tracking write failed, will retry: %s", exc)
                    with self._lock:
                        self._error = exc

    def _drain_locked(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self._write_batch(batch)
        except BaseException:
            with self._lock:
                self._pending[:0] = batch
            raise


_EXIT_FLUSH: weakref.WeakSet[BatchWriter] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for writer in list(_EXIT_FLUSH):
        try:
            writer.close()
        except Exception as exc:  # the interpreter is exiting: report, don't raise
            _log.error("could not write buffered tracking records at exit: %s", exc)
