"""``monitor --cluster``: the log read part by part on a LocalCluster, as one machine reads it."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import distributed
import modelcycle as mc
from modelcycle.core import Settings, ValidationError
from modelcycle.distributed import ClusterLogReader
from modelcycle.distributed._monitoring import PART_BYTES, cut_parts
from modelcycle.monitoring import read_predictions
from modelcycle.packaging import InputSpec, Signature
from modelcycle.store import LogLayout
from tests.models import run_cli
from tests.monitoring.logbuild import T0, at, prediction, write_predictions
from tests.monitoring.served import bootstrap, log_predictions, train_cancer

SIGNATURE = Signature(
    (
        InputSpec("x", "double"),
        InputSpec("plan", "string"),
        InputSpec("active", "boolean"),
        InputSpec("email", "string", sensitive=True),
        InputSpec("time", "double"),  # named like a log column: read as inputs.time
    )
)


def _row(rng: np.random.Generator, second: float, **extra: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "x": float(rng.normal()),
        "plan": str(rng.choice(["free", "pro", "team", "ünïcode"])),
        "active": bool(rng.integers(2)),
        "email": uuid.uuid4().hex,
        "time": float(rng.integers(100)),
    }
    if rng.random() < 0.1:
        del inputs["x"]  # a missing key: a missing value
    if rng.random() < 0.05:
        inputs["plan"] = 7  # another type: a missing value when typed, text when not
    return prediction(second, inputs=inputs, prediction=float(rng.normal()), **extra)


@pytest.fixture(scope="module")
def log_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten segments of model ``m``: versions, routes, errors, tied times, repeated keys.

    The last segment repeats rows of the one before (a key logged twice).
    """
    home = tmp_path_factory.mktemp("partlog")
    rng = np.random.default_rng(7)
    rows: list[dict[str, Any]] = []
    for _ in range(9):
        rows = []
        for i in range(120):
            # Whole seconds shared across segments: many rows per time, ties at every cut.
            second = float(rng.integers(0, 200))
            route = str(rng.choice(["primary", "primary", "canary", "shadow"]))
            version = 1 + int(i % 3 == 0)
            if rng.random() < 0.05:
                rows.append(prediction(second, error="invalid", version=version, route=route))
            else:
                rows.append(_row(rng, second, route=route, version=version, row=i % 4))
        write_predictions(home, rows)
    write_predictions(home, rows[:40])
    return home


@pytest.fixture
def reader(dask_client: distributed.Client, log_home: Path) -> ClusterLogReader:
    return ClusterLogReader(dask_client, Settings(home=log_home))


@pytest.fixture
def sorts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time the client sorts a merged window again (``sort_rows`` spied on)."""
    from modelcycle.monitoring import _logparts

    calls: list[int] = []
    original = _logparts.sort_rows
    monkeypatch.setattr(_logparts, "sort_rows", lambda t: calls.append(1) or original(t))
    return calls


WINDOWS: list[dict[str, Any]] = [
    {},
    {"signature": SIGNATURE},
    {"signature": SIGNATURE, "last_rows": 37},
    {"signature": SIGNATURE, "last_rows": 37, "versions": [2]},
    {"signature": SIGNATURE, "last_rows": 400, "sample_rows": 150, "seed": 3},
    {"signature": SIGNATURE, "sample_rows": 101},
    {"signature": SIGNATURE, "since": at(50), "until": at(120), "sample_rows": 90},
    {"last_rows": 5, "include_errors": True, "routes": ["shadow"]},
    {"signature": SIGNATURE, "last_rows": 10_000},
    {"signature": SIGNATURE, "since": at(500)},  # nothing in the window
]


@pytest.mark.parametrize("options", WINDOWS, ids=[str(i) for i in range(len(WINDOWS))])
def test_the_cluster_reads_the_frame_one_machine_reads(
    reader: ClusterLogReader,
    log_home: Path,
    options: dict[str, Any],
    sorts: list[int],
) -> None:
    layout = LogLayout.under(log_home)
    expected = read_predictions(layout, "m", **options)
    found = reader(layout, "m", **options)
    pd.testing.assert_frame_equal(found, expected)
    assert sorts or len(found) < 2  # these segments overlap in time: the parts are merged


SAMPLED = [options for options in WINDOWS if "sample_rows" in options]


@pytest.mark.parametrize("bits", [1, 3])
@pytest.mark.parametrize("options", SAMPLED, ids=[str(i) for i in range(len(SAMPLED))])
def test_a_boundary_bucket_of_many_hashes_gives_the_exact_sample(
    reader: ClusterLogReader,
    log_home: Path,
    options: dict[str, Any],
    bits: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 2 or 8 buckets the sample's last hash shares its bucket with hundreds: the
    threshold is found among them, not at the bucket's end."""
    from modelcycle.distributed import _monitoring
    from modelcycle.monitoring import _logparts

    found: list[tuple[int, int, int] | None] = []
    merge = _logparts.merge_buckets
    monkeypatch.setattr(_monitoring, "BUCKET_BITS", bits)
    monkeypatch.setattr(
        _monitoring, "merge_buckets", lambda *a: found.append(merge(*a)) or found[-1]
    )
    layout = LogLayout.under(log_home)
    pd.testing.assert_frame_equal(
        reader(layout, "m", **options), read_predictions(layout, "m", **options)
    )
    ((low, high, need),) = found  # type: ignore[misc]
    assert need > 1 and high - low == 2 ** (64 - bits) - 1


