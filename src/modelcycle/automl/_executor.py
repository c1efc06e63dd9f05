"""Where trials run: in this process, one at a time, or elsewhere, several at once.

The search (:class:`~modelcycle.automl._search.Search`) decides *what* to try and keeps
the budget; a :class:`TrialExecutor` decides *where* a trial runs. :class:`LocalExecutor`
runs each trial in the calling process as it is submitted, which is the search as it
always ran. An executor with more :attr:`~TrialExecutor.slots` (the Dask executor of
:mod:`modelcycle.distributed`) keeps that many trials in flight; the search proposes the
next configuration as soon as a slot frees, and records every result in this process, in
the order trials end.

A trial that runs elsewhere cannot read the search's clock. It is sent the seconds the
search had left when it was sent (:attr:`TrialJob.seconds_left`) and the search's end as
wall-clock time (:attr:`TrialJob.ends_at`), and its clock (:func:`trial_clock`) gives the
smaller of the two counts: the seconds left counted down from its arrival on its own
monotonic clock, and the time until that end. The first alone would give a trial the
time it waited in the cluster's queue or in transit on top of the budget; the second
alone would give a worker whose clock runs behind the search's more time than the
search had. Optuna's pruner is consulted through the study's
storage, which the executor chooses (:attr:`TrialExecutor.storage`): the workspace's
PostgreSQL database or the Dask scheduler's memory, so a worker reports a trial's
intermediate scores to the same study the search asks.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from numpy.typing import NDArray

from modelcycle.automl._metric import SearchMetric
from modelcycle.automl._trial import Fold, Matrix, Prune, TrialResult, run_trial
from modelcycle.core import Task

#: A refit on all rows, with more rounds, costs about this many fold fits of the trial.
REFIT_FOLDS = 1.6


@dataclass(frozen=True)
class TrialContext:
    """What every trial of one search shares: folds, target, task, metric, seeds, threads."""

    y: NDArray[Any]
    folds: list[Fold]
    task: Task
    metric: SearchMetric
    random_state: int
    n_jobs: int


@dataclass
class TrialJob:
    """One configuration to score, with the time and the study it answers to.

    ``trial`` is the Optuna trial a tuned configuration was asked from (``None`` for the
    portfolio); ``sign`` turns the metric into the study's loss.
    """

    result: TrialResult
    seconds_left: float
    trial: optuna.Trial | None = None
    sign: float = 1.0
    #: The search's end as ``time.time()`` when the job was sent elsewhere (``None``: here).
    ends_at: float | None = None

    @property
    def matrix_key(self) -> tuple[str, str]:
        """The (learner, encoding) whose matrix the trial trains on."""
        return self.result.learner, self.result.encoding


def execute_trial(
    job: TrialJob,
    matrix: Matrix,
    context: TrialContext,
    *,
    should_prune: Prune | None = None,
    time_left: Callable[[], float] | None = None,
) -> TrialResult:
    """Run ``job`` here: every fold gets its share of the time left (see :func:`run_trial`).

    ``time_left`` is the search's own clock when the trial runs in its process; without
    it the trial runs on :func:`trial_clock` from now.
    """
    folds = len(context.folds)
    left = time_left if time_left is not None else trial_clock(job)

    def fold_deadline(fold: int) -> float:
        """Seconds fold ``fold`` may take: its share of the search's time left.

        The folds left share it with the refit this trial would need if it won, which
        costs about :data:`REFIT_FOLDS` of its fold fits.
        """
        return left() / (folds - fold + REFIT_FOLDS)

    return run_trial(
        job.result,
        matrix=matrix,
        y=context.y,
        folds=context.folds,
        task=context.task,
        metric=context.metric,
        random_state=context.random_state,
        n_jobs=context.n_jobs,
        deadline=fold_deadline,
        should_prune=should_prune,
        time_left=left,
    )


def trial_clock(job: TrialJob) -> Callable[[], float]:
    """The seconds ``job`` has left, for a trial that runs away from the search's clock.

    The smaller of :attr:`TrialJob.seconds_left` counted down from now and the time
    until :attr:`TrialJob.ends_at` (see the module documentation).

    Examples
    --------
    >>> result = TrialResult(number=0, learner="lightgbm", params={}, source="portfolio")
    >>> late = TrialJob(result, seconds_left=60.0, ends_at=time.time() - 1.0)
    >>> trial_clock(late)() < 0  # it waited past the search's end: no time left
    True
    >>> round(trial_clock(TrialJob(result, seconds_left=5.0))())
    5
    """
    started = time.monotonic()

    def time_left() -> float:
        left = job.seconds_left - (time.monotonic() - started)
        return left if job.ends_at is None else min(left, job.ends_at - time.time())

    return time_left


def reporting(trial: optuna.Trial, sign: float) -> Prune:
    """A pruning check that reports each fold's mean score to ``trial``'s study."""

    def should_prune(step: int, value: float) -> bool:
        trial.report(sign * value, step)
        return bool(trial.should_prune())

    return should_prune


class TrialExecutor(ABC):
    """Runs the search's trials; see the module documentation."""

    #: Trials in flight at once.
    slots: int = 1
    #: The Optuna storage of the search's studies (``None``: in this process's memory).
    storage: optuna.storages.BaseStorage | str | None = None

    @abstractmethod
    def submit(
        self,
        job: TrialJob,
        matrices: Callable[[str, str], Matrix],
        context: TrialContext,
        time_left: Callable[[], float],
    ) -> Any:
        """Start ``job``; return a handle :meth:`wait` understands."""

    @abstractmethod
    def wait(self, pending: Sequence[Any]) -> tuple[list[TrialResult], list[Any]]:
        """Block until at least one of ``pending`` ends: ``(their results, still pending)``."""


class LocalExecutor(TrialExecutor):
    """Each trial runs in this process when it is submitted, on the search's clock."""

    def submit(
        self,
        job: TrialJob,
        matrices: Callable[[str, str], Matrix],
        context: TrialContext,
        time_left: Callable[[], float],
    ) -> TrialResult:
        prune = reporting(job.trial, job.sign) if job.trial is not None else None
        matrix = matrices(*job.matrix_key)
        return execute_trial(job, matrix, context, should_prune=prune, time_left=time_left)

    def wait(self, pending: Sequence[Any]) -> tuple[list[TrialResult], list[Any]]:
        return list(pending), []
