"""A ``lightgbm.dask`` fit that ends by its deadline, whatever the cluster's real speed.

The rounds a cluster fit can afford are planned before it starts, from the search's
timings on one machine; a round on a cluster can cost several times that (every split
of every tree waits on a network exchange between the workers, and the rows a round
does not draw are still scored). So the client watches the fit: each worker's LightGBM
callback (:class:`_Paced`) reports its rounds and reads the plan after every round, and
when the measured pace says the planned rounds would end after the deadline, the client
publishes a new plan: fewer rounds, and from a given round on a learning rate raised in
proportion (boosting's progress goes roughly with rounds times learning rate), up to a
ceiling.

All workers must stop after the same round and change the rate before the same round
(they build the same trees in lockstep: one that trains a round the others do not waits
for them forever). A change therefore takes effect at least
:data:`MARGIN_ROUNDS` rounds (and :data:`MARGIN_SECONDS` seconds of rounds) after the
latest round the client saw reported: the workers read the plan after every round and
never get more than a round apart, so each has read the change before it applies. Only
one rate change is made; later plans only stop earlier.

The plan and the progress travel through two Dask ``Variable`` objects named for the
fit, plain tuples and integers, deleted when the fit ends.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from modelcycle.core import ModelcycleError

if TYPE_CHECKING:
    from distributed import Client

#: A change of plan applies at least this many rounds after the latest reported one ...
MARGIN_ROUNDS = 5
#: ... and at least this many seconds of rounds after it.
MARGIN_SECONDS = 2.0
#: How often the client reads the fit's progress.
POLL_SECONDS = 0.2
#: Rounds and seconds of them measured before the pace is trusted.
MEASURE_ROUNDS, MEASURE_SECONDS = 3, 1.0
#: How long a failed fit is given to stop before the error is raised.
STOP_SECONDS = 10.0
#: LightGBM's network time-out on the workers, in minutes (its default is two hours: a
#: worker lost mid-fit would leave the others waiting that long).
NETWORK_TIMEOUT_MINUTES = 10
#: How long a worker waits for the plan (it is always there while the client watches).
PLAN_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Plan:
    """Rounds the booster ends with; optionally a learning rate from a given round on.

    ``rate_after``: the rate applies to the rounds after the first ``rate_after``.
    """

    stop_after: int
    rate: float | None = None
    rate_after: int | None = None

    def as_tuple(self) -> tuple[int, float | None, int | None]:
        return (self.stop_after, self.rate, self.rate_after)


@dataclass(frozen=True)
class Paced:
    """What the pace did: the rounds trained, the measured seconds per round, the rates."""

    rounds: int
    seconds_per_round: float | None
    rate: float
    final_rate: float
    rate_after: int | None

    @property
    def mean_rate(self) -> float:
        """The rate that, over all the rounds, makes the same progress."""
        if self.rate_after is None or self.rounds <= self.rate_after:
            return self.rate
        later = self.rounds - self.rate_after
        return (self.rate * self.rate_after + self.final_rate * later) / self.rounds


class _Paced:
    """The workers' side: a LightGBM callback run after each round on every worker."""

    order = 40
    before_iteration = False

    def __init__(self, name: str, wait: float = PLAN_WAIT_SECONDS) -> None:
        self.name, self.wait = name, wait

    def __call__(self, env: Any) -> None:
        import lightgbm as lgb

        done = env.iteration + 1 - env.begin_iteration
        _variable(f"{self.name}-progress").set(done)
        try:
            plan = _variable(f"{self.name}-plan").get(timeout=self.wait)
        except TimeoutError:  # the client is gone: nobody will use the rounds
            raise lgb.callback.EarlyStopException(env.iteration, []) from None
        stop_after, rate, rate_after = plan
        if rate is not None and done == rate_after:
            env.model.reset_parameter({"learning_rate": rate})
        if done >= stop_after:
            raise lgb.callback.EarlyStopException(env.iteration, [])


