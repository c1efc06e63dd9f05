"""Micro-batching: concurrent small requests share one model call (issue 5)."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelcycle as mc
from modelcycle.serving import ServedModel, load_served
from modelcycle.serving._batcher import MicroBatcher
from modelcycle.serving._metrics import ServingMetrics
from modelcycle.serving._offload import ModelThreads
from tests.serving.conftest import make_app, running

ROWS = [{"age": 18 + 3 * i, "income": 40.0 + i, "plan": "abc"[i % 3]} for i in range(24)]


@pytest.fixture(scope="module")
def churn(served: mc.Workspace) -> ServedModel:
    return load_served(served.registry, "churn/1", max_rows=1000)


def _post_together(base: str, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send every payload at once, one thread and connection each; answers in order."""
    answers: list[dict[str, Any]] = [{} for _ in payloads]
    start = threading.Barrier(len(payloads))

    def send(index: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            client.get("/health/live")  # connect before the barrier
            start.wait()
            response = client.post("/v1/models/churn/predict", json=payloads[index])
            answers[index] = {"status": response.status_code, **response.json()}

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    assert match is not None, f"{name}{{{wanted}}} not in /metrics"
    return float(match.group(1))


def test_concurrent_requests_are_batched_with_unbatched_answers(
    served: mc.Workspace, churn: ServedModel, tmp_path: Path
) -> None:
    app = make_app(served, tmp_path, models=("churn",), batch_window_ms=50, max_batch_rows=64)
    payloads: list[dict[str, Any]] = [{"rows": [row]} for row in ROWS[:20]]
    payloads += [{"columns": {k: [r[k] for r in ROWS[20:]] for k in ROWS[0]}}]  # 4 rows
    with running(app) as base:
        answers = _post_together(base, payloads)
        metrics = httpx.get(f"{base}/metrics").text
    alone = [churn.predict([row]) for row in ROWS]
    for index, answer in enumerate(answers[:20]):
        assert answer["status"] == 200 and answer["version"] == 1
        assert answer["probabilities"] == [alone[index].probabilities[0].tolist()]
        assert answer["predictions"] == alone[index].predictions.tolist()
    assert answers[20]["probabilities"] == [p.probabilities[0].tolist() for p in alone[20:]]
    calls = _metric(metrics, "modelcycle_batch_requests_count", model="churn", version="1")
    single = _metric(
        metrics, "modelcycle_batch_requests_bucket", le="1.0", model="churn", version="1"
    )
    assert 1 <= calls < 21 and single < calls  # some model call answered several requests
    assert _metric(metrics, "modelcycle_batch_rows_sum", model="churn", version="1") == 24
    assert _metric(metrics, "modelcycle_batch_queue_depth", model="churn") == 0


def test_a_full_batch_runs_at_once_and_large_requests_run_alone(churn: ServedModel) -> None:
    metrics = ServingMetrics()
    batcher = MicroBatcher(
        window_s=60.0, max_rows=4, metrics=metrics, threads=ModelThreads(2)
    )  # only size flushes

    async def scenario() -> list[Any]:
        small = [batcher.predict(churn, [row], 1) for row in ROWS[:4]]
        large = batcher.predict(churn, ROWS[:5], 5)
        return await asyncio.wait_for(asyncio.gather(*small, large), timeout=10)

    answers = asyncio.run(scenario())
    assert [a.predictions.tolist()[0] for a in answers[:4]] == churn.predict(
        ROWS[:4]
    ).predictions.tolist()
    assert len(answers[4].predictions) == 5
    assert metrics.batch_requests.labels("churn", "1")._sum.get() == 5  # 4 + 1


def test_one_failing_request_does_not_fail_its_batch(churn: ServedModel) -> None:
    batcher = MicroBatcher(
        window_s=0.0, max_rows=64, metrics=ServingMetrics(), threads=ModelThreads(2)
    )

    async def scenario() -> list[Any]:
        good = batcher.predict(churn, [ROWS[0]], 1)
        bad = batcher.predict(churn, [{"age": object(), "plan": "a"}], 1)  # unvalidated
        return await asyncio.gather(good, bad, return_exceptions=True)

    good, bad = asyncio.run(scenario())
    assert good.probabilities.tolist() == churn.predict([ROWS[0]]).probabilities.tolist()
    assert isinstance(bad, Exception)
