"""The states a run can be in."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """A run's status: ``RUNNING`` until it ends as one of the other three.

    ``KILLED``: interrupted (``KeyboardInterrupt``), or its process stopped sending
    heartbeats (killed, crashed, or cut off from the database) for longer than
    ``run_heartbeat_timeout_s``.
    """

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


#: Every run status, as stored.
RUN_STATUSES = tuple(status.value for status in RunStatus)
