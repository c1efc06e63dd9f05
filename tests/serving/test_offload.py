"""Model calls run in model threads, never on the event loop (issue 11).

A model of the test's own class (the ``trusted`` flavor) blocks in ``predict`` until
the test lets it go; meanwhile ``/health/live`` must answer. Were the call made on the
event loop, the probe would wait for the model and time out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.serving import ServedModel, load_served
from modelcycle.serving import _json as json_module
from modelcycle.serving._batcher import MicroBatcher
from modelcycle.serving._json import LARGE_BODY_BYTES, decode_in_pieces
from modelcycle.serving._metrics import ServingMetrics
from modelcycle.serving._offload import INLINE_CALL_S, THREAD_PREFIX, ModelThreads, row_count
from tests.serving.conftest import make_app, running


class Gate:
    """Shared by the test and :class:`GatedModel` (which skops rebuilds without it)."""

    armed: ClassVar[threading.Event] = threading.Event()
    entered: ClassVar[threading.Event] = threading.Event()
    release: ClassVar[threading.Event] = threading.Event()
    threads: ClassVar[list[str]] = []

    @classmethod
    def arm(cls) -> None:
        for event in (cls.entered, cls.release):
            event.clear()
        cls.threads.clear()
        cls.armed.set()

    @classmethod
    def disarm(cls) -> None:
        cls.armed.clear()
        cls.release.set()


class GatedModel:
    """A slow regressor (5 ms a call) whose ``predict``, once the gate is armed, records its
    thread and waits."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if Gate.armed.is_set():
            Gate.threads.append(threading.current_thread().name)
            Gate.entered.set()
            Gate.release.wait(30)
        time.sleep(0.005)
        return np.zeros(len(frame))


@pytest.fixture(scope="module")
def gated(served: mc.Workspace) -> str:
    sample = pd.DataFrame({"x": [1.0, 2.0]})
    with served.start_run(experiment="serving", name="gated") as run:
        run.log_model(GatedModel(), signature=sample, flavor="trusted", trusted=True)
    served.registry.register(run, name="gated", trusted=True)
    served.registry.promote("gated", 1, force=True)
    return "gated"


@pytest.fixture
def base(served: mc.Workspace, gated: str, tmp_path: Path) -> Iterator[str]:
    app = make_app(served, tmp_path / "log", models=(gated,), max_batch_rows=64)
    try:
        with running(app) as url:
            yield url
    finally:
        Gate.disarm()


REQUESTS = {
    "micro-batched row": ("/v1/models/gated/predict", {"rows": [{"x": 1.0}]}, 200),
    "large request": ("/v1/models/gated/predict", {"columns": {"x": [1.0] * 500}}, 200),
    # the model predicts (in a thread), then has no contributions to explain: 400
    "explained row": ("/v1/models/gated/predict?explain=true", {"rows": [{"x": 1.0}]}, 400),
    "v2 infer": (
        "/v2/models/gated/infer",
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
        200,
    ),
    "invocations": ("/invocations", {"dataframe_records": [{"x": 1.0}]}, 200),
}


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize("kind", list(REQUESTS))
def test_health_answers_while_the_model_computes(base: str, kind: str, warm: bool) -> None:
    """Also after many calls: a model slower than INLINE_CALL_S never runs on the loop."""
    path, body, status = REQUESTS[kind]
    if warm:
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(20):
                http.post(path, json=body)
    Gate.arm()
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=base, timeout=30) as http:
        pending = pool.submit(http.post, path, json=body)
        assert Gate.entered.wait(10), "the model was never called"
        try:
            live = httpx.get(f"{base}/health/live", timeout=5)  # times out if the loop waits
            assert live.status_code == 200
            assert not pending.done()  # the prediction is still inside the model
        finally:
            Gate.release.set()
        response = pending.result(timeout=30)
    assert response.status_code == status, response.text
    assert Gate.threads and all(name.startswith(THREAD_PREFIX) for name in Gate.threads)


def test_concurrent_rows_keep_batching_while_a_batch_computes(base: str) -> None:
    """Rows arriving while a batch is in the model gather into the next model call."""
    Gate.arm()
    with ThreadPoolExecutor(9) as pool, httpx.Client(base_url=base, timeout=30) as http:
        first = pool.submit(http.post, "/v1/models/gated/predict", json={"rows": [{"x": 0.0}]})
        assert Gate.entered.wait(10)
        Gate.armed.clear()  # the next batch computes at once
        rest = [
            pool.submit(http.post, "/v1/models/gated/predict", json={"rows": [{"x": float(i)}]})
            for i in range(8)
        ]
        answers = [future.result(timeout=30) for future in rest]
        assert not first.done()
        Gate.release.set()
        answers.append(first.result(timeout=30))
    assert [a.status_code for a in answers] == [200] * 9
    assert all(a.json()["predictions"] == [0.0] for a in answers)


def test_model_threads_run_calls_off_the_calling_thread() -> None:
    threads = ModelThreads(1)

    async def scenario() -> tuple[str, str]:
        here = threading.current_thread().name
        there = await threads.run(lambda: threading.current_thread().name)
        return here, there

    try:
        here, there = asyncio.run(scenario())
        assert here != there and there.startswith(THREAD_PREFIX)
        threads.close()
        assert asyncio.run(scenario())[1].startswith(THREAD_PREFIX)  # restarts after close
    finally:
        threads.close()


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ([{"x": 1}] * 3, 3),
        ({"x": [1, 2], "y": [1, 2, 3, 4]}, 4),  # unequal: the validator will say so
        ({}, 0),
        ({"x": 5}, 0),  # not a column: counted as nothing
        (object(), 0),
    ],
)
def test_row_count(inputs: Any, expected: int) -> None:
    assert row_count(inputs) == expected


