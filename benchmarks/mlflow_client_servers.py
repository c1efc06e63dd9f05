"""MLflow's own client logging to an MLflow tracking server, and to ``modelcycle serve``.

The same work on both: 2,000 single ``MlflowClient.log_metric`` calls into one run, each
one HTTP request answered after the value is written. Both servers run on 127.0.0.1 as
their own processes with a SQLite database in a fresh temporary folder:

* the peer: ``mlflow server --backend-store-uri sqlite:///...`` (needs the full ``mlflow``
  package, whose server needs Flask; ``MLFLOW_PYTHON=<env>/bin/python`` runs the server from
  another environment that has it); where only ``mlflow-skinny`` is installed there is
  no MLflow server to run, and the peer is MLflow's client writing to its SQLite store
  in-process instead (no HTTP at all: a floor, not a server), and the table says so;
* modelcycle: ``modelcycle serve`` without a model (the MLflow tracking API and the
  probes), the client sending the workspace's admin key as ``MLFLOW_TRACKING_TOKEN``.

Run creation, the server start and the check that every value was stored (its step and
value, read back through the client) are not timed. The two run alternately; the table
shows medians and the ratio peer / modelcycle.

Run::

    .venv/bin/python benchmarks/mlflow_client_servers.py            # 2,000 calls, 3 times
    .venv/bin/python benchmarks/mlflow_client_servers.py --quick    # 200 calls, once
    .venv/bin/python benchmarks/mlflow_client_servers.py --json
    MLFLOW_PYTHON=/opt/mlflow/bin/python .venv/bin/python benchmarks/mlflow_client_servers.py
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from _common import Comparison, machine, print_table, run_interleaved, stopwatch

GOAL = 1.0  # modelcycle should be at least as fast as MLflow's own server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:g} s")


@contextlib.contextmanager
def process(command: list[str], folder: Path, ready_url: str) -> Iterator[None]:
    """Run a server as its own process until the block ends."""
    log = (folder / "server.log").open("w")
    child = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(ready_url)
        yield
    finally:
        child.terminate()
        child.wait(timeout=30)
        log.close()


def mlflow_python() -> str | None:
    """The Python that runs ``mlflow server``: ``MLFLOW_PYTHON``, else ours if it has Flask."""
    if os.environ.get("MLFLOW_PYTHON"):
        return os.environ["MLFLOW_PYTHON"]
    return sys.executable if importlib.util.find_spec("flask") is not None else None


@contextlib.contextmanager
def mlflow_side(folder: Path) -> Iterator[tuple[str, str | None, str]]:
    """``(tracking uri, token, what it is)`` of the peer."""
    database = f"sqlite:///{folder / 'mlflow.db'}"
    python = mlflow_python()
    if python is None:
        yield database, None, "MLflow client -> its SQLite store in-process (no mlflow server)"
        return
    port = free_port()
    command = [
        python, "-m", "mlflow", "server", "--backend-store-uri", database,
        "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with process(command, folder, f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}", None, "MLflow client -> mlflow server (SQLite)"


@contextlib.contextmanager
def modelcycle_side(folder: Path) -> Iterator[tuple[str, str | None, str]]:
    import modelcycle as mc

    home = folder / "ws"
    mc.Workspace(home).close()  # a workspace to serve
    port = free_port()
    command = [
        sys.executable, "-m", "modelcycle", "--workspace", str(home), "serve",
        "--port", str(port), "--rate-limit", "100000",
    ]  # fmt: skip
    with process(command, folder, f"http://127.0.0.1:{port}/health/ready"):
        key = (home / "admin.key").read_text().strip()
        yield f"http://127.0.0.1:{port}", key, "MLflow client -> modelcycle serve (SQLite)"


def trial(uri: str, token: str | None, calls: int) -> float:
    """Seconds for ``calls`` log_metric calls into a new run (checked, not timed)."""
    from mlflow import MlflowClient

    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    else:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run("0").info.run_id
    values = [1.0 / (step + 1) for step in range(calls)]
    with stopwatch() as watch:
        for step, value in enumerate(values):
            client.log_metric(run_id, "m", value, step=step)
    stored = [(m.step, m.value) for m in client.get_metric_history(run_id, "m")]
    if sorted(stored) != list(enumerate(values)):
        raise SystemExit(f"{uri} stored {len(stored)} values, expected {calls}")
    client.set_terminated(run_id)
    return watch.seconds


def benchmark(calls: int, repeat: int) -> tuple[Comparison, str]:
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with (
        tempfile.TemporaryDirectory(prefix="bench-mlflow-") as peer_folder,
        tempfile.TemporaryDirectory(prefix="bench-modelcycle-") as ours_folder,
        mlflow_side(Path(peer_folder)) as (peer_uri, peer_token, peer_name),
        modelcycle_side(Path(ours_folder)) as (ours_uri, ours_token, _),
    ):
        trial(peer_uri, peer_token, 10)  # warm up: imports, connections, first statements
        trial(ours_uri, ours_token, 10)
        comparison = run_interleaved(
            Comparison(f"{calls:,} log_metric calls", GOAL),
            lambda attempt: trial(peer_uri, peer_token, calls),
            lambda attempt: trial(ours_uri, ours_token, calls),
            repeat,
        )
    return comparison, peer_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 calls, once.")
    parser.add_argument("--repeat", type=int, default=None, help="Trials per system.")
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    args = parser.parse_args(argv)
    calls, repeat = (200, 1) if args.quick else (2_000, 3)
    comparison, peer = benchmark(calls, args.repeat or repeat)
    if args.json:
        print(json.dumps({"machine": machine(), "peer": peer, **comparison.to_dict()}, indent=2))
        return 0
    print_table("MLflow's client: the same log_metric calls, one per request", peer, [comparison])
    print(f"peer: {peer}; per call: {1000 * comparison.peer_median / calls:.2f} ms vs "
          f"{1000 * comparison.ours_median / calls:.2f} ms (modelcycle)")  # fmt: skip
    print("command: .venv/bin/python benchmarks/mlflow_client_servers.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
