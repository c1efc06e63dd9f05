"""Benchmark: the same work on a Dask cluster of 1 and of 2 single-threaded workers.

Goals (issue 16): a fixed number of AutoML trials runs at least 1.7× faster on 2
single-threaded workers than on 1; partitioned batch scoring of a Parquet dataset and the
monitoring read of a prediction log gain at least 1.8× in throughput from 1 to 2
workers. All need two idle cores: on a machine shared with other work the ratio shows
what the cores that were free allowed.

Each measurement starts a fresh ``LocalCluster`` (processes, one thread per worker), alone
on the machine while timed, of 1 worker then of 2, alternately, so a slow spell of the
machine hits both (a cluster left idle beside the timed one would take a share of the
cores, which only the 1-worker run has spare). Its workers first import what the tasks
use, as those of a long-lived cluster have; every scoring run still pays its workers'
first load of the model. The "peer" column is 1 worker, the "modelcycle" column is 2
workers; the ratio is the speed-up.

- trials: ``--trials`` LightGBM configurations (different leaves and learning rates)
  scored by 3-fold validation on a seeded 20,000 × 20 binary table, dispatched through
  :class:`modelcycle.distributed.DaskExecutor` exactly as a search dispatches them;
  timed from the first submission to the last result, checked to be all COMPLETE.
- scoring: ``--rows`` rows in ``--partitions`` Parquet files scored by
  :func:`modelcycle.distributed.score_partitions` with a LightGBM model registered in a
  temporary workspace; timed from the call to its summary, checked to have scored every
  row; reported as seconds (the throughput ratio is the same).
- monitoring (``--only monitoring``): ``monitor_10m.py``'s seeded prediction log of
  ``--log-rows`` rows (default 10,000,000; 20 inputs in JSON) in ``--log-segments``
  segments, read as ``monitor --cluster`` reads a time window: every row filtered and
  hashed, a ``--sample-rows`` (1,000,000) sample chosen and its inputs decoded, by
  :class:`modelcycle.distributed.ClusterLogReader`; checked to return the sample. One
  process's ``read_predictions`` of the same window is printed beside it, and so is the
  speed-up of the read's decoding tasks alone, each sending back only its row count: on
  a machine whose client shares the workers' cores, the most the read could scale.

- large data (``--only large-data``): ``train --cluster --distributed-data`` on a Parquet
  dataset whose in-memory (pandas, deep) size is ``--memory-factor`` (3) times one
  worker's ``memory_limit`` (``--worker-memory``), on ``--workers`` single-threaded
  workers. Goal: it completes, no worker is restarted (killed for memory), and its score
  on a fresh seeded test table is within 1% of a single-machine model trained (by
  ``ws.train``, LightGBM, same budget) on a sample that fits (a third of a worker's
  memory). Prints the sizes, the ROC AUC of both, the gap and the worker restarts.
  ``lightgbm.dask`` holds the encoded train rows and, while a worker builds its LightGBM
  dataset, a concatenated copy of its share in the workers' memory, besides each worker's
  own ~230 MB: hence 10 workers of 1 GiB by default (the dataset is 3× one worker's
  memory, and 30% of the cluster's).

Run::

    .venv/bin/python benchmarks/distributed.py                # about six minutes
    .venv/bin/python benchmarks/distributed.py --quick        # smoke run
    .venv/bin/python benchmarks/distributed.py --rows 10000000 --partitions 20 --repeat 3
    .venv/bin/python benchmarks/distributed.py --only large-data   # about half an hour
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# This file's name is the package's: its folder leaves the path while Dask is imported.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import modelcycle as mc  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from modelcycle.automl import (  # noqa: E402
    SearchMetric,
    TrialContext,
    TrialJob,
    TrialResult,
    plan_folds,
)
from modelcycle.automl._trial import Matrix  # noqa: E402
from modelcycle.core import Settings, Task  # noqa: E402
from modelcycle.distributed import ClusterLogReader, DaskExecutor, score_partitions  # noqa: E402
from modelcycle.distributed._monitoring import (  # noqa: E402
    _on_part,
    _segments,
    _select,
    _Steps,
    cut_parts,
)
from modelcycle.distributed._scoring import portable  # noqa: E402
from modelcycle.monitoring import read_predictions  # noqa: E402
from modelcycle.monitoring._logparts import PartWindow, decode_part  # noqa: E402
from modelcycle.monitoring._logread import ANSWERED_ROUTES  # noqa: E402
from modelcycle.monitoring._logsql import input_types, prediction_kind  # noqa: E402
from modelcycle.packaging import Signature  # noqa: E402
from modelcycle.serving import load_served  # noqa: E402
from modelcycle.store import LogLayout  # noqa: E402

sys.path.insert(0, str(HERE))
from _common import Comparison, machine, print_table, stdout_console, stopwatch  # noqa: E402

#: What the timed tasks import: a worker of a long-lived cluster has them loaded already.
WORKER_IMPORTS = (
    "duckdb", "lightgbm", "modelcycle.automl", "modelcycle.distributed._monitoring",
    "modelcycle.monitoring._logparts", "modelcycle.serving", "modelcycle.services",
)  # fmt: skip


def _warm() -> None:
    for name in WORKER_IMPORTS:
        importlib.import_module(name)


@contextlib.contextmanager
def _cluster(workers: int) -> Iterator[Client]:
    """A fresh ``LocalCluster`` of ``workers`` single-threaded worker processes, alone on
    the machine while it is timed (an idle cluster beside it takes a share of two cores),
    its workers having imported what the tasks use (:data:`WORKER_IMPORTS`)."""
    quiet = {"dashboard_address": None, "silence_logs": logging.ERROR, "processes": True}
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, **quiet) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.run(_warm)
        yield client


def _table(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 20))
    logit = X[:, 0] - 0.5 * X[:, 1] + 0.8 * X[:, 2] * X[:, 3] + np.sin(X[:, 4])
    y = (logit + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
    return X, y


#: Per task kind and run: (workers, seconds its tasks computed / (wall seconds x
#: workers), seconds its tasks computed); a monitoring "part" task is one step of one part.
OCCUPANCY: dict[str, list[tuple[int, float, float]]] = {"trial": [], "partition": [], "part": []}


def _busy(stream: list[dict[str, Any]], prefix: str) -> float:
    """Seconds the tasks whose key starts with ``prefix`` spent computing, over all workers."""
    return sum(
        part["stop"] - part["start"]
        for task in stream
        if str(task["key"]).startswith(prefix)
        for part in task["startstops"]
        if part["action"] == "compute"
    )


def _trials(client: Client, slots: int, count: int) -> float:
    X, y = _table(20_000)
    context = TrialContext(
        y, plan_folds(y, Task.BINARY, 0)[:3], Task.BINARY, SearchMetric.for_task(Task.BINARY), 0, 1
    )
    matrix = Matrix(X, ())
    executor = DaskExecutor(client, slots=slots)
    jobs = [
        TrialJob(
            TrialResult(
                i,
                "lightgbm",
                {"num_leaves": 15 + 4 * i, "learning_rate": 0.05, "num_iterations": 150},
                "portfolio",
            ),
            600.0,
        )
        for i in range(count)
    ]
    done: list[TrialResult] = []
    with get_task_stream(client) as stream, stopwatch() as watch:
        pending: list[Any] = []
        while jobs or pending:
            while jobs and len(pending) < slots:
                pending.append(
                    executor.submit(jobs.pop(0), lambda *_: matrix, context, lambda: 600)
                )
            finished, pending = executor.wait(pending)
            done += finished
    if len(done) != count or not all(r.complete for r in done):
        raise SystemExit(f"trials did not all complete: {[r.status for r in done]}")
    busy = _busy(stream.data, "_run_on_worker")
    OCCUPANCY["trial"].append((slots, busy / (watch.seconds * slots), busy))
    return watch.seconds


def _scoring(
    client: Client, workers: int, ws: mc.Workspace, source: Path, rows: int, out: Path
) -> float:
    model = load_served(ws.registry, "bench/1", max_rows=50_000)
    shutil.rmtree(out, ignore_errors=True)
    with get_task_stream(client) as stream, stopwatch() as watch:
        summary = score_partitions(
            client, ws.settings, model, str(source), str(out), rejects=out.with_suffix(".csv")
        )
    if summary.scored != rows or summary.rejected:
        raise SystemExit(f"scored {summary.scored} of {rows} rows ({summary.rejected} rejected)")
    busy = _busy(stream.data, "modelcycle-score-")
    OCCUPANCY["partition"].append((workers, busy / (watch.seconds * workers), busy))
    return watch.seconds


def _log(folder: Path, rows: int, segments: int) -> Signature:
    """``monitor_10m.py``'s seeded prediction log (20 inputs in JSON) under ``folder``."""
    spec = importlib.util.spec_from_file_location("monitor_10m", HERE / "monitor_10m.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generator.generate(folder, rows, segments, seed=0)
    return Signature.from_dict(json.loads((folder / "signature.json").read_text()))


def _decoded_rows(files: list[str], window: PartWindow) -> int:
    return decode_part(files, window).num_rows


def _decoding_alone(client: Client, home: Path, signature: Signature, sample: int) -> float:
    """Seconds of the read's decoding tasks alone, each sending back only its row count.

    The same parts and window as :func:`_monitoring`'s read (found first, untimed): how
    far this machine lets those tasks scale when no decoded row has to reach the client
    (whose process shares the workers' cores here).
    """
    settings = portable(Settings(home=home))
    parts = cut_parts(_segments(LogLayout.under(home).predictions_of("bench")), _threads(client))
    window = PartWindow(
        specs=input_types(signature), routes=tuple(ANSWERED_ROUTES), sample_rows=sample,
        prediction=prediction_kind(signature),
    )  # fmt: skip
    window = _select(_Steps(client, settings, "bench", parts, None), window)
    with stopwatch() as watch:
        futures = [
            client.submit(_on_part, settings, "bench", names, _decoded_rows, window, pure=False)
            for names in parts
        ]
        rows = sum(client.gather(futures))
    if rows != sample:
        raise SystemExit(f"the decoding tasks kept {rows} rows, expected {sample}")
    return watch.seconds


def _threads(client: Client) -> int:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return sum(int(info["nthreads"]) for info in workers.values())


def _monitoring(client: Client | None, home: Path, signature: Signature, sample: int) -> float:
    """Seconds of a monitoring read of the whole log (a ``--hours`` window), sampled."""
    layout = LogLayout.under(home)
    if client is None:
        with stopwatch() as watch:
            frame = read_predictions(layout, "bench", signature=signature, sample_rows=sample)
    else:
        reader = ClusterLogReader(client, Settings(home=home))
        with get_task_stream(client) as stream, stopwatch() as watch:
            frame = reader(layout, "bench", signature=signature, sample_rows=sample)
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        tasks = [t for t in stream.data if str(t["key"]).startswith("modelcycle-monitor-")]
        busy = _busy(tasks, "modelcycle-monitor-")
        OCCUPANCY["part"].append((workers, busy / (watch.seconds * workers), busy))
    if len(frame) != sample or frame.shape[1] != 9 + len(signature.inputs):
        raise SystemExit(f"the monitoring read gave {frame.shape}, expected {sample} rows")
    return watch.seconds


CITIES = np.array([f"city-{i:03d}" for i in range(300)], dtype=object)
SEGMENTS = np.array([f"segment-{i:02d}" for i in range(24)], dtype=object)
CHANNELS = np.array(["web", "store", "phone", "partner", "mail"], dtype=object)
LABELS = np.array(["no", "yes"], dtype=object)


def _wide(rows: int, seed: int) -> pd.DataFrame:
    """A seeded table of 6 numbers and 3 text categories (what makes data big in memory)."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(rows, 6))
    city, segment = rng.integers(0, 300, rows), rng.integers(0, 24, rows)
    channel = rng.integers(0, 5, rows)
    logit = (
        numbers[:, 0] - 0.6 * numbers[:, 1] + 0.7 * numbers[:, 2] * numbers[:, 3]
        + np.sin(2 * numbers[:, 4]) + ((city * 7919) % 13 - 6) / 6 + (segment % 4 - 1.5) / 2
        + 0.4 * (channel == 2)
    )  # fmt: skip
    label = rng.random(rows) < 1 / (1 + np.exp(-logit))
    numbers[rng.random(rows) < 0.03, 1] = np.nan
    frame = pd.DataFrame(numbers, columns=[f"x{i}" for i in range(6)])
    return frame.assign(
        city=CITIES[city], segment=SEGMENTS[segment], channel=CHANNELS[channel],
        label=LABELS[label.astype(np.int64)],
    )  # fmt: skip


def _write_wide(folder: Path, target_bytes: int, part_rows: int) -> tuple[int, int, int]:
    """Parquet partitions until their in-memory size reaches ``target_bytes``."""
    folder.mkdir(parents=True)
    rows = size = index = 0
    while size < target_bytes:
        part = _wide(part_rows, seed=1_000 + index)
        size += int(part.memory_usage(deep=True).sum())
        part.to_parquet(folder / f"part-{index:04d}.parquet", index=False)
        rows, index = rows + part_rows, index + 1
    return rows, size, index


def _auc(ws: mc.Workspace, ref: str, test: pd.DataFrame) -> float:
    from sklearn.metrics import roc_auc_score

    proba = ws.registry.load(ref).native.predict_proba(test.drop(columns=["label"]))
    return float(roc_auc_score(test["label"] == "yes", proba[:, 1]))


def _large_data(args: argparse.Namespace, console: Any) -> dict[str, Any]:
    from dask.utils import parse_bytes

    limit = parse_bytes(args.worker_memory)
    quiet = {"dashboard_address": None, "silence_logs": logging.WARNING, "processes": True}
    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=1, memory_limit=limit, **quiet
    )
    test = _wide(200_000, seed=7)
    with tempfile.TemporaryDirectory() as folder, Client(cluster, set_as_default=False) as c:
        home = Path(folder)
        part_rows = max(20_000, limit // 2_400)  # about a sixth of a worker's memory
        rows, size, parts = _write_wide(home / "data", args.memory_factor * limit, part_rows)
        console.print(
            f"dataset: {rows:,} rows in {parts} Parquet files, {size / 2**30:.2f} GiB in memory "
            f"= {size / limit:.1f} × a worker's memory_limit ({limit / 2**30:.2f} GiB); "
            f"{args.workers} workers"
        )
        pids = c.run(os.getpid)
        with mc.Workspace(home / "ws", cluster=cluster.scheduler_address) as ws:
            with stopwatch() as cluster_watch:
                result = ws.train(
                    str(home / "data"), target="label", name="big", budget=args.budget,
                    distributed_data=True,
                )  # fmt: skip
            after = c.run(os.getpid)
            restarts = sum(1 for w, pid in pids.items() if after.get(w) != pid)
            restarts += max(0, len(pids) - len(after))
            sample_rows = max(10_000, int(rows * (limit / 3) / size))
            files = sorted((home / "data").glob("*.parquet"))[: -(-sample_rows // part_rows)]
            local = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
            local = local.sample(n=min(sample_rows, len(local)), random_state=0)
            with mc.Workspace(home / "local") as single:
                with stopwatch() as local_watch:
                    single.train(
                        local, target="label", name="sample", budget=args.budget,
                        learners=["lightgbm"],
                    )  # fmt: skip
                local_auc = _auc(single, "sample/1", test)
            cluster_auc = _auc(ws, "big/1", test)
            fit = ws.get_run(str(result.run_id)).metrics
    cluster.close()
    gap = (local_auc - cluster_auc) / local_auc
    return {
        "rows": rows,
        "memory_bytes": size,
        "worker_memory_limit": limit,
        "memory_factor": size / limit,
        "workers": args.workers,
        "completed": result.version is not None,
        "cluster_seconds": cluster_watch.seconds,
        "cluster_holdout_roc_auc": result.report.metrics["roc_auc"],
        "cluster_test_roc_auc": cluster_auc,
        "sample_rows": sample_rows,
        "sample_seconds": local_watch.seconds,
        "sample_test_roc_auc": local_auc,
        "gap": gap,
        "worker_restarts": restarts,
        "budget": args.budget,
        "fit": {k: v for k, v in fit.items() if k.startswith("cluster_")},
    }


def _print_large(figures: dict[str, Any], console: Any) -> None:
    ok = figures["completed"] and figures["worker_restarts"] == 0 and figures["gap"] <= 0.01
    console.print(
        f"large data: {figures['rows']:,} rows, {figures['memory_factor']:.1f} × a worker's "
        f"memory; completed: {figures['completed']} in {figures['cluster_seconds']:.0f} s; "
        f"worker restarts: {figures['worker_restarts']}"
    )
    console.print(
        "  ROC AUC on a fresh 200,000-row test table: "
        f"cluster {figures['cluster_test_roc_auc']:.5f}"
        f" (its own holdout {figures['cluster_holdout_roc_auc']:.5f}); single machine on a "
        f"{figures['sample_rows']:,}-row sample {figures['sample_test_roc_auc']:.5f} "
        f"({figures['sample_seconds']:.0f} s); gap {figures['gap']:+.2%} (goal ≤ 1%): "
        f"{'met' if ok else 'NOT met'}"
    )
    fit = figures.get("fit", {})
    if fit:
        pace = fit.get("cluster_seconds_per_round")
        console.print(
            f"  budget {figures['budget']:.0f} s; cluster fit: rounds searched "
            f"{fit.get('cluster_rounds_searched', 0):.0f}, planned "
            f"{fit.get('cluster_rounds_planned', 0):.0f}, trained "
            f"{fit.get('cluster_rounds_trained', 0):.0f}, kept "
            f"{fit.get('cluster_rounds', 0):.0f} (validation "
            f"{fit.get('cluster_validation_rows', 0):,.0f} rows); each round drew "
            f"{fit.get('cluster_bagging_fraction', 1):.0%} of the rows at learning rate "
            f"{fit.get('cluster_learning_rate', 0):.3f}, then "
            f"{fit.get('cluster_final_learning_rate', 0):.3f}"
            + (f"; {pace:.2f} s per round measured" if pace else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=["trials-scoring", "monitoring", "large-data"], default=None,
        help="Run one part (default: all).",
    )  # fmt: skip
    parser.add_argument("--worker-memory", default="1GiB")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--memory-factor", type=int, default=3)
    parser.add_argument("--budget", type=float, default=240)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--log-rows", type=int, default=10_000_000)
    parser.add_argument("--log-segments", type=int, default=20)
    parser.add_argument("--sample-rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="Smaller sizes, one repeat.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.rows, args.partitions, args.repeat = 4, 200_000, 4, 1
        args.log_rows, args.sample_rows = 1_000_000, 100_000
        args.budget = 120
    warnings.simplefilter("ignore")
    console = stdout_console()
    large = None if args.only in ("trials-scoring", "monitoring") else _large_data(args, console)
    if args.only == "large-data":
        assert large is not None
        if args.json:
            print(json.dumps({"machine": machine(), "large_data": large}))
        else:
            _print_large(large, console)
            console.print(machine())
        return
    parts = [] if args.only == "monitoring" else ["trials", "scoring"]
    parts += [] if args.only == "trials-scoring" else ["monitoring"]
    trials = Comparison(f"{args.trials} trials, 1 → 2 workers", goal=1.7)
    scoring = Comparison(
        f"score {args.rows:,} rows in {args.partitions} partitions, 1 → 2 workers", goal=1.8
    )
    monitoring = Comparison(
        f"monitoring read of a {args.log_rows:,}-row log ({args.sample_rows:,}-row sample), "
        "1 → 2 workers",
        goal=1.8,
    )
    local_read: list[float] = []
    alone: dict[int, list[float]] = {1: [], 2: []}  # the decoding tasks, rows counted only
    total = args.rows // args.partitions * args.partitions
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        if "scoring" in parts:
            X, y = _table(20_000, seed=1)
            frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]).assign(y=y)
            with mc.Workspace(home / "ws") as ws:
                ws.train(frame, target="y", name="bench", budget=20, learners=["lightgbm"])
                source = home / "rows"
                source.mkdir()
                for index in range(args.partitions):
                    part, _ = _table(args.rows // args.partitions, seed=100 + index)
                    pd.DataFrame(part, columns=frame.columns[:20]).to_parquet(
                        source / f"part-{index:03d}.parquet"
                    )
                for attempt in range(args.repeat):
                    for workers, found in ((1, trials.peer_s), (2, trials.ours_s)):
                        with _cluster(workers) as client:
                            found.append(_trials(client, workers, args.trials))
                    for workers, found in ((1, scoring.peer_s), (2, scoring.ours_s)):
                        out = home / f"out{workers}-{attempt}"
                        with _cluster(workers) as client:
                            found.append(_scoring(client, workers, ws, source, total, out))
        if "monitoring" in parts:
            console.print(f"writing a {args.log_rows:,}-row prediction log...")
            signature = _log(home / "log", args.log_rows, args.log_segments)
            local_read.append(_monitoring(None, home / "log", signature, args.sample_rows))
            for _ in range(args.repeat):
                for workers, found in ((1, monitoring.peer_s), (2, monitoring.ours_s)):
                    with _cluster(workers) as client:
                        found.append(_monitoring(client, home / "log", signature, args.sample_rows))
                        alone[workers].append(
                            _decoding_alone(client, home / "log", signature, args.sample_rows)
                        )
    shown = [c for c in (trials, scoring, monitoring) if c.peer_s]
    if args.json:
        results = [c.to_dict() for c in shown]
        seconds = {str(w): statistics.median(found) for w, found in alone.items() if found}
        print(
            json.dumps(
                {"machine": machine(), "results": results, "large_data": large,
                 "decoding_alone_s": seconds}
            )
        )  # fmt: skip
        return
    print_table("Dask: 1 worker (peer) against 2 workers", "1 worker", shown, console=console)
    console.print(machine())
    for task, found in OCCUPANCY.items():
        for workers in (1, 2):
            runs = [(o, t) for w, o, t in found if w == workers]
            if not runs:
                continue
            occupancy = statistics.median(o for o, _ in runs)
            busy = statistics.median(b for _, b in runs)
            console.print(
                f"{workers} worker(s): {task} tasks computed {occupancy:.0%} of the wall time "
                f"of each worker, {busy:.1f} s in all (more on 2 workers than on 1: the cores "
                "were not free, or the work was cut finer)"
            )
    if scoring.peer_s:
        rate_one, rate_two = total / scoring.peer_median, total / scoring.ours_median
        console.print(
            f"scoring throughput: {rate_one:,.0f} rows/s on 1 worker, {rate_two:,.0f} on 2"
        )
    if monitoring.peer_s:
        rate_one = args.log_rows / monitoring.peer_median
        rate_two = args.log_rows / monitoring.ours_median
        console.print(
            f"monitoring read: {rate_one:,.0f} log rows/s on 1 worker, {rate_two:,.0f} on 2; "
            f"one process without a cluster (read_predictions): {local_read[0]:.1f} s"
        )
        one, two = statistics.median(alone[1]), statistics.median(alone[2])
        console.print(
            f"the read's decoding tasks alone, sending back only row counts: {one:.2f} s on "
            f"1 worker, {two:.2f} s on 2, {one / two:.2f}×: what this machine allows the "
            "same tasks when no decoded row reaches the client"
        )
    if large is not None:
        _print_large(large, console)


if __name__ == "__main__":
    sys.exit(main())
