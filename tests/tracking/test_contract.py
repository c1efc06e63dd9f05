"""Every database backend passes the tracking contract (``workspace`` is per backend)."""

from __future__ import annotations

from modelcycle.testing import TrackingContract


class TestTracking(TrackingContract):
    pass
