"""The time budget of a training job: one object, one meaning, measured on a monotonic clock.

**The budget covers the whole job.** For ``modelcycle train --budget S`` and
``ws.train(budget=S)`` that is reading and checking the data, the search, ensemble
selection, the refit of the chosen models on all training rows, the holdout evaluation
and packaging; for :meth:`AutoML.fit` on its own, everything ``fit`` does. Steps that
come after the search keep their time with :meth:`Budget.keep`, which hands the search
a view of the same deadline ending that much earlier — never a second clock.

**It is wall time, and it is hard.** Within :meth:`AutoML.fit` the search keeps, from
this same budget, what the steps after it will take, estimated from the trials' measured
seconds per row: refitting the likely ensemble on all rows, ensemble selection, and
transforming and predicting as many rows as it trained on (so ``fit`` plus predicting a
test set no larger than the training set stays within the budget). Boosting and forests
stop growing at their share of the time, in trials and in the refit alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Budget:
    """``seconds`` of wall-clock time from creation.

    Parameters
    ----------
    seconds:
        The whole job's time.
    clock:
        Seconds on a monotonic clock (injectable for tests).

    Examples
    --------
    >>> budget = Budget(60)
    >>> 59 < budget.remaining() <= 60
    True
    >>> 49 < budget.keep(10).remaining() <= 50
    True
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self._clock = clock
        self.started = clock()

    def elapsed(self) -> float:
        """Seconds since the job started."""
        return self._clock() - self.started

    def remaining(self) -> float:
        """Seconds left (negative once overdrawn)."""
        return self.seconds - self.elapsed()

    def keep(self, seconds: float) -> Budget:
        """The same deadline, ``seconds`` earlier: what an earlier step may use.

        The train job keeps time for evaluation and packaging and gives the rest to
        the search; the view shares this budget's clock and start.
        """
        view = Budget.__new__(Budget)
        view.seconds, view._clock, view.started = self.seconds - seconds, self._clock, self.started
        return view
