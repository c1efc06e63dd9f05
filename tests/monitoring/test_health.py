"""Service health from the prediction log, checked against NumPy on the same requests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelcycle.core import ValidationError
from modelcycle.monitoring import service_health
from modelcycle.monitoring._health import VersionHealth, health_and_latency, latency_over_time
from modelcycle.store import LogLayout
from tests.monitoring.logbuild import T0, at, prediction, write_predictions


@pytest.fixture
def latencies(tmp_path: Path) -> dict[int, np.ndarray]:
    """Version 1: 300 requests (some of 3 rows), 12 refused; version 2: 100; shadow copies."""
    rng = np.random.default_rng(11)
    found: dict[int, list[float]] = {1: [], 2: []}
    rows = []
    for i in range(400):
        version = 1 if i < 300 else 2
        latency = float(rng.lognormal(1.0 + version / 2, 0.5))
        width = 3 if i % 10 == 0 else 1
        for r in range(width):
            rows.append(
                prediction(i * 0.5, request_id=f"r{i}", row=r, version=version, latency_ms=latency)
            )
        found[version].append(latency)
        if i % 4 == 0:  # shadow copies never count
            rows.append(prediction(i * 0.5, request_id=f"r{i}", version=9, route="shadow"))
    for j in range(12):
        rows.append(prediction(10 + j, request_id=f"bad{j}", version=1, error="invalid_input"))
    write_predictions(tmp_path, rows[:500])
    write_predictions(tmp_path, rows[500:])
    return {version: np.array(values) for version, values in found.items()}


def test_health_per_version_matches_numpy(tmp_path: Path, latencies: dict[int, np.ndarray]) -> None:
    health = service_health(LogLayout.under(tmp_path), "m")
    assert [h.version for h in health] == [1, 2]
    one, two = health
    assert (one.requests, one.rows, one.errors) == (312, 360, 12)
    assert (two.requests, two.rows, two.errors) == (100, 120, 0)
    assert one.error_rate == pytest.approx(12 / 312) and two.error_rate == 0.0
    for version, h in zip((1, 2), health, strict=True):
        expected = np.percentile(latencies[version], [50, 95, 99])
        assert [h.p50_ms, h.p95_ms, h.p99_ms] == pytest.approx(expected.tolist(), rel=1e-12)
    assert one.first == T0 and one.last == at(149.5)
    assert one.throughput_rps == pytest.approx(312 / 149.5)
    assert two.first == at(150) and two.last == at(199.5)
    data = one.to_dict()
    assert data["version"] == 1 and data["first"] == T0.isoformat()


def test_health_windows(tmp_path: Path, latencies: dict[int, np.ndarray]) -> None:
    late = service_health(LogLayout.under(tmp_path), "m", since=at(150))
    assert [h.version for h in late] == [2] and late[0].requests == 100
    early = service_health(LogLayout.under(tmp_path), "m", until=at(5))
    assert early[0].requests == 10
    assert early[0].p50_ms == pytest.approx(float(np.median(latencies[1][:10])))
    last = service_health(
        LogLayout.under(tmp_path), "m", last_rows=12
    )  # the last 10 requests, 2 with 3 rows
    assert [(h.version, h.requests, h.rows) for h in last] == [(2, 10, 12)]
    assert service_health(LogLayout.under(tmp_path / "nowhere"), "m") == []


def test_one_request_has_no_throughput(tmp_path: Path) -> None:
    write_predictions(tmp_path, [prediction(0, request_id="a", latency_ms=4.0)])
    (health,) = service_health(LogLayout.under(tmp_path), "m")
    assert math.isnan(health.throughput_rps) and health.p99_ms == 4.0
    assert health.to_dict()["throughput_rps"] is None


def test_latency_over_time(tmp_path: Path, latencies: dict[int, np.ndarray]) -> None:
    chart = latency_over_time(LogLayout.under(tmp_path), "m", freq="1min")
    assert chart.columns.tolist() == ["time", "version", "requests", "p50", "p99", "errors"]
    assert chart["time"].iloc[0] == pd.Timestamp(T0)
    first = chart.iloc[0]
    # The first minute: requests 0..119 of version 1, and the 12 refused at 12:00:10-21.
    assert (first["version"], first["requests"], first["errors"]) == (1, 132, 12)
    assert first["p50"] == pytest.approx(float(np.median(latencies[1][:120])))
    assert first["p99"] == pytest.approx(float(np.percentile(latencies[1][:120], 99)))
    assert chart.groupby("version")["requests"].sum().to_dict() == {1: 312, 2: 100}
    assert latency_over_time(LogLayout.under(tmp_path / "nowhere"), "m").empty
    with pytest.raises(ValidationError, match="fixed time span"):
        latency_over_time(LogLayout.under(tmp_path), "m", freq="W")


@pytest.mark.parametrize("window", [{}, {"since": at(150)}, {"last_rows": 12}, {"until": at(5)}])
def test_health_and_latency_together_are_each_alone(
    tmp_path: Path, latencies: dict[int, np.ndarray], window: dict[str, object]
) -> None:
    """What ``monitor`` reads (the requests aggregated once) is what each function reads."""
    layout = LogLayout.under(tmp_path)
    seen: list[list[VersionHealth]] = []

    def width(health: list[VersionHealth]) -> str:
        seen.append(health)
        return "15s"

    health, chart = health_and_latency(layout, "m", freq=width, **window)  # type: ignore[arg-type]
    assert health == service_health(layout, "m", **window) and seen == [health]  # type: ignore[arg-type]
    alone = latency_over_time(layout, "m", freq="15s", **window)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(chart, alone)
    assert not chart.empty
    assert health_and_latency(LogLayout.under(tmp_path / "nowhere"), "m", freq=width)[0] == []
