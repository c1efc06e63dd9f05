"""Experiment tracking: MLflow (SQLite backend) against modelcycle on the same work.

Three measurements, each system in its own fresh temporary folder:

* 2,000 single ``log_metric`` calls into one run;
* 20,000 metrics logged in batches of 1,000 (20 steps of 1,000 keys);
* a filtered, ordered search over 500 runs
  (``metrics.auc > 0.9 and params.lr = '0.1'``, ``metrics.auc DESC``).

MLflow is driven through ``MlflowClient`` in its default, synchronous mode. modelcycle
buffers logging and writes in the background, so its timings include the final
``flush()``: every value is in the database when the clock stops, as with MLflow. Setup
(creating runs, the 500 runs to search) and the correctness checks are not timed. The two
systems run alternately, each measurement repeated; the table shows medians and the
ratio MLflow / modelcycle.

Run::

    .venv/bin/python benchmarks/tracking_vs_mlflow.py            # full sizes
    .venv/bin/python benchmarks/tracking_vs_mlflow.py --quick    # smoke run, seconds
    .venv/bin/python benchmarks/tracking_vs_mlflow.py --json     # machine-readable

Exits non-zero when either system stored or found something other than expected; a
missed speed goal is reported, not an error (timings are never asserted).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import modelcycle as mc
from _common import Comparison, machine, print_table, run_interleaved, stopwatch

SEARCH_FILTER = "metrics.auc > 0.9 and params.lr = '0.1'"
SEARCH_ORDER = "metrics.auc DESC"
GOALS = {"single": 20.0, "batch": 5.0, "search": 5.0}

History = list[tuple[int, float]]  # (step, value) of one metric, by step


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    single_calls: int = 2_000
    batch_metrics: int = 20_000
    batch_size: int = 1_000
    search_runs: int = 500

    @classmethod
    def quick(cls) -> Sizes:
        return cls(single_calls=200, batch_metrics=2_000, batch_size=1_000, search_runs=100)


@dataclass(frozen=True)
class Workload:
    """The data both systems log, generated once from a seed so both see the same values."""

    single: list[float]  # value of metric "m" at step i
    batches: list[dict[str, float]]  # batches[step] = {key: value}
    search_runs: list[dict[str, Any]]  # name, params, metrics of each run to search

    @classmethod
    def build(cls, sizes: Sizes, seed: int = 0) -> Workload:
        rng = random.Random(seed)
        single = [rng.random() for _ in range(sizes.single_calls)]
        steps = sizes.batch_metrics // sizes.batch_size
        batches = [
            {f"m{key:04d}": rng.random() for key in range(sizes.batch_size)} for _ in range(steps)
        ]
        search_runs = [
            {
                "name": f"run-{index:04d}",
                "params": {"lr": rng.choice(["0.1", "0.01", "0.001"]), "depth": rng.randint(2, 12)},
                "metrics": {"auc": rng.random(), "loss": rng.random()},
            }
            for index in range(sizes.search_runs)
        ]
        return cls(single=single, batches=batches, search_runs=search_runs)

    def expected_matches(self) -> list[str]:
        """Names of the runs the search must find, best auc first."""
        hits = [
            r for r in self.search_runs if r["metrics"]["auc"] > 0.9 and r["params"]["lr"] == "0.1"
        ]
        return [r["name"] for r in sorted(hits, key=lambda r: -r["metrics"]["auc"])]


def check(condition: bool, message: str) -> None:
    """Stop the benchmark (exit status 1) when a system got the work wrong."""
    if not condition:
        raise SystemExit(f"correctness check failed: {message}")


def now_ms() -> int:
    return int(time.time() * 1000)


# -- MLflow ------------------------------------------------------------------------------


def quiet_mlflow() -> None:
    """Keep MLflow's logging, warnings and usage telemetry out of the output and timings."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")


