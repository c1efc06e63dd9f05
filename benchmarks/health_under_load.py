"""Benchmark: does ``/health/live`` stay fast while the server predicts maximum-size requests?

A prediction server whose event loop computes a large request answers nothing else
meanwhile: before issue 11, a 10,000-row request with ``?explain=true`` held
``/health/live`` for 1.4 s, long enough for an orchestrator to restart a busy server.
The goal (issue 11): ``/health/live`` within 50 ms during a maximum-size request.

One seeded LightGBM classifier (the data set of ``serve_vs_mlflow.py``: 50,000 rows, 20
numeric and 4 categorical columns) is trained with ``ws.train(..., learners=["lightgbm"])``
and served by ``modelcycle serve`` (one worker, ``--no-auth``, default settings, so
``max_rows`` = 10,000) in a subprocess on 127.0.0.1. Scenarios, each for a duration:

* ``idle``: only the probe.
* ``10,000 rows``: a client (``--load-clients`` threads) sending 10,000-row requests back
  to back.
* ``10,000 rows + explain``: the same with ``?explain=true``.

Meanwhile 8 probe threads, each on its own keep-alive connection and started 10 ms
apart, send ``GET /health/live`` every 80 ms, together every 10 ms: while one waits for a
stalled server the others keep probing, so a stall of 400 ms shows as several slow
probes, not one. Each latency is recorded; the table shows its percentiles (median over
``--repeat`` runs of each scenario) next to the goal. The load client runs in this
process (threads): its own work can only add to the measured latency, never hide it.

Small requests must not get slower either: the script also drives single-row requests at
concurrency 1 and 16 with the asyncio client of ``serve_vs_mlflow.py`` and prints req/s,
p50 and p99. To compare two versions of the server, run the script against each (e.g.
``PYTHONPATH=<other checkout>/src``): the table has no peer, the ratio is yours to take.

Run::

    .venv/bin/python benchmarks/health_under_load.py            # about 2 minutes
    .venv/bin/python benchmarks/health_under_load.py --quick    # under a minute
    .venv/bin/python benchmarks/health_under_load.py --duration 20 --repeat 5 --json
    .venv/bin/python benchmarks/health_under_load.py --workspace /tmp/hw   # same model again

Exits non-zero when the server fails to start or answers a request wrongly (a status
other than 200, or a wrong number of predictions or explanations: checked outside the
timed loads); a missed goal is reported in the table, not as a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from _common import machine, stdout_console
from serve_vs_mlflow import (
    Server,
    asyncio_client,
    check,
    free_port,
    make_frame,
    modelcycle_body,
    records,
    running,
    server_env,
)

MAX_ROWS = 10_000  # ServeSettings.max_rows's default: the largest request a server accepts
PROBE_INTERVAL_S = 0.010
PROBERS = 8  # probing threads, each on its own connection (see probe)
GOAL_MS = 50.0
SINGLE_BODIES = 64
HIGH_CONCURRENCY = 16


@dataclass(frozen=True)
class Sizes:
    budget_s: float = 20.0
    duration_s: float = 10.0
    repeat: int = 3
    load_clients: int = 1

    @classmethod
    def quick(cls) -> Sizes:
        return cls(budget_s=10.0, duration_s=3.0, repeat=1)


@dataclass
class HealthResult:
    """Probe latencies (ms) and the load requests completed during one run."""

    probes_ms: list[float] = field(default_factory=list)
    load_seconds: list[float] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.probes_ms)
        return ordered[int(share * (len(ordered) - 1))] if ordered else float("nan")

    def summary(self) -> dict[str, float]:
        return {
            "probes": len(self.probes_ms),
            "p50_ms": self.percentile(0.50),
            "p90_ms": self.percentile(0.90),
            "p99_ms": self.percentile(0.99),
            "max_ms": max(self.probes_ms, default=float("nan")),
            "load_requests": len(self.load_seconds),
            "load_median_s": statistics.median(self.load_seconds)
            if self.load_seconds
            else float("nan"),
        }


def train(workspace: Path, budget_s: float) -> tuple[str, list[dict[str, Any]]]:
    """Train and register the classifier (untimed) unless ``workspace`` has it already.

    Return its reference and the request rows. Reusing one workspace (``--workspace``)
    lets two checkouts be compared on the very same model.
    """
    import modelcycle as mc

    frame = make_frame()
    rows = records(frame.drop(columns=["y"]).tail(MAX_ROWS))
    saved = workspace / "bench-ref.txt"
    if saved.exists():
        return saved.read_text().strip(), rows
    with mc.Workspace(workspace) as ws:
        result = ws.train(frame, target="y", name="bench", budget=budget_s, learners=["lightgbm"])
        check(result.version is not None, "ws.train registered no version")
        ref = f"bench/{result.version.version}"
    saved.write_text(ref)
    return ref, rows


def server(workspace: Path, ref: str, folder: Path, port: int) -> Server:
    command = [sys.executable, "-m", "modelcycle", "--workspace", str(workspace), "serve", ref]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-auth"]
    return Server(
        "modelcycle serve", command, f"http://127.0.0.1:{port}/health/ready", folder / "s.log"
    )


def check_answer(url: str, body: bytes, explain: bool) -> None:
    """One maximum-size request answers every row (and explains it), before any timing."""
    import httpx

    response = httpx.post(
        url, content=body, headers={"Content-Type": "application/json"}, timeout=120
    )
    check(
        response.status_code == 200, f"{url} answered {response.status_code}: {response.text[:300]}"
    )
    answer = response.json()
    check(len(answer["predictions"]) == MAX_ROWS, f"{len(answer['predictions'])} predictions")
    if explain:
        check(len(answer.get("explanations") or []) == MAX_ROWS, "explanations missing")


def probe(base: str, stop: threading.Event, into: list[float], offset_s: float) -> None:
    """One prober: ``GET /health/live`` every ``PROBERS * PROBE_INTERVAL_S`` until ``stop``.

    :data:`PROBERS` of them, started :data:`PROBE_INTERVAL_S` apart, probe every 10 ms
    together, each on its own keep-alive connection: while one waits for a stalled
    server the others keep sending, so a stall of 400 ms shows as many slow probes.
    """
    import httpx

    period = PROBERS * PROBE_INTERVAL_S
    with httpx.Client(base_url=base, timeout=600) as client:
        due = time.perf_counter() + offset_s  # every probe counts, the first (connecting) too
        while not stop.is_set():
            stop.wait(max(0.0, due - time.perf_counter()))
            started = time.perf_counter()
            response = client.get("/health/live")
            into.append(1000.0 * (time.perf_counter() - started))
            check(response.status_code == 200, f"/health/live answered {response.status_code}")
            due = max(due + period, time.perf_counter())


def load(url: str, body: bytes, stop: threading.Event, into: list[float]) -> None:
    """Send ``body`` back to back until ``stop``; seconds per request."""
    import httpx

    headers = {"Content-Type": "application/json"}
    with httpx.Client(timeout=300) as client:
        while not stop.is_set():
            started = time.perf_counter()
            response = client.post(url, content=body, headers=headers)
            check(response.status_code == 200, f"load request answered {response.status_code}")
            into.append(time.perf_counter() - started)


def health_run(base: str, url: str | None, body: bytes, sizes: Sizes) -> HealthResult:
    """Probe ``/health/live`` for the duration while ``load_clients`` send ``body`` to ``url``."""
    result, stop = HealthResult(), threading.Event()
    workers = [
        threading.Thread(target=probe, args=(base, stop, result.probes_ms, i * PROBE_INTERVAL_S))
        for i in range(PROBERS)
    ]
    if url is not None:
        workers += [
            threading.Thread(target=load, args=(url, body, stop, result.load_seconds))
            for _ in range(sizes.load_clients)
        ]
    for worker in reversed(workers):  # the load first, so the probes start under it
        worker.start()
    time.sleep(sizes.duration_s)
    stop.set()
    for worker in workers:
        worker.join()
    return result


def median_summary(runs: list[HealthResult]) -> dict[str, float]:
    summaries = [run.summary() for run in runs]
    return {key: statistics.median(s[key] for s in summaries) for key in summaries[0]}


def benchmark(sizes: Sizes, say: Any, workspace: Path | None) -> dict[str, Any]:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/README.md
    with tempfile.TemporaryDirectory(prefix="bench-health-") as name:
        folder = Path(name)
        workspace = workspace or folder / "ws"
        say(f"training in {workspace} (budget {sizes.budget_s:g}s) unless done before")
        ref, rows = train(workspace, sizes.budget_s)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/v1/models/{ref}/predict"
        big = modelcycle_body(rows)
        say(f"starting modelcycle serve {ref} (request body {len(big) / 1e6:.1f} MB)")
        with running(server(workspace, ref, folder, port), server_env(folder)):
            check_answer(url, big, explain=False)
            check_answer(f"{url}?explain=true", big, explain=True)
            health: dict[str, dict[str, float]] = {}
            for label, target in (
                ("idle", None),
                (f"{MAX_ROWS:,} rows", url),
                (f"{MAX_ROWS:,} rows + explain", f"{url}?explain=true"),
            ):
                say(f"health under load: {label}")
                runs = [health_run(base, target, big, sizes) for _ in range(sizes.repeat)]
                health[label] = median_summary(runs)
            small = [modelcycle_body([row]) for row in rows[:SINGLE_BODIES]]
            single = {}
            client = asyncio_client()
            for concurrency in (1, HIGH_CONCURRENCY):
                say(f"single rows, concurrency {concurrency}")
                client(url, small, concurrency, 1.0, None)  # warm-up
                results = [
                    client(url, small, concurrency, sizes.duration_s, None)
                    for _ in range(sizes.repeat)
                ]
                check(all(r.errors == 0 for r in results), "single-row requests failed")
                single[f"1 row, concurrency {concurrency}"] = {
                    "rps": statistics.median(r.rps for r in results),
                    "p50_ms": statistics.median(r.p50_ms for r in results),
                    "p99_ms": statistics.median(r.p99_ms for r in results),
                }
    return {"ref": ref, "body_bytes": len(big), "health": health, "single": single}


def print_result(outcome: dict[str, Any], command: str) -> None:
    console = stdout_console()
    table = Table(
        title=f"/health/live latency under load, ms (median of runs; goal ≤ {GOAL_MS:g} ms)"
    )
    for column in (
        "load",
        "probes",
        "p50",
        "p90",
        "p99",
        "max",
        "load req",
        "load median s",
        "met?",
    ):
        table.add_column(column, justify="left" if column == "load" else "right")
    for label, row in outcome["health"].items():
        table.add_row(
            label,
            f"{row['probes']:.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p90_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"{row['max_ms']:.2f}",
            f"{row['load_requests']:.0f}",
            "" if label == "idle" else f"{row['load_median_s']:.3f}",
            "[green]yes[/green]" if row["p99_ms"] <= GOAL_MS else "[red]no[/red]",
        )
    console.print(table)
    small = Table(title="single-row requests (median of runs)")
    for column in ("scenario", "req/s", "p50 ms", "p99 ms"):
        small.add_column(column, justify="left" if column == "scenario" else "right")
    for label, row in outcome["single"].items():
        small.add_row(label, f"{row['rps']:,.0f}", f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}")
    console.print(small)
    console.print(
        f"model {outcome['ref']}; maximum-size body {outcome['body_bytes'] / 1e6:.1f} MB; "
        f"met? = p99 of the probes within {GOAL_MS:g} ms\ncommand: {command}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short training and loads")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--duration", type=float, default=None, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=None, help="runs per scenario")
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="train into this folder once and reuse its model on later runs (default: a "
        "temporary folder)",
    )
    parser.add_argument(
        "--load-clients", type=int, default=None, help="threads sending maximum-size requests"
    )
    args = parser.parse_args(argv)
    for name in ("duration", "repeat", "load_clients"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive; got {value}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    given = {"duration_s": args.duration, "repeat": args.repeat, "load_clients": args.load_clients}
    sizes = Sizes(**(asdict(sizes) | {k: v for k, v in given.items() if v is not None}))

    def say(message: str) -> None:
        if not args.json:
            print(f"· {message}", file=sys.stderr, flush=True)

    outcome = benchmark(sizes, say, args.workspace)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    if args.json:
        print(
            json.dumps(
                {"machine": machine(), "sizes": asdict(sizes), "command": command, **outcome},
                indent=2,
            )
        )
    else:
        print_result(outcome, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
