"""The dashboard against MLflow's UI on the same 100,000 runs (issue 14).

Both stores get the same runs: ``--runs`` runs (default 100,000) in one experiment,
each with 30 metrics and 20 params, plus one run with 10,000-step histories of 10
metrics. They are written straight into each system's own SQLite schema (a fill through
either client would take hours and is not what is measured). Then each server runs as
its own process on 127.0.0.1 and answers the requests its UI makes for each page:

==================  ===========================================  ==============================
page                MLflow's UI asks (``mlflow server``)           modelcycle (``modelcycle ui``)
==================  ===========================================  ==============================
runs                ``runs/search`` 100 runs, newest first        ``GET /runs?size=100``
filtered            ``runs/search`` with a metric and a param     ``GET /runs?filter=...``
sorted by a metric  ``runs/search`` ``order_by metrics.m0 DESC``   ``GET /runs?sort=metrics.m0``
compare 100 / 500   ``runs/get`` per run + one history request    ``GET /compare?run=...``
                    per 100 runs (``get-history-bulk-interval``)
long run            ``runs/get`` + ``get-history`` of 10 metrics   ``GET /runs/<id>``
                    (10,000 steps each)
==================  ===========================================  ==============================

Server time is the wall time of those HTTP requests (modelcycle's include rendering the
whole HTML page and its charts; MLflow's are JSON its browser code still has to draw).
The server's CPU time per page is reported too (from ``/proc``: what the server process
and its children used, which other work on a shared machine moves much less).
Page time is modelcycle's page in headless Chromium up to the ``load`` event. The
goal: every modelcycle page under 0.5 s server time and 1.5 s in the browser, at least
10x faster than MLflow; the server's peak memory under 500 MB.

The peer needs the full ``mlflow`` package (its server needs Flask): set ``MLFLOW_PYTHON``
to a Python that has it (default: this one). Run::

    .venv/bin/python benchmarks/ui_vs_mlflow.py                 # 100,000 runs, 3 repeats
    .venv/bin/python benchmarks/ui_vs_mlflow.py --runs 10000 --repeat 2 --warmup 0
    .venv/bin/python benchmarks/ui_vs_mlflow.py --json
    .venv/bin/python benchmarks/ui_vs_mlflow.py --folder /tmp/ui-bench   # keep, then reuse

Filling both stores with 100,000 runs takes minutes: ``--folder`` keeps them in a folder
and a later run with the same ``--runs`` reuses them (the runs are seeded, so their ids
are known without reading them back).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from rich.console import Console

from _common import Comparison, machine, print_table, run_interleaved, stdout_console, stopwatch

METRICS, PARAMS, LONG_METRICS, LONG_STEPS = 30, 20, 10, 10_000
#: The run with long histories has the same id in both stores.
LONG_ID = uuid.UUID(int=(1 << 127) | 20_261_204).hex
GOAL = 10.0
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 600.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds:g} s")


# -- the same runs in both stores --------------------------------------------------------


def runs_data(count: int, seed: int = 0) -> Iterator[tuple[str, str, int, list[float], list[str]]]:
    """``(run_id, name, start_ms, metrics, params)`` of every run (seeded)."""
    rng = random.Random(seed)
    start = 1_700_000_000_000
    for index in range(count):
        metrics = [round(rng.random(), 6) for _ in range(METRICS)]
        params = [f"v{rng.randrange(5)}" for _ in range(PARAMS)]
        yield (
            uuid.UUID(int=rng.getrandbits(128)).hex,
            f"run-{index:06d}",
            start + index,
            metrics,
            params,
        )


def long_history(seed: int = 1) -> list[tuple[str, int, float]]:
    rng = random.Random(seed)
    return [
        (f"h{m}", step, 1.0 / (step + 1) + rng.random() * 0.01)
        for m in range(LONG_METRICS)
        for step in range(LONG_STEPS)
    ]


def fill_modelcycle(home: Path, count: int) -> tuple[list[str], str]:
    """A modelcycle workspace with the runs; returns the run ids and the long run's id."""
    import modelcycle as mc

    with mc.Workspace(home) as ws:
        experiment = ws.tracker.store.get_or_create_experiment("bench")
    db = sqlite3.connect(home / "modelcycle.db")
    ids: list[str] = []
    with db:
        for run_id, name, start, metrics, params in runs_data(count):
            ids.append(run_id)
            db.execute(
                "INSERT INTO runs (run_id, experiment_id, name, status, start_time, end_time) "
                "VALUES (?, ?, ?, 'FINISHED', ?, ?)",
                (run_id, experiment, name, start, start + 1000),
            )
            db.executemany(
                "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, f"p{i}", v) for i, v in enumerate(params)],
            )
            rows = [(run_id, f"m{i}", v, 0, start) for i, v in enumerate(metrics)]
            db.executemany(
                "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?,?,?,?,?)", rows
            )
            db.executemany(
                "INSERT INTO latest_metrics (run_id, key, value, step, timestamp) "
                "VALUES (?,?,?,?,?)",
                rows,
            )
        long_id = LONG_ID
        db.execute(
            "INSERT INTO runs (run_id, experiment_id, name, status, start_time, end_time) "
            "VALUES (?, ?, 'long-run', 'FINISHED', 1, 2)",
            (long_id, experiment),
        )
        history = long_history()
        db.executemany(
            "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?,?,?,?,?)",
            [(long_id, k, v, s, s) for k, s, v in history],
        )
        db.executemany(
            "INSERT INTO latest_metrics (run_id, key, value, step, timestamp) VALUES (?,?,?,?,?)",
            [(long_id, k, v, s, s) for k, s, v in history if s == LONG_STEPS - 1],
        )
    db.execute("ANALYZE")
    db.close()
    return ids, long_id