class MlflowSide:
    """MLflow through ``MlflowClient`` on ``sqlite:///<folder>/mlflow.db``."""

    def __init__(self, folder: Path) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param

        self._metric, self._param = Metric, Param
        self.folder = folder
        self.client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
        self._experiments: dict[str, str] = {}
        quiet_mlflow()  # MLflow sets its own log levels on first use; override them after

    def experiment(self, name: str) -> str:
        if name not in self._experiments:
            location = (self.folder / "artifacts" / name).as_uri()
            self._experiments[name] = self.client.create_experiment(name, location)
        return self._experiments[name]

    def new_run(self, experiment: str, name: str | None = None) -> str:
        return str(self.client.create_run(self.experiment(experiment), run_name=name).info.run_id)

    def log_single(self, run_id: str, values: list[float]) -> None:
        for step, value in enumerate(values):
            self.client.log_metric(run_id, "m", value, step=step)

    def log_batches(self, run_id: str, batches: list[dict[str, float]]) -> None:
        for step, batch in enumerate(batches):
            timestamp = now_ms()
            metrics = [self._metric(k, v, timestamp, step) for k, v in batch.items()]
            self.client.log_batch(run_id, metrics=metrics)

    def history(self, run_id: str, key: str) -> History:
        return sorted((m.step, m.value) for m in self.client.get_metric_history(run_id, key))

    def latest(self, run_id: str) -> dict[str, float]:
        return dict(self.client.get_run(run_id).data.metrics)

    def add_search_run(self, experiment: str, spec: dict[str, Any]) -> None:
        run_id = self.new_run(experiment, spec["name"])
        timestamp = now_ms()
        self.client.log_batch(
            run_id,
            metrics=[self._metric(k, v, timestamp, 0) for k, v in spec["metrics"].items()],
            params=[self._param(k, str(v)) for k, v in spec["params"].items()],
        )
        self.client.set_terminated(run_id)

    def search(self, experiment: str) -> list[str]:
        runs = self.client.search_runs(
            [self.experiment(experiment)],
            filter_string=SEARCH_FILTER,
            order_by=[SEARCH_ORDER],
            max_results=1000,
        )
        return [run.info.run_name for run in runs]


# -- modelcycle --------------------------------------------------------------------------