def test_the_steps_report_progress_per_part(
    dask_client: distributed.Client, log_home: Path
) -> None:
    seen: list[tuple[str, int, int]] = []
    reader = ClusterLogReader(
        dask_client, Settings(home=log_home), progress=lambda *step: seen.append(step)
    )
    reader(LogLayout.under(log_home), "m", signature=SIGNATURE, last_rows=50)
    steps = [step for step, _, _ in seen]
    assert list(dict.fromkeys(steps)) == ["scanning", "finding the latest rows", "decoding"]
    totals = {total for _, _, total in seen}
    assert len(totals) == 1 and all(done <= total for _, done, total in seen)
    assert sorted(done for step, done, _ in seen if step == "decoding") == list(
        range(1, totals.pop() + 1)
    )


def test_a_model_without_a_log_reads_an_empty_frame(
    reader: ClusterLogReader, log_home: Path
) -> None:
    layout = LogLayout.under(log_home)
    found = reader(layout, "nobody", signature=SIGNATURE)
    pd.testing.assert_frame_equal(found, read_predictions(layout, "nobody", signature=SIGNATURE))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"routes": ["main"]}, "routes"),
        ({"last_rows": 0}, "last_rows"),
        ({"sample_rows": True}, "sample_rows"),
        ({"since": "yesterday"}, "since"),
        ({"versions": ["1"]}, "version"),
    ],
)
def test_bad_arguments_are_refused_as_one_machine_refuses_them(
    reader: ClusterLogReader, log_home: Path, options: dict[str, Any], message: str
) -> None:
    layout = LogLayout.under(log_home)
    with pytest.raises(ValidationError, match=message):
        read_predictions(layout, "m", **options)
    with pytest.raises(ValidationError, match=message):
        reader(layout, "m", **options)


def test_a_segment_the_workers_cannot_see_is_named(
    dask_client: distributed.Client, log_home: Path, tmp_path: Path
) -> None:
    # The client reads one folder, the workers are told of another: what a log on a
    # disk only the client has looks like from a worker.
    client_side = LogLayout.under(log_home)
    reader = ClusterLogReader(dask_client, Settings(home=tmp_path))
    with pytest.raises(ValidationError, match=r"not in .* as seen from this worker"):
        reader(client_side, "m")


