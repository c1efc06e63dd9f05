"""Benchmark: the same work on a Dask cluster of 1 and of 2 single-threaded workers.

Goals (issue 16): a fixed number of AutoML trials runs at least 1.7× faster on 2
single-threaded workers than on 1; partitioned batch scoring of a Parquet dataset gains
at least 1.8× in throughput from 1 to 2 workers. Both need two idle cores: on a machine
shared with other work the ratio shows what the cores that were free allowed.

Two ``LocalCluster`` s (processes, one thread per worker) run side by side, used
alternately, so a slow spell of the machine hits both. The "peer" column is 1 worker,
the "modelcycle" column is 2 workers; the ratio is the speed-up.

- trials: ``--trials`` LightGBM configurations (different leaves and learning rates)
  scored by 3-fold validation on a seeded 20,000 × 20 binary table, dispatched through
  :class:`modelcycle.distributed.DaskExecutor` exactly as a search dispatches them;
  timed from the first submission to the last result, checked to be all COMPLETE.
- scoring: ``--rows`` rows in ``--partitions`` Parquet files scored by
  :func:`modelcycle.distributed.score_partitions` with a LightGBM model registered in a
  temporary workspace; timed from the call to its summary, checked to have scored every
  row; reported as seconds (the throughput ratio is the same).

Run::

    .venv/bin/python benchmarks/distributed.py                # about six minutes
    .venv/bin/python benchmarks/distributed.py --quick        # smoke run
    .venv/bin/python benchmarks/distributed.py --rows 10000000 --partitions 20 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import warnings
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
from modelcycle.core import Task  # noqa: E402
from modelcycle.distributed import DaskExecutor, score_partitions  # noqa: E402
from modelcycle.serving import load_served  # noqa: E402

sys.path.insert(0, str(HERE))
from _common import Comparison, machine, print_table, stdout_console, stopwatch  # noqa: E402


def _table(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 20))
    logit = X[:, 0] - 0.5 * X[:, 1] + 0.8 * X[:, 2] * X[:, 3] + np.sin(X[:, 4])
    y = (logit + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
    return X, y


#: Per run: (workers, seconds the trial tasks computed / (wall seconds x workers)).
OCCUPANCY: list[tuple[int, float, float]] = []


def _busy(stream: list[dict[str, Any]]) -> float:
    """Seconds the trial tasks spent computing, summed over workers."""
    return sum(
        part["stop"] - part["start"]
        for task in stream
        if str(task["key"]).startswith("_run_on_worker")
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
    busy = _busy(stream.data)
    OCCUPANCY.append((slots, busy / (watch.seconds * slots), busy / count))
    return watch.seconds


def _scoring(client: Client, ws: mc.Workspace, source: Path, rows: int, out: Path) -> float:
    model = load_served(ws.registry, "bench/1", max_rows=50_000)
    shutil.rmtree(out, ignore_errors=True)
    with stopwatch() as watch:
        summary = score_partitions(
            client, ws.settings, model, str(source), str(out), rejects=out.with_suffix(".csv")
        )
    if summary.scored != rows or summary.rejected:
        raise SystemExit(f"scored {summary.scored} of {rows} rows ({summary.rejected} rejected)")
    return watch.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="Smaller sizes, one repeat.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.rows, args.partitions, args.repeat = 4, 200_000, 4, 1
    warnings.simplefilter("ignore")
    console = stdout_console()
    quiet = {"dashboard_address": None, "silence_logs": logging.ERROR, "processes": True}
    one = LocalCluster(n_workers=1, threads_per_worker=1, **quiet)
    two = LocalCluster(n_workers=2, threads_per_worker=1, **quiet)
    trials = Comparison(f"{args.trials} trials, 1 → 2 workers", goal=1.7)
    scoring = Comparison(
        f"score {args.rows:,} rows in {args.partitions} partitions, 1 → 2 workers", goal=1.8
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        Client(one, set_as_default=False) as c1,
        Client(two, set_as_default=False) as c2,
    ):
        home = Path(folder)
        X, y = _table(20_000, seed=1)
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]).assign(y=y)
        with mc.Workspace(home / "ws") as ws:
            ws.train(frame, target="y", name="bench", budget=20, learners=["lightgbm"])
            source = home / "rows"
            source.mkdir()
            per = args.rows // args.partitions
            for index in range(args.partitions):
                part, _ = _table(per, seed=100 + index)
                pd.DataFrame(part, columns=frame.columns[:20]).to_parquet(
                    source / f"part-{index:03d}.parquet"
                )
            total = per * args.partitions
            for attempt in range(args.repeat):
                trials.peer_s.append(_trials(c1, 1, args.trials))
                trials.ours_s.append(_trials(c2, 2, args.trials))
                scoring.peer_s.append(_scoring(c1, ws, source, total, home / f"out1-{attempt}"))
                scoring.ours_s.append(_scoring(c2, ws, source, total, home / f"out2-{attempt}"))
    one.close()
    two.close()
    if args.json:
        print(json.dumps({"machine": machine(), "results": [trials.to_dict(), scoring.to_dict()]}))
        return
    print_table(
        "Dask: 1 worker (peer) against 2 workers", "1 worker", [trials, scoring], console=console
    )
    console.print(machine())
    for workers in (1, 2):
        runs = [(o, t) for w, o, t in OCCUPANCY if w == workers]
        occupancy = statistics.median(o for o, _ in runs)
        per_trial = statistics.median(t for _, t in runs)
        console.print(
            f"{workers} worker(s): trial tasks computed {occupancy:.0%} of the wall time of "
            f"each worker; {per_trial:.2f} s per trial (a trial slower on 2 workers than on "
            "1 means the cores were not free)"
        )
    rate_one, rate_two = total / scoring.peer_median, total / scoring.ours_median
    console.print(f"scoring throughput: {rate_one:,.0f} rows/s on 1 worker, {rate_two:,.0f} on 2")


if __name__ == "__main__":
    sys.exit(main())
