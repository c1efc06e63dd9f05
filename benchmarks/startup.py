"""Benchmark: how long a user waits for the command line and for a server to be ready.

Goals (issue 12): ``modelcycle --version`` and ``--help`` under 0.3 s, a misspelt
``train --target`` reported under 1.5 s, ``modelcycle serve`` ready (``/health/ready``
answers 200) under 3 s on the demo's model, on an idle machine.

Every case runs ``modelcycle`` in a new process, as a user does. The peer ("before") is
another checkout of modelcycle: ``--peer-commit REV`` (its ``src/`` is taken from git
into a temporary folder, e.g. ``--peer-commit main``) or ``--peer-src`` (default: this
one), run with the same interpreter: its source goes first on ``PYTHONPATH``. Both are
measured alternately; the table shows the medians of wall time and of CPU time (user +
system of the child: steadier than wall time on a busy machine), the ratios before/after
of the wall and CPU medians, and the goal. The first row, ``python -c pass``, is the
interpreter's own start: the floor of every case.

The server case trains the demo's model (the health-insurance data of
``modelcycle demo``, 10 s budget) into ``--workspace`` the first time, then serves
``health-insurance@champion`` on a free port until ``/health/ready`` answers.

Run::

    .venv/bin/python benchmarks/startup.py --peer-commit main --repeat 7
    .venv/bin/python benchmarks/startup.py --peer-src /path/to/other/checkout/src
    .venv/bin/python benchmarks/startup.py --repeat 9 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from _common import machine, stdout_console

SRC = Path(__file__).resolve().parent.parent / "src"
MODEL = "health-insurance"


@dataclass
class Case:
    """One thing a user waits for, timed on the peer and on this checkout."""

    name: str
    goal_s: float
    peer: list[tuple[float, float]] = field(default_factory=list)  # (wall, cpu)
    ours: list[tuple[float, float]] = field(default_factory=list)

    def median(self, side: str, index: int) -> float:
        return statistics.median(t[index] for t in getattr(self, side))


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _command(src: Path, args: list[str], cwd: Path, expect: int) -> tuple[float, float]:
    return _process(src, ["-m", "modelcycle", *args], cwd, expect)


def _process(src: Path, args: list[str], cwd: Path, expect: int) -> tuple[float, float]:
    cpu, started = _child_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=_env(src),
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(f"python {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return wall, _child_cpu() - cpu


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _serve(src: Path, workspace: Path) -> tuple[float, float]:
    port = _free_port()
    args = ["-m", "modelcycle", "-w", str(workspace), "serve", f"{MODEL}@champion"]
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, *args, "--port", str(port)],
        env=_env(src),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _ready(f"http://127.0.0.1:{port}/health/ready"):
            if server.poll() is not None or time.perf_counter() - started > 120:
                raise SystemExit(f"the server on {src} did not become ready")
            time.sleep(0.01)
        wall = time.perf_counter() - started
        stat = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return wall, cpu


def _demo_model(workspace: Path, folder: Path) -> None:
    if (workspace / "modelcycle.db").exists():
        return
    from modelcycle.cli._demo_data import load_demo_data

    data = folder / "launch.csv"
    load_demo_data(7).train.to_csv(data, index=False)
    train = ["-w", str(workspace), "train", str(data), "--target", "whi", "--name", MODEL]
    _command(SRC, [*train, "--budget", "10", "--promote"], folder, 0)


def _checkout(revision: str, folder: Path) -> Path:
    """``src/`` of ``revision`` of this repository, written under ``folder``."""
    root = SRC.parent
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", revision, "src"],
        capture_output=True,
        check=True,
    )
    target = folder / f"peer-{revision.replace('/', '-')}"
    target.mkdir()
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-src", type=Path, default=SRC, help="src/ of the other checkout")
    parser.add_argument("--peer-commit", help="a git revision of this repository as the peer")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workspace", type=Path, help="keeps the trained model between runs")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mc-startup-"))
    try:
        if options.peer_commit:
            options.peer_src = _checkout(options.peer_commit, folder)
        _run(options, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(options: argparse.Namespace, folder: Path) -> None:
    workspace = options.workspace or folder / "ws"
    _demo_model(workspace, folder)
    (folder / "d.csv").write_text("age,income,bought\n31,4.5,yes\n45,3.1,no\n")
    bad = ["-w", str(folder / "none"), "train", "d.csv", "--target", "boght"]
    cases: list[tuple[Case, Callable[[Path], tuple[float, float]]]] = [
        (Case("python -c pass", 0.3), lambda src: _process(src, ["-c", "pass"], folder, 0)),
        (Case("--version", 0.3), lambda src: _command(src, ["--version"], folder, 0)),
        (Case("--help", 0.3), lambda src: _command(src, ["--help"], folder, 0)),
        (Case("train --help", 0.3), lambda src: _command(src, ["train", "--help"], folder, 0)),
        (Case("serve --help", 0.3), lambda src: _command(src, ["serve", "--help"], folder, 0)),
        (Case("train: misspelt --target", 1.5), lambda src: _command(src, bad, folder, 2)),
        (Case("serve: ready", 3.0), lambda src: _serve(src, workspace)),
    ]
    for case, trial in cases:
        for _ in range(options.repeat):
            case.peer.append(trial(options.peer_src))
            case.ours.append(trial(SRC))
    _report([case for case, _ in cases], options)


def _report(cases: list[Case], options: argparse.Namespace) -> None:
    if options.json:
        rows = [{"name": c.name, "goal_s": c.goal_s, "peer": c.peer, "ours": c.ours} for c in cases]
        peer = options.peer_commit or str(options.peer_src)
        print(json.dumps({"machine": machine(), "peer": peer, "cases": rows}, indent=2))
        return
    peer = options.peer_commit or options.peer_src
    table = Table(title=f"start-up, medians of {options.repeat} (before: {peer}; after: {SRC})")
    columns = ("case", "before wall s", "after wall s", "before cpu s", "after cpu s")
    for column in (*columns, "wall ratio", "cpu ratio", "after / python"):
        table.add_column(column, justify="left" if column == "case" else "right")
    table.add_column("goal (ours wall)", justify="right")
    table.add_column("met?", justify="center")
    floor = cases[0].median("ours", 0)
    for case in cases:
        ours = case.median("ours", 0)
        table.add_row(
            case.name,
            f"{case.median('peer', 0):.2f}",
            f"{ours:.2f}",
            f"{case.median('peer', 1):.2f}",
            f"{case.median('ours', 1):.2f}",
            f"{case.median('peer', 0) / ours:.2f}×",
            f"{case.median('peer', 1) / max(case.median('ours', 1), 0.01):.2f}×",
            f"{ours / floor:.0f}×",
            f"< {case.goal_s:g} s",
            "[green]yes[/green]" if ours < case.goal_s else "[red]no[/red]",
        )
    console = stdout_console()
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()}; {machine()}")


if __name__ == "__main__":
    main()