class ModelcycleSide:
    """modelcycle through a :class:`modelcycle.Workspace` in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.workspace = mc.Workspace(folder)

    def new_run(self, experiment: str, name: str | None = None) -> mc.ActiveRun:
        return self.workspace.start_run(experiment=experiment, name=name)

    @staticmethod
    def log_single(run: mc.ActiveRun, values: list[float]) -> None:
        for step, value in enumerate(values):
            run.log_metric("m", value, step=step)
        run.flush()

    @staticmethod
    def log_batches(run: mc.ActiveRun, batches: list[dict[str, float]]) -> None:
        for step, batch in enumerate(batches):
            run.log_metrics(batch, step=step)
        run.flush()

    def history(self, run_id: str) -> Callable[[str], History]:
        """``(step, value)`` of each metric of one run (the run is read once)."""
        run = self.workspace.get_run(run_id)
        return lambda key: sorted((step, value) for step, value, _ in run.metric_history(key))

    def latest(self, run_id: str) -> dict[str, float]:
        return dict(self.workspace.get_run(run_id).metrics)

    def add_search_run(self, experiment: str, spec: dict[str, Any]) -> None:
        with self.new_run(experiment, spec["name"]) as run:
            run.log_params(spec["params"])
            run.log_metrics(spec["metrics"])

    def search(self, experiment: str) -> list[str]:
        runs = self.workspace.runs(
            experiment=experiment, filter=SEARCH_FILTER, order_by=SEARCH_ORDER, limit=1000
        )
        return [run.name for run in runs]

    def close(self) -> None:
        self.workspace.close()


# -- trials: untimed setup, timed work, untimed check ------------------------------------


def check_stored(system: str, stored: History, expected: list[float], what: str) -> None:
    check(
        stored == list(enumerate(expected)),
        f"{system} stored {len(stored)} values of {what}, expected {len(expected)} "
        "(or the values differ)",
    )


def mlflow_single(side: MlflowSide, work: Workload, attempt: int = 0) -> float:
    run_id = side.new_run("logging")
    with stopwatch() as watch:
        side.log_single(run_id, work.single)
    check_stored("MLflow", side.history(run_id, "m"), work.single, "metric 'm'")
    side.client.set_terminated(run_id)
    return watch.seconds


def modelcycle_single(side: ModelcycleSide, work: Workload, attempt: int = 0) -> float:
    with side.new_run("logging") as run, stopwatch() as watch:
        side.log_single(run, work.single)
    check_stored("modelcycle", side.history(run.run_id)("m"), work.single, "metric 'm'")
    return watch.seconds


def check_batches(
    system: str,
    latest: dict[str, float],
    history: Callable[[str], History],
    work: Workload,
    attempt: int,
) -> None:
    """Every key's last value each time; every value of every key on the first attempt.

    Reading 1,000 histories back costs seconds on MLflow, so later attempts skip it.
    """
    check(latest == work.batches[-1], f"{system} has the wrong latest value of some metric")
    if attempt == 0:
        for key in work.batches[0]:
            check_stored(system, history(key), [batch[key] for batch in work.batches], repr(key))


def mlflow_batches(side: MlflowSide, work: Workload, attempt: int = 0) -> float:
    run_id = side.new_run("logging")
    with stopwatch() as watch:
        side.log_batches(run_id, work.batches)
    history = partial(side.history, run_id)
    check_batches("MLflow", side.latest(run_id), history, work, attempt)
    side.client.set_terminated(run_id)
    return watch.seconds


def modelcycle_batches(side: ModelcycleSide, work: Workload, attempt: int = 0) -> float:
    with side.new_run("logging") as run, stopwatch() as watch:
        side.log_batches(run, work.batches)
    latest = side.latest(run.run_id)
    check_batches("modelcycle", latest, side.history(run.run_id), work, attempt)
    return watch.seconds


def timed_search(side: MlflowSide | ModelcycleSide, attempt: int = 0) -> float:
    with stopwatch() as watch:
        side.search("search")
    return watch.seconds


def warm_up(mlflow: MlflowSide, ours: ModelcycleSide) -> None:
    """First calls pay for imports, connections and statement compilation; not timed."""
    tiny = Workload.build(Sizes(single_calls=10, batch_metrics=10, batch_size=10, search_runs=0))
    mlflow_single(mlflow, tiny)
    mlflow_batches(mlflow, tiny)
    modelcycle_single(ours, tiny)
    modelcycle_batches(ours, tiny)


def prepare_search(mlflow: MlflowSide, ours: ModelcycleSide, work: Workload) -> int:
    """Log the runs to search into both systems; check both find the expected runs."""
    for spec in work.search_runs:
        mlflow.add_search_run("search", spec)
        ours.add_search_run("search", spec)
    expected = work.expected_matches()
    found = {"MLflow": mlflow.search("search"), "modelcycle": ours.search("search")}
    for system, names in found.items():
        check(
            names == expected,
            f"{system} found {len(names)} runs for {SEARCH_FILTER!r}, expected {len(expected)}: "
            f"{names[:5]}... vs {expected[:5]}...",
        )
    return len(expected)


# -- main --------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    import mlflow
    import sqlalchemy

    return {
        "mlflow": mlflow.__version__,
        "modelcycle": mc.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
    }


def benchmark(sizes: Sizes, repeat: int | None) -> tuple[list[Comparison], int]:
    work = Workload.build(sizes)
    log_repeat, search_repeat = repeat or 3, repeat or 5
    with (
        tempfile.TemporaryDirectory(prefix="bench-mlflow-") as mlflow_folder,
        tempfile.TemporaryDirectory(prefix="bench-modelcycle-") as ours_folder,
    ):
        mlflow, ours = MlflowSide(Path(mlflow_folder)), ModelcycleSide(Path(ours_folder))
        try:
            warm_up(mlflow, ours)
            single = run_interleaved(
                Comparison(f"single log_metric ({sizes.single_calls:,} calls)", GOALS["single"]),
                partial(mlflow_single, mlflow, work),
                partial(modelcycle_single, ours, work),
                log_repeat,
            )
            batches = run_interleaved(
                Comparison(f"batched ({sizes.batch_metrics:,} metrics)", GOALS["batch"]),
                partial(mlflow_batches, mlflow, work),
                partial(modelcycle_batches, ours, work),
                log_repeat,
            )
            matches = prepare_search(mlflow, ours, work)
            search = run_interleaved(
                Comparison(f"search ({sizes.search_runs:,} runs)", GOALS["search"]),
                partial(timed_search, mlflow),
                partial(timed_search, ours),
                search_repeat,
            )
        finally:
            ours.close()
    return [single, batches, search], matches


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="times to repeat each measurement (default: 3 for logging, 5 for search)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes for a smoke run (well under 30 s)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error(f"--repeat must be at least 1; got {args.repeat}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_mlflow()
    sizes = Sizes.quick() if args.quick else Sizes()
    comparisons, matches = benchmark(sizes, args.repeat)
    if args.json:
        result = {
            "versions": versions(),
            "machine": machine(),
            "sizes": asdict(sizes),
            "search_filter": SEARCH_FILTER,
            "search_matches": matches,
            "results": [c.to_dict() for c in comparisons],
        }
        print(json.dumps(result, indent=2))
        return 0
    info = machine()
    print(", ".join(f"{name} {version}" for name, version in versions().items()))
    print(f"machine: {info['nproc']} CPUs (nproc), Python {info['python']}, {info['platform']}")
    print(f"batches: {sizes.batch_size:,} metrics per call, then one flush (modelcycle)")
    print(f"search: {SEARCH_FILTER!r} ordered by {SEARCH_ORDER!r}: {matches} runs in both")
    print_table("Tracking: MLflow (SQLite) vs modelcycle", "MLflow", comparisons)
    return 0


if __name__ == "__main__":
    sys.exit(main())