def fill_mlflow(python: str, path: Path, count: int) -> str:
    """An MLflow SQLite store (schema made by MLflow itself) with the same runs."""
    uri = f"sqlite:///{path}"
    subprocess.run(
        [python, "-c", f"import mlflow; mlflow.MlflowClient({uri!r}).create_experiment('bench')"],
        check=True,
        capture_output=True,
    )
    db = sqlite3.connect(path)
    experiment = db.execute("SELECT experiment_id FROM experiments WHERE name='bench'").fetchone()[
        0
    ]
    with db:
        for run_id, name, start, metrics, params in runs_data(count):
            _mlflow_run(db, run_id, name, start, experiment)
            db.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [(f"p{i}", v, run_id) for i, v in enumerate(params)],
            )
            rows = [(f"m{i}", v, start, run_id, 0, 0) for i, v in enumerate(metrics)]
            db.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?,?,?,?,?,?)",
                rows,
            )
            db.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?,?,?,?,?,?)",
                rows,
            )
        long_id = LONG_ID
        _mlflow_run(db, long_id, "long-run", 1, experiment)
        history = long_history()
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?,?,?,?,?,0)",
            [(k, v, s, long_id, s) for k, s, v in history],
        )
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?,?,?,?,?,0)",
            [(k, v, s, long_id, s) for k, s, v in history if s == LONG_STEPS - 1],
        )
    db.execute("ANALYZE")
    db.close()
    return str(experiment)


def _mlflow_run(
    db: sqlite3.Connection, run_id: str, name: str, start: int, experiment: int
) -> None:
    db.execute(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        "experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', "
        "'', ?)",
        (run_id, name, start, start + 1000, experiment),
    )
    db.execute(
        "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?)", (name, run_id)
    )


# -- servers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def server(command: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[int]:
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_for(url)
        yield process.pid
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        if process.poll() is None:
            process.kill()


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a process and its children (the server), in MB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds used so far by a process and its children (the
    server): unlike wall time, barely moved by other work on a shared machine."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{candidate}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def cpu_per_call(pid: int, call: Callable[[], object], repeat: int) -> float:
    """The server's CPU seconds per ``call`` (``repeat`` calls, ticks are 10 ms)."""
    before = cpu_seconds(pid)
    for _ in range(repeat):
        call()
    return (cpu_seconds(pid) - before) / repeat


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    return []


def signed_in(base: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=300)
    form = client.get("/login").text
    token = re.search(r'name="token" value="([^"]+)"', form)
    assert token is not None
    client.post("/login", data={"token": token.group(1), "key": key})
    assert "mc_session" in client.cookies, "could not sign in to the dashboard"
    return client


def timed(call: Callable[[], object]) -> float:
    with stopwatch() as watch:
        call()
    return watch.seconds


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        url = str(response.request.url)
        shown = url if len(url) < 200 else url[:200] + "..."
        raise SystemExit(f"{shown} answered {response.status_code}: {response.text[:300]}")
    return response


