"""Shared helpers for the benchmark scripts: timing, medians, the machine, the result table.

Every benchmark runs a peer (e.g. MLflow) and modelcycle on the same work, repeats
each measurement, and reports medians and the peer/modelcycle ratio (see CONTRIBUTING.md).
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


class Stopwatch:
    """Seconds elapsed inside a :func:`stopwatch` block (set when the block ends)."""

    seconds: float = float("nan")


@contextmanager
def stopwatch(*, pause_collector: bool = True) -> Iterator[Stopwatch]:
    """Time a block with ``perf_counter``; garbage is collected first and paused inside.

    Only the work inside the block is timed, so setup and correctness checks stay out::

        with stopwatch() as watch:
            work()
        print(watch.seconds)

    Survivors of the collection are frozen (``gc.freeze``): with MLflow, pandas and
    SQLAlchemy loaded a full collection takes 0.1-0.3 s, which would otherwise be paid
    before every measurement. The cost is that cycles among frozen objects are never
    collected, which a benchmark process can afford.

    ``pause_collector=False`` only collects first and leaves the collector running: for
    work that takes seconds to minutes (an AutoML search), where the pauses are part of
    what the user waits for and a paused collector would let memory grow.
    """
    watch = Stopwatch()
    gc.collect()
    if pause_collector:
        gc.freeze()
        gc.disable()  # a collection landing in one system's timing but not the other's is noise
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start
        if pause_collector:
            gc.enable()


@dataclass
class Comparison:
    """One row of a benchmark: the same work timed on the peer and on modelcycle."""

    name: str
    goal: float  # modelcycle should be at least this many times faster than the peer
    peer_s: list[float] = field(default_factory=list)
    ours_s: list[float] = field(default_factory=list)

    @property
    def peer_median(self) -> float:
        return statistics.median(self.peer_s)

    @property
    def ours_median(self) -> float:
        return statistics.median(self.ours_s)

    @property
    def ratio(self) -> float:
        """Peer median over modelcycle median: how many times faster modelcycle is."""
        return self.peer_median / self.ours_median if self.ours_median > 0 else float("inf")

    @property
    def met(self) -> bool:
        return self.ratio >= self.goal

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "peer_median_s": self.peer_median,
            "modelcycle_median_s": self.ours_median,
            "ratio": self.ratio,
            "goal": self.goal,
            "met": self.met,
            "peer_s": self.peer_s,
            "modelcycle_s": self.ours_s,
        }


def run_interleaved(
    comparison: Comparison,
    peer_trial: Callable[[int], float],
    ours_trial: Callable[[int], float],
    repeat: int,
) -> Comparison:
    """Run the peer and modelcycle trials alternately ``repeat`` times, recording seconds.

    Alternating spreads slow spells of a noisy machine over both systems. Each trial
    gets the attempt number (0 first, e.g. to run an expensive check only once), does
    its own untimed setup and checks, and returns the seconds of its timed part.
    """
    for attempt in range(repeat):
        comparison.peer_s.append(peer_trial(attempt))
        comparison.ours_s.append(ours_trial(attempt))
    return comparison


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def print_table(
    title: str,
    peer: str,
    comparisons: list[Comparison],
    *,
    console: Console | None = None,
) -> None:
    """Print the medians, the ratio and the goal of each comparison as a table."""
    table = Table(title=title)
    table.add_column("benchmark")
    table.add_column(f"{peer} median s", justify="right")
    table.add_column("modelcycle median s", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("goal", justify="right")
    table.add_column("met?", justify="center")
    for row in comparisons:
        table.add_row(
            row.name,
            f"{row.peer_median:.4f}",
            f"{row.ours_median:.4f}",
            f"{row.ratio:.1f}×",
            f"≥ {row.goal:g}×",
            "[green]yes[/green]" if row.met else "[red]no[/red]",
        )
    (console or stdout_console()).print(table)


def stdout_console(width: int = 120) -> Console:
    """A console on stdout; into a pipe or file it is ``width`` columns, not rich's 80."""
    console = Console(file=sys.stdout)
    if not console.is_terminal:  # a pipe or file: don't wrap the table at 80 columns
        console = Console(file=sys.stdout, width=width)
    return console