class Pace:
    """The client's side: publishes the plan and rewrites it as the measured pace says.

    Parameters
    ----------
    client:
        The cluster's client.
    rounds:
        The planned rounds (never more are trained).
    rate:
        The planned learning rate.
    seconds:
        Time from now until the last round must have ended.
    max_rate:
        The highest rate a new plan gives.
    clock:
        Seconds on a monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        client: Client,
        rounds: int,
        rate: float,
        seconds: float,
        *,
        max_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.rate, self.max_rate, self.clock = client, rate, max_rate, clock
        self.deadline = clock() + seconds
        self.plan = Plan(max(1, int(rounds)))
        self.name = f"modelcycle-pace-{os.urandom(6).hex()}"
        self._first: tuple[int, float] | None = None
        self._latest: tuple[int, float] | None = None

    @property
    def callback(self) -> _Paced:
        """The callback to give the fit (``callbacks=[pace.callback]``)."""
        return _Paced(self.name)

    def run(self, fit: Callable[[], Any], workers: set[str] | None = None) -> Any:
        """``fit()`` on a thread of this process, paced; its result.

        A worker of the fit (``workers``: those holding its rows; default all) that
        leaves the cluster during it (its nanny restarts a worker past 95% of its memory
        limit) ends it at once with an error saying so: the others
        would wait for its part of every round until LightGBM's network time-out. Should
        this thread be interrupted, the workers are told to stop soon (within the
        margin) before the interruption goes on: a fit left running would hold them.
        """
        plan = _variable(f"{self.name}-plan", self.client)
        progress = _variable(f"{self.name}-progress", self.client)
        plan.set(self.plan.as_tuple())
        progress.set(0)
        workers = self._workers() if workers is None else set(workers)
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["result"] = fit()
            except BaseException as error:  # re-raised on the calling thread
                outcome["error"] = error

        thread = threading.Thread(target=target, name=self.name, daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(POLL_SECONDS)
                if not thread.is_alive():
                    break
                lost = workers - self._workers()
                if lost:
                    raise _lost(lost)
                self._observe(int(progress.get()))
                changed = self.replan()
                if changed is not None:
                    self.plan = changed
                    plan.set(changed.as_tuple())
        except BaseException:
            latest = self._latest[0] if self._latest else 0
            with contextlib.suppress(Exception):  # the cluster may be what failed
                plan.set(replace(self.plan, stop_after=latest + MARGIN_ROUNDS).as_tuple())
            thread.join(STOP_SECONDS)  # the fit stops, or is left to LightGBM's time-out
            raise
        finally:
            # A fit still running reads the plan after each round: its Variables stay
            # (a read of a deleted one would wait forever, holding the worker's thread).
            for variable in (plan, progress) if not thread.is_alive() else ():
                with contextlib.suppress(Exception):
                    variable.delete()
        if "error" in outcome:
            lost = workers - self._workers()
            if lost:
                raise _lost(lost) from outcome["error"]
            raise outcome["error"]
        return outcome["result"]

    def _workers(self) -> set[str]:
        return set(self.client.scheduler_info(n_workers=-1)["workers"])

    def _observe(self, done: int) -> None:
        now = self.clock()
        if done < 1:
            return
        if self._first is None:
            self._first = (done, now)
        if self._latest is None or done != self._latest[0]:
            self._latest = (done, now)

    def seconds_per_round(self) -> float | None:
        """Seconds per round measured so far (``None`` until enough is measured)."""
        if self._first is None or self._latest is None:
            return None
        rounds = self._latest[0] - self._first[0]
        seconds = self._latest[1] - self._first[1]
        if rounds < MEASURE_ROUNDS or seconds < MEASURE_SECONDS:
            return None
        return seconds / rounds

    def replan(self) -> Plan | None:
        """A new plan when the planned rounds would end after the deadline, else ``None``."""
        per_round = self.seconds_per_round()
        if per_round is None or self._latest is None:
            return None
        done, seen = self._latest
        now = self.clock()
        # Rounds trained since the report was seen, as the pace says.
        at = done + int((now - seen) / per_round)
        end = now + (self.plan.stop_after - at) * per_round
        if end <= self.deadline + per_round:
            return None
        margin = max(MARGIN_ROUNDS, math.ceil(MARGIN_SECONDS / per_round))
        first = at + margin  # the earliest round a change may take effect after
        affordable = at + max(0, int((self.deadline - now) / per_round))
        stop = max(first, affordable)
        if stop >= self.plan.stop_after:
            return None
        if self.plan.rate_after is not None or stop <= first:
            return replace(self.plan, stop_after=stop)
        # The rounds after `first` make the progress the planned ones after it would have.
        rate = min(self.max_rate, self.rate * (self.plan.stop_after - first) / (stop - first))
        if rate <= self.rate:
            return replace(self.plan, stop_after=stop)
        return Plan(stop, rate, first)

    def report(self, rounds: int) -> Paced:
        """What the pace did, for a booster of ``rounds`` rounds."""
        final = self.plan.rate if self.plan.rate is not None else self.rate
        return Paced(rounds, self.seconds_per_round(), self.rate, final, self.plan.rate_after)


def _lost(workers: set[str]) -> ModelcycleError:
    return ModelcycleError(
        f"worker(s) {sorted(workers)} left the Dask cluster during the LightGBM fit, which "
        "cannot go on without their rows (the other workers' part of it ends within "
        f"LightGBM's network time-out, {NETWORK_TIMEOUT_MINUTES} minutes); a worker's nanny "
        "restarts it past 95% of its memory limit: give the workers more memory (or add "
        "workers), then train again"
    )


def _variable(name: str, client: Client | None = None) -> Any:
    """The Dask ``Variable`` ``name`` (on a worker, through the worker's client)."""
    from distributed import Variable

    return Variable(name, client=client)  # type: ignore[no-untyped-call]