# -- the pages -----------------------------------------------------------------------------------

FILTER = "metrics.m0 > 0.5 and params.p0 = 'v1'"


def ours_pages(
    client: httpx.Client, ids: list[str], long_id: str
) -> dict[str, Callable[[], object]]:
    def compare(n: int) -> Callable[[], object]:
        return lambda: _ok(client.get("/compare", params=[("run", i) for i in ids[:n]]))

    return {
        "runs page (100 runs)": lambda: _ok(client.get("/runs?size=100")),
        "filtered page": lambda: _ok(client.get("/runs", params={"filter": FILTER, "size": 100})),
        "sorted by a metric": lambda: _ok(
            client.get("/runs", params={"sort": "metrics.m0", "size": 100})
        ),
        "compare 100 runs": compare(100),
        "compare 500 runs": compare(500),
        "run with 10 × 10,000-step histories": lambda: _ok(client.get(f"/runs/{long_id}")),
    }


def mlflow_pages(
    client: httpx.Client, experiment: str, ids: list[str], long_id: str
) -> dict[str, Callable[[], object]]:
    def search(**extra: object) -> Callable[[], object]:
        body = {"experiment_ids": [experiment], "max_results": 100, **extra}
        return lambda: _ok(client.post("/ajax-api/2.0/mlflow/runs/search", json=body))

    def compare(n: int) -> Callable[[], object]:
        def work() -> None:
            for run_id in ids[:n]:
                _ok(client.get("/ajax-api/2.0/mlflow/runs/get", params={"run_id": run_id}))
            for start in range(0, n, 100):
                chunk = [("run_ids", i) for i in ids[start : min(n, start + 100)]]
                _ok(
                    client.get(
                        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                        params=[*chunk, ("metric_key", "m0"), ("max_results", "320")],
                    )
                )

        return work

    def long_run() -> None:
        _ok(client.get("/ajax-api/2.0/mlflow/runs/get", params={"run_id": long_id}))
        for m in range(LONG_METRICS):
            _ok(
                client.get(
                    "/ajax-api/2.0/mlflow/metrics/get-history",
                    params={"run_id": long_id, "metric_key": f"h{m}"},
                )
            )

    return {
        "runs page (100 runs)": search(order_by=["attributes.start_time DESC"]),
        "filtered page": search(filter=FILTER),
        "sorted by a metric": search(order_by=["metrics.m0 DESC"]),
        "compare 100 runs": compare(100),
        "compare 500 runs": compare(500),
        "run with 10 × 10,000-step histories": long_run,
    }


def browser_times(
    base: str, key: str, ids: list[str], long_id: str, repeat: int
) -> dict[str, float]:
    """Median seconds to the ``load`` event of each dashboard page in headless Chromium."""
    import statistics

    from playwright.sync_api import sync_playwright

    compare = "&".join(f"run={i}" for i in ids[:100])
    pages = {
        "runs page (100 runs)": "/runs?size=100",
        "filtered page": "/runs?size=100&filter=" + httpx.QueryParams({"f": FILTER})["f"],
        "sorted by a metric": "/runs?size=100&sort=metrics.m0",
        "compare 100 runs": "/compare?" + compare,
        "compare 500 runs": "/compare?" + "&".join(f"run={i}" for i in ids[:500]),
        "run with 10 × 10,000-step histories": f"/runs/{long_id}",
    }
    found: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.goto(base + "/login")
        page.fill("#key", key)
        page.click("button[type=submit]")
        page.wait_for_url("**/runs")
        for name, path in pages.items():
            url = base + path
            seconds = []
            for _ in range(repeat):
                start = time.perf_counter()
                page.goto(url, wait_until="load", timeout=120_000)
                seconds.append(time.perf_counter() - start)
            found[name] = statistics.median(seconds)
        browser.close()
    return found


@contextlib.contextmanager
def _folder(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="ui-bench-") as folder:
        yield Path(folder)


