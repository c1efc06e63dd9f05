"""Wall-clock budgets: how long the search may run, measured with a monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Callable


class Budget:
    """A deadline ``seconds`` from creation.

    Examples
    --------
    >>> budget = Budget(60)
    >>> 59 < budget.remaining() <= 60
    True
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self._clock = clock
        self.started = clock()

    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return self._clock() - self.started

    def remaining(self) -> float:
        """Seconds left (negative once overdrawn)."""
        return self.seconds - self.elapsed()
