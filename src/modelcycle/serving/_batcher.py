"""Micro-batching: concurrent small requests for one version answered by one model call.

A request that finds no open batch for its version opens one and arms a timer of
``window_s``; requests for the same version arriving before it fires join it, until
``max_rows`` rows are gathered (the batch then runs at once). When the version's
previous batch answered a single request, traffic is sparse and the new batch waits
no longer than the current event-loop turn (requests already received still join
it), so a lone client pays no window; once a batch gathers several, the next waits.
The batch runs as one :meth:`ServedModel.predict` call and each request gets its own
slice of the answer. The call runs in a model thread
(:class:`~modelcycle.serving._offload.ModelThreads`; while it computes, the requests that
arrive gather into the next batch), unless the version's recent batches took less than
:data:`~modelcycle.serving._offload.INLINE_CALL_S` each (a moving average): then it runs
on the event loop, which it holds no longer than that.

Why not always in a thread: the hop there and back cost single-row requests at
concurrency 1 about 0.09 ms of a 0.67 ms median (1,300 -> 1,100 req/s, the LightGBM
model of ``benchmarks/health_under_load.py``), for a call of ~0.2 ms. Why by time and
not by rows: a model's cost per row is unknown (a user's pipeline may take 100 ms for
one row); a version's first batch runs in a thread and is timed, and one slow call sends
the next ones to a thread.

Why a timer per open batch rather than a queue and a long-lived batcher task per
model: no task has to be started or stopped when a promotion swaps versions, and a
request costs one list append instead of a queue round trip.

Batches are keyed by the version object a request resolved from the hub's snapshot,
so a batch never mixes versions and every answer names the version that computed it.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

import numpy as np

from modelcycle.serving._columnar import Columns
from modelcycle.serving._metrics import ServingMetrics
from modelcycle.serving._model import Inputs, Prediction, ServedModel, as_rows
from modelcycle.serving._offload import INLINE_CALL_S, ModelThreads

#: What a batch's model call hands each request: its slice, or why it failed.
Outcome = Prediction | Exception
#: Every request's outcome, and how many seconds the model call took.
Computed = tuple[list[Outcome], float]


class _Batch:
    """Requests waiting for one model call on one version."""

    def __init__(self, model: ServedModel) -> None:
        self.model = model
        self.rows: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.futures: list[asyncio.Future[Prediction]] = []
        self.timer: asyncio.TimerHandle | None = None

    def add(self, rows: list[dict[str, Any]], future: asyncio.Future[Prediction]) -> None:
        self.rows += rows
        self.sizes.append(len(rows))
        self.futures.append(future)


class MicroBatcher:
    """Gathers small requests per version into one model call, run in a model thread.

    Parameters
    ----------
    window_s:
        Longest time the first request of a batch waits for others.
    max_rows:
        Most rows in one call; a request of this many rows or more runs alone.
    metrics:
        Where batch sizes and the queue depth are recorded.
    threads:
        Where the model calls run (off the event loop).

    Thread-safety: use from one event loop only.
    """

    def __init__(
        self,
        *,
        window_s: float,
        max_rows: int,
        metrics: ServingMetrics,
        threads: ModelThreads,
    ) -> None:
        self.window_s = window_s
        self.max_rows = max_rows
        self.metrics = metrics
        self.threads = threads
        self._open: dict[int, _Batch] = {}
        self._crowded: dict[int, bool] = {}
        self._seconds: dict[int, float] = {}  # moving average of a version's batch calls

    async def predict(
        self, model: ServedModel, inputs: Inputs, n_rows: int, *, columns: Columns | None = None
    ) -> Prediction:
        """Predict validated ``inputs`` (``n_rows`` rows) with ``model``, batched if small.

        A request predicted alone is read from its validated ``columns`` when given.
        """
        if n_rows >= self.max_rows:
            self.metrics.batched(model.name, model.version, 1, n_rows)
            return await self.threads.run(model.predict, columns if columns is not None else inputs)
        batch = self._open.get(id(model))
        if batch is not None and len(batch.rows) + n_rows > self.max_rows:
            self._run(batch)
            batch = None
        if batch is None:
            batch = self._start(model)
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        batch.add(inputs if isinstance(inputs, list) else as_rows(inputs), future)
        self.metrics.queue_depth.labels(model.name).inc()
        if len(batch.rows) >= self.max_rows:
            self._run(batch)
        return await future

    def _start(self, model: ServedModel) -> _Batch:
        wait = self.window_s if self._crowded.get(id(model), False) else 0.0
        batch = _Batch(model)
        self._open[id(model)] = batch
        batch.timer = asyncio.get_running_loop().call_later(wait, self._run, batch)
        return batch

    def _run(self, batch: _Batch) -> None:
        """Close a batch and predict it: on the loop when its version is fast, else in a thread."""
        if self._open.get(id(batch.model)) is batch:
            del self._open[id(batch.model)]
        if batch.timer is not None:
            batch.timer.cancel()
        model = batch.model
        self._crowded[id(model)] = len(batch.futures) > 1
        self.metrics.queue_depth.labels(model.name).dec(len(batch.futures))
        self.metrics.batched(model.name, model.version, len(batch.futures), len(batch.rows))
        if self._seconds.get(id(model), INLINE_CALL_S) < INLINE_CALL_S:
            self._answer(batch, predict_batch(model, batch.rows, batch.sizes))
            return
        call = self.threads.submit(predict_batch, model, batch.rows, batch.sizes)
        call.add_done_callback(partial(self._delivered, batch))

    def _delivered(self, batch: _Batch, call: asyncio.Future[Computed]) -> None:
        """Answer a batch computed in a thread (on the loop, when the call ended)."""
        if call.cancelled():  # the pool was closed under it: the server is stopping
            failed: list[Outcome] = [RuntimeError("the server stopped")] * len(batch.futures)
            self._answer(batch, (failed, INLINE_CALL_S))
        elif (error := call.exception()) is not None:
            self._answer(batch, ([_as_exception(error)] * len(batch.futures), INLINE_CALL_S))
        else:
            self._answer(batch, call.result())

    def _answer(self, batch: _Batch, computed: Computed) -> None:
        """Hand each waiting request its outcome; remember how long the call took."""
        outcomes, seconds = computed
        key = id(batch.model)
        previous = self._seconds.get(key, seconds)
        self._seconds[key] = previous + 0.2 * (seconds - previous)
        for future, outcome in zip(batch.futures, outcomes, strict=True):
            if future.done():  # a client that went away leaves a cancelled future
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def predict_batch(model: ServedModel, rows: list[dict[str, Any]], sizes: list[int]) -> Computed:
    """Each request's slice of one model call on all ``rows``, and the call's seconds.

    When the call fails, each request is predicted alone, so only the requests that
    fail get an error.
    """
    started = time.perf_counter()
    try:
        prediction = model.predict(rows)
    except Exception:  # find which request failed: predict each alone
        return _one_by_one(model, rows, sizes), time.perf_counter() - started
    slices: list[Outcome] = []
    start = 0
    for size in sizes:
        slices.append(_slice(prediction, start, start + size))
        start += size
    return slices, time.perf_counter() - started


def _one_by_one(model: ServedModel, rows: list[dict[str, Any]], sizes: list[int]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    start = 0
    for size in sizes:
        try:
            outcomes.append(model.predict(rows[start : start + size]))
        except Exception as error:
            outcomes.append(error)
        start += size
    return outcomes


def _as_exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else RuntimeError(repr(error))


def _slice(prediction: Prediction, start: int, stop: int) -> Prediction:
    probabilities = prediction.probabilities
    return Prediction(
        np.asarray(prediction.predictions[start:stop]),
        None if probabilities is None else probabilities[start:stop],
    )
