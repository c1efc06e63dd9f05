"""Heartbeats: an open run records, every few seconds, that its process is alive.

A run whose process is killed (``kill -9``, an out-of-memory kill, a lost machine)
cannot end itself, so it would stay ``RUNNING`` for ever. Instead, one daemon thread
per :class:`~modelcycle.tracking.Tracker` stamps ``runs.heartbeat_at`` of every run
the process has open each ``run_heartbeat_interval_s`` seconds, and whoever next
reads runs ends a ``RUNNING`` run silent for more than ``run_heartbeat_timeout_s`` as
``KILLED``, its end time being its last heartbeat
(:meth:`~modelcycle.tracking.TrackingStore.end_silent_runs`).

A process that is only paused (stopped, a laptop asleep) longer than the timeout
finds its run ``KILLED`` when it wakes; the heartbeat does not revive it, but ending
the run normally still records its real outcome (``FINISHED`` or ``FAILED``).
Hosts that share a workspace must agree on the time to within the timeout.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

_log = logging.getLogger("modelcycle.tracking")


class Heartbeat:
    """Call ``beat(run_ids)`` every ``interval_s`` seconds while any run is open.

    Thread-safety: every method may be called from any thread. The beating thread
    starts with the first open run and stops when none is left (or on :meth:`close`);
    a failed beat is logged and tried again at the next interval.
    """

    def __init__(self, beat: Callable[[Sequence[str]], None], *, interval_s: float) -> None:
        self._beat = beat
        self._interval_s = interval_s
        self._runs: set[str] = set()
        self._lock = threading.Lock()  # guards _runs, _thread, _pid
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, run_id: str) -> None:
        """Start beating for ``run_id``."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child: its parent's runs are not its own
                self._runs.clear()
                self._pid = os.getpid()
            self._runs.add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="modelcycle-run-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, run_id: str) -> None:
        """Stop beating for ``run_id`` (it ended)."""
        with self._lock:
            self._runs.discard(run_id)

    def open_runs(self) -> frozenset[str]:
        """The runs this process is beating for: alive, whatever their last heartbeat says."""
        with self._lock:
            return frozenset(self._runs) if self._pid == os.getpid() else frozenset()

    def close(self) -> None:
        """Stop the beating thread (open runs stop beating: close only when done)."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            with self._lock:
                run_ids = sorted(self._runs)
                if not run_ids:
                    self._thread = None
                    return
            try:
                self._beat(run_ids)
            except Exception as exc:  # the database may be back at the next beat
                _log.warning("could not record the heartbeat of %d run(s): %s", len(run_ids), exc)