def test_feedback_is_checked_in_a_model_thread(
    served: mc.Workspace, gated: str, tmp_path: Path
) -> None:
    """With one model thread busy in the model, a feedback request waits its turn."""
    app = make_app(served, tmp_path / "log", models=(gated,), model_threads=1)
    labels = {"labels": [{"inputs": {"x": 1.0}, "label": 0.5}] * 1000}
    try:
        with (
            running(app) as base,
            ThreadPoolExecutor(2) as pool,
            httpx.Client(base_url=base, timeout=30) as http,
        ):
            Gate.arm()
            row = {"rows": [{"x": 1.0}]}
            predicting = pool.submit(http.post, "/v1/models/gated/predict", json=row)
            assert Gate.entered.wait(10)
            feedback = pool.submit(http.post, "/v1/models/gated/feedback", json=labels)
            assert httpx.get(f"{base}/health/live", timeout=5).status_code == 200
            time.sleep(0.5)
            assert not feedback.done(), feedback.result().text  # queued behind the model call
            Gate.release.set()
            assert feedback.result(timeout=30).status_code == 202
            assert predicting.result(timeout=30).status_code == 200
    finally:
        Gate.disarm()


@dataclass(frozen=True)
class Recorded(ServedModel):
    """A served version that notes the thread of each call and can be made slow."""

    threads: list[str] = field(default_factory=list)
    slow: list[bool] = field(default_factory=lambda: [False])

    def predict(self, inputs: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        if self.slow[0]:
            time.sleep(5 * INLINE_CALL_S)
        return super().predict(inputs)


def test_fast_batches_run_inline_and_slow_ones_in_a_thread(served: mc.Workspace) -> None:
    churn = load_served(served.registry, "churn/1", max_rows=1000)
    model = Recorded(**{f.name: getattr(churn, f.name) for f in fields(churn)})
    batcher = MicroBatcher(
        window_s=0.0, max_rows=64, metrics=ServingMetrics(), threads=ModelThreads(2)
    )
    row = [{"age": 40, "income": 50.0, "plan": "a"}]

    async def calls(count: int) -> None:
        for _ in range(count):
            await batcher.predict(model, row, 1)

    asyncio.run(calls(50))
    assert model.threads[0].startswith(THREAD_PREFIX)  # unknown cost: a thread first
    assert "MainThread" in model.threads  # fast (~0.2 ms a call): on the loop
    while model.threads[-1] != "MainThread":  # until the next call is due on the loop
        asyncio.run(calls(1))
    model.slow[0] = True
    model.threads.clear()
    asyncio.run(calls(3))
    assert model.threads[0] == "MainThread"  # not known to be slow yet: one call inline
    assert all(name.startswith(THREAD_PREFIX) for name in model.threads[1:])
    batcher.threads.close()


LARGE_BODIES: dict[str, tuple[str, Callable[[list[float]], Any], Callable[[Any], int]]] = {
    "v1 rows": (
        "/v1/models/gated/predict",
        lambda xs: {"rows": [{"x": x} for x in xs]},
        lambda answer: len(answer["predictions"]),
    ),
    "v1 columns": (
        "/v1/models/gated/predict",
        lambda xs: {"columns": {"x": xs}},
        lambda answer: len(answer["predictions"]),
    ),
    "v2 infer": (
        "/v2/models/gated/infer",
        lambda xs: {"inputs": [{"name": "x", "shape": [len(xs)], "datatype": "FP64", "data": xs}]},
        lambda answer: len(answer["outputs"][0]["data"]),
    ),
    "invocations": (
        "/invocations",
        lambda xs: {"dataframe_records": [{"x": x} for x in xs]},
        lambda answer: len(answer["predictions"]),
    ),
}


@pytest.mark.parametrize("kind", list(LARGE_BODIES))
def test_a_large_body_is_decoded_in_a_model_thread_while_health_answers(
    served: mc.Workspace, gated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Decoding holds Python's lock: a large body is decoded in pieces, off the loop."""
    decoding, release, threads = threading.Event(), threading.Event(), []

    def held_decoder(body: bytes) -> Any:
        threads.append(threading.current_thread().name)
        decoding.set()
        release.wait(30)
        return decode_in_pieces(body)

    monkeypatch.setattr(json_module, "decode_in_pieces", held_decoder)
    path, document, answered = LARGE_BODIES[kind]
    xs = [1_000_000 + index / 7 for index in range(15_000)]
    body = orjson.dumps(document(xs))
    assert len(body) >= LARGE_BODY_BYTES
    app = make_app(served, tmp_path / "log", models=(gated,), max_rows=20_000)
    with running(app) as url, ThreadPoolExecutor(1) as pool, httpx.Client(timeout=30) as http:
        headers = {"content-type": "application/json"}
        pending = pool.submit(http.post, f"{url}{path}", content=body, headers=headers)
        try:
            assert decoding.wait(10), "the body was not decoded in pieces"
            assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200
            assert not pending.done()  # still decoding
        finally:
            release.set()
        response = pending.result(timeout=30)
    assert response.status_code == 200, response.text
    assert answered(response.json()) == len(xs)
    assert threads and all(name.startswith(THREAD_PREFIX) for name in threads)