def filled_stores(
    root: Path, python: str, count: int, console: Console
) -> tuple[list[str], str, str]:
    """Both stores in ``root`` with ``count`` runs (reused when ``root`` already has them):
    the run ids, the long run's id and MLflow's experiment id."""
    marker = root / "filled.json"
    if marker.exists() and json.loads(marker.read_text()).get("runs") == count:
        console.print(f"reusing the stores of {count:,} runs in {root}")
        experiment = json.loads(marker.read_text())["experiment"]
        return [run[0] for run in runs_data(count)], LONG_ID, experiment
    for stale in ("ws", "mlflow.db"):
        if (root / stale).exists():
            raise SystemExit(f"{root / stale} exists but was not filled with {count:,} runs")
    console.print(f"filling both stores with {count:,} runs ...")
    with stopwatch(pause_collector=False) as filled:
        ids, long_id = fill_modelcycle(root / "ws", count)
        experiment = fill_mlflow(python, root / "mlflow.db", count)
    marker.write_text(json.dumps({"runs": count, "experiment": experiment}))
    console.print(f"filled in {filled.seconds:.0f} s; starting both servers ...")
    return ids, long_id, experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed requests of each page to both servers first (a cold first page is "
        "a server start, not a page)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--cpu-calls",
        type=int,
        default=10,
        help="calls of each page whose server CPU time is averaged (after the timed ones)",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        help="keep both stores in this folder, and reuse them when it holds stores of the "
        "same --runs (default: a temporary folder, removed at the end)",
    )
    options = parser.parse_args()
    python = os.environ.get("MLFLOW_PYTHON", sys.executable)
    console = stdout_console()
    with _folder(options.folder) as root:
        ids, long_id, experiment = filled_stores(root, python, options.runs, console)
        sample = random.Random(2).sample(ids, 500)
        ours_port, peer_port = free_port(), free_port()
        ours_base, peer_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{peer_port}"
        ui = [sys.executable, "-m", "modelcycle", "-w", str(root / "ws"), "ui"]
        peer = [
            python,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
        ]
        peer += ["--host", "127.0.0.1", "--port", str(peer_port), "--workers", "1"]
        with (
            server([*ui, "--port", str(ours_port)], ours_base + "/login") as ours_pid,
            server(peer, peer_base + "/health") as peer_pid,
        ):
            key = (root / "ws" / "admin.key").read_text().strip()
            ours = signed_in(ours_base, key)
            theirs = httpx.Client(base_url=peer_base, timeout=600)
            ours_calls = ours_pages(ours, sample, long_id)
            peer_calls = mlflow_pages(theirs, experiment, sample, long_id)
            for name in ours_calls:
                for _ in range(options.warmup):
                    peer_calls[name]()
                    ours_calls[name]()
            comparisons = [
                run_interleaved(
                    Comparison(name, GOAL),
                    lambda _a, call=peer_calls[name]: timed(call),
                    lambda _a, call=ours_calls[name]: timed(call),
                    options.repeat,
                )
                for name in ours_calls
            ]
            cpu = [
                Comparison(
                    name,
                    GOAL,
                    peer_s=[cpu_per_call(peer_pid, peer_calls[name], options.cpu_calls)],
                    ours_s=[cpu_per_call(ours_pid, ours_calls[name], options.cpu_calls)],
                )
                for name in ours_calls
            ]
            browser = browser_times(ours_base, key, sample, long_id, options.repeat)
            memory = peak_rss_mb(ours_pid)
    title = f"dashboard vs MLflow UI, server time, {options.runs:,} runs (goal ≥ {GOAL:g}×)"
    if options.json:
        print(
            json.dumps(
                {
                    "runs": options.runs,
                    "machine": machine(),
                    "server": [c.to_dict() for c in comparisons],
                    "server_cpu": [c.to_dict() for c in cpu],
                    "browser_s": browser,
                    "server_peak_rss_mb": memory,
                },
                indent=2,
            )
        )
        return
    print_table(title, "MLflow", comparisons, console=console)
    cpu_title = (
        f"the same pages, server CPU seconds per page (mean of {options.cpu_calls} calls; "
        "less moved by other work on the machine)"
    )
    print_table(cpu_title, "MLflow", cpu, console=console)
    for name, seconds in browser.items():
        mark = "ok" if seconds < 1.5 else "over 1.5 s"
        console.print(f"browser, {name}: {seconds:.3f} s ({mark})")
    console.print(f"dashboard server peak memory: {memory:.0f} MB (goal < 500 MB)")


if __name__ == "__main__":
    main()