def test_parts_keep_the_segments_in_order_and_share_them_out() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        count = int(rng.integers(1, 60))
        sizes = rng.integers(1, 3 * PART_BYTES // 2, count) if rng.random() < 0.3 else None
        segments = [
            (f"s{i:03d}", int(sizes[i]) if sizes is not None else int(rng.integers(1, 10**6)))
            for i in range(count)
        ]
        threads = int(rng.integers(1, 9))
        parts = cut_parts(segments, threads)
        assert [name for part in parts for name in part] == [name for name, _ in segments]
        assert all(parts) and len(parts) <= count
        assert len(parts) >= min(count, 2 * threads)
        # a whole number of parts per thread, unless there are too few segments
        assert len(parts) % threads == 0 or len(parts) == count
    assert cut_parts([], 4) == []


def test_a_part_keeps_duckdb_to_its_task_share_of_the_worker(
    dask_client: distributed.Client, log_home: Path
) -> None:
    """DuckDB runs a thread per core and takes up to 3 GiB; a task on a 1-thread, 1 GiB
    worker gets one core (the Dask nanny's OMP_NUM_THREADS) and half a GiB."""
    from modelcycle.distributed._monitoring import _on_part, _segments
    from modelcycle.distributed._scoring import portable
    from modelcycle.monitoring._logsql import connect

    def settings(files: list[str]) -> tuple[Any, ...]:
        with connect() as connection:
            (found,) = connection.sql(
                "SELECT current_setting('threads'), current_setting('memory_limit')"
            ).fetchall()
        return (*found, len(files))

    first = _segments(LogLayout.under(log_home).predictions_of("m"))[0][0]
    future = dask_client.submit(
        _on_part, portable(Settings(home=log_home)), "m", [first], settings, pure=False
    )
    threads, memory, files = future.result()
    assert (threads, files) == (1, 1)
    amount, unit = memory.split()
    assert unit == "MiB" and 400 < float(amount) <= 512, memory


# -- the command -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cancer/1`` with 1,200 logged rows in six segments, the later half shifted."""
    home = tmp_path_factory.mktemp("cluster-monitor")
    ws, data = train_cancer(home)
    start = pd.Timestamp.now(tz="UTC").to_pydatetime() - timedelta(hours=2)
    rows = bootstrap(data.x_test, 1200, seed=1)
    rows.iloc[600:, 0] = rows.iloc[600:, 0] * 1.5  # drift in the first feature
    for part in range(6):
        chunk = rows.iloc[part * 200 : (part + 1) * 200].reset_index(drop=True)
        log_predictions(ws, home, chunk, start=start + timedelta(minutes=10 * part), errors=2)
    ws.close()
    return home


def _monitor(
    capsys: pytest.CaptureFixture[str], home: Path, out: Path, *extra: str
) -> dict[str, Any]:
    code, _, err = run_cli(
        capsys, "-w", str(home), "monitor", "cancer", "--no-record", "-o", str(out), *extra
    )
    assert code == 0, err
    report = json.loads((out / "monitor.json").read_text())
    for volatile in ("created", "generated_at", "duration_s"):
        report.pop(volatile, None)
    return report


@pytest.mark.parametrize("window", [[], ["--rows", "700"], ["--hours", "3"]])
def test_monitor_with_cluster_writes_the_report_one_machine_writes(
    monitored: Path,
    dask_cluster: str,
    tmp_path: Path,
    window: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    here = _monitor(capsys, monitored, tmp_path / "here", *window)
    before = _monitor_tasks(dask_cluster)
    there = _monitor(capsys, monitored, tmp_path / "there", *window, "--cluster", dask_cluster)
    assert _monitor_tasks(dask_cluster) > before  # the read ran on the cluster
    assert here["rows"] > 0 and here["drift"] is not None
    assert there == here


def _monitor_tasks(address: str) -> int:
    """How many monitoring tasks the scheduler has seen (its per-prefix counts)."""

    def count(dask_scheduler: Any) -> int:
        return sum(
            sum(prefix.state_counts.values())
            for name, prefix in dask_scheduler.task_prefixes.items()
            if name.startswith("modelcycle-monitor-")
        )

    with distributed.Client(address, set_as_default=False) as client:
        return int(client.run_on_scheduler(count))


def test_monitor_cluster_refuses_an_address_that_is_not_one(
    monitored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "-w", str(monitored), "monitor", "cancer", "--cluster", "http://x:1"
    )
    assert code != 0
    assert "not a Dask scheduler address" in err and "Traceback" not in err


def test_the_log_fixture_has_ties_across_segments(log_home: Path) -> None:
    frame = read_predictions(LogLayout.under(log_home), "m", include_errors=True)
    assert frame["time"].duplicated().sum() > 100  # the cutoff's tie-break is exercised
    assert frame["time"].min() >= pd.Timestamp(T0)


def test_the_worker_reads_the_log_of_a_monitor_job_on_the_cluster(
    monitored: Path, dask_cluster: str, tmp_path: Path
) -> None:
    from modelcycle.lifecycle import Policy
    from modelcycle.records import DONE

    home = tmp_path / "ws"
    shutil.copytree(monitored, home)
    with mc.Workspace(home, cluster=dask_cluster) as ws:
        ws.policies.set(
            Policy.from_mapping({"model": "cancer", "monitoring": {"window_rows": 700}}),
            actor="alice",
        )
        job = ws.jobs.enqueue("monitor", "cancer", {})
        assert job is not None
        before = _monitor_tasks(dask_cluster)
        finished = ws.worker(owner="cluster-worker").run_job(job.job_id)
        assert finished.state == DONE, finished.error
        assert _monitor_tasks(dask_cluster) > before
        on_cluster = finished.result
    with mc.Workspace(home) as ws:  # the same job on this machine
        job = ws.jobs.enqueue("monitor", "cancer", {})
        assert job is not None
        here = ws.worker(owner="local-worker").run_job(job.job_id).result
    assert on_cluster["rows"] == here["rows"] == 700
    assert on_cluster["metrics"] == here["metrics"]


@pytest.fixture(scope="module")
def ordered_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six segments written one after another (a single server's log): parts follow in time."""
    home = tmp_path_factory.mktemp("ordered")
    rng = np.random.default_rng(11)
    for segment in range(6):
        write_predictions(home, [_row(rng, segment * 100 + i // 3) for i in range(150)])
    return home


@pytest.mark.parametrize(
    "options", [{"signature": SIGNATURE}, {"signature": SIGNATURE, "last_rows": 333}]
)
def test_parts_that_follow_in_time_are_joined_in_order_without_a_sort(
    dask_client: distributed.Client,
    ordered_home: Path,
    options: dict[str, Any],
    sorts: list[int],
) -> None:
    layout = LogLayout.under(ordered_home)
    expected = read_predictions(layout, "m", **options)
    found = ClusterLogReader(dask_client, Settings(home=ordered_home))(layout, "m", **options)
    pd.testing.assert_frame_equal(found, expected)
    assert not sorts
