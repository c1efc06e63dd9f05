"""Monitoring over a 10-million-row prediction log: read, drift, labels and health.

Generates a seeded prediction log of ``--rows`` rows (default 10,000,000) for one
model with 20 inputs in the logged JSON (14 numeric, 6 categorical), written as
``--segments`` Parquet segments with pyarrow (the JSON text is built column-wise
with pyarrow compute, not row by row), two versions (the second half of the log is
version 2, 5% of it on the canary route) and delayed labels for 1% of the rows.
Then each step runs in its own subprocess, so its peak memory is its own:

* ``read+drift``: ``read_predictions(last_rows=rows, signature=...)`` (the whole
  window, inputs decoded to 20 typed columns) and ``drift_report`` against the
  training profile;
* ``sample+drift``: the same window read with ``sample_rows=1_000_000`` (a hash
  sample chosen by DuckDB before decoding) and ``drift_report``;
* ``labelled``: ``read_labelled`` (the labels joined to their predictions, inputs
  decoded, as retraining reads them);
* ``realized``: ``read_labelled(inputs=False)``, as ``monitor`` reads them for realized
  performance (the logged inputs not read);
* ``health``: ``service_health`` (requests, errors, latency percentiles per version);
* ``monitor``: the whole ``monitor`` pass of version 2 over the log's time span (a
  ``--hours`` window: the 1,000,000-row sample, drift, estimated and realized
  performance, health and the latency chart), on a workspace opened on the log's folder
  where two LightGBM versions were first trained on 20,000 rows drawn like the log's
  (their training is not timed, but is in the step's peak memory).

Peak memory is the subprocess's ``ru_maxrss``. There is no peer to compare with: the
goal is that a 10-million-row window is analysed in about a minute on a small machine.

    .venv/bin/python benchmarks/monitor_10m.py                 # 10M rows, a few minutes
    .venv/bin/python benchmarks/monitor_10m.py --rows 1000000  # quicker
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, stdout_console

MODEL = "bench"
NUMERIC = [f"n{i:02d}" for i in range(14)]
CATEGORICAL = [f"c{i:02d}" for i in range(6)]
LABELS = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
SHARES = np.array([0.35, 0.25, 0.15, 0.1, 0.1, 0.05])
T0_MS = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp() * 1000)
STEPS = ("read+drift", "sample+drift", "labelled", "realized", "health", "monitor")


# -- the log ----------------------------------------------------------------------------


def _features(rng: np.random.Generator, n: int, shift: float) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        columns[name] = np.round(rng.normal(shift if i == 0 else 0.0, 1.0 + i / 10, n), 5)
    for name in CATEGORICAL:
        columns[name] = LABELS[rng.choice(len(LABELS), n, p=SHARES)]
    return columns


def _inputs_json(columns: dict[str, np.ndarray]) -> pa.Array:
    """Canonical sorted-key JSON objects, built column-wise with pyarrow compute."""
    parts: list[Any] = []
    for index, name in enumerate(sorted(columns)):
        opening = ("{" if index == 0 else ",") + f'"{name}":'
        if name in CATEGORICAL:
            parts += [opening + '"', pa.array(columns[name]), '"']
        else:
            parts += [opening, pc.cast(pa.array(columns[name]), pa.string())]
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _ids(numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("r", pc.cast(pa.array(numbers), pa.string()), "")


def _segment(rng: np.random.Generator, start: int, n: int, total: int) -> pa.Table:
    index = np.arange(start, start + n)
    version = np.where(index < total // 2, 1, 2)
    features = _features(rng, n, shift=0.3 * (index[0] / total))
    logit = 0.8 * features["n00"] - 0.5 * features["n01"] + (features["c00"] == "alpha")
    p = 1.0 / (1.0 + np.exp(-logit))
    probabilities = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)),
        pa.array(np.column_stack([1 - p, p]).ravel()),
    )
    route = np.where((version == 2) & (rng.uniform(size=n) < 0.05), "canary", "primary")
    return pa.table(
        {
            "request_id": _ids(index),
            "time": pa.array(T0_MS + index * 8, pa.timestamp("ms", tz="UTC")),
            "model": pa.array(np.full(n, MODEL)),
            "version": pa.array(version, pa.int64()),
            "row": pa.array(np.zeros(n, np.int32)),
            "inputs": _inputs_json(features),
            "prediction": pa.array(np.where(p > 0.5, "1", "0")),
            "probabilities": probabilities,
            "latency_ms": pa.array(rng.lognormal(1.0, 0.4, n)),
            "route": pa.array(route),
            "error": pa.nulls(n, pa.string()),
        }
    )


def generate(home: Path, rows: int, segments: int, seed: int) -> dict[str, float]:
    """Write the log, 1% labels, the training profile and the signature under ``home``."""
    import pandas as pd

    from modelcycle.data import infer_schema, profile
    from modelcycle.packaging import infer_signature
    from modelcycle.store import LogLayout

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    layout = LogLayout.under(home)
    folder = layout.predictions_of(MODEL)
    folder.mkdir(parents=True)
    bounds = np.linspace(0, rows, segments + 1).astype(int)
    for number, (start, end) in enumerate(itertools.pairwise(bounds)):
        table = _segment(rng, int(start), int(end - start), rows)
        pq.write_table(table, folder / f"segment-{number:03d}.parquet", compression="zstd")
    generated = time.perf_counter() - started
    labelled = np.sort(rng.choice(rows, rows // 100, replace=False))
    feedback = pa.table(
        {
            "feedback_id": pa.array([f"f{i}" for i in range(len(labelled))]),
            "time": pa.array(T0_MS + labelled * 8 + 3_600_000, pa.timestamp("ms", tz="UTC")),
            "model": pa.array(np.full(len(labelled), MODEL)),
            "request_id": _ids(labelled),
            "row": pa.array(np.zeros(len(labelled), np.int32)),
            "inputs": pa.nulls(len(labelled), pa.string()),
            "label": pa.array(np.where(rng.uniform(size=len(labelled)) < 0.4, "1", "0")),
            "source": pa.array(np.full(len(labelled), "bench")),
        }
    )
    labels = layout.feedback_of(MODEL)
    labels.mkdir(parents=True)
    pq.write_table(feedback, labels / "labels.parquet")
    train = pd.DataFrame(_features(rng, 200_000, shift=0.0))
    (home / "profile.json").write_text(json.dumps(profile(train, infer_schema(train)).to_dict()))
    signature = infer_signature(train.head(1000), classes=[0, 1])
    (home / "signature.json").write_text(json.dumps(signature.to_dict()))
    size = sum(f.stat().st_size for f in folder.iterdir())
    return {"seconds": generated, "log_mb": size / 1e6}


# -- the steps (each in its own process) ------------------------------------------------------


def run_step(step: str, home: Path, rows: int) -> dict[str, Any]:
    """Time one step; return its seconds, peak memory and what it found."""
    from modelcycle.data import Profile
    from modelcycle.monitoring import drift_report, read_labelled, read_predictions, service_health
    from modelcycle.packaging import Signature
    from modelcycle.store import LogLayout

    layout = LogLayout.under(home)
    reference = Profile.from_dict(json.loads((home / "profile.json").read_text()))
    signature = Signature.from_dict(json.loads((home / "signature.json").read_text()))
    times: dict[str, float] = {}
    found: dict[str, Any] = {}
    started = time.perf_counter()
    if step in ("read+drift", "sample+drift"):
        whole = step == "read+drift"
        frame = read_predictions(
            layout,
            MODEL,
            signature=signature,
            last_rows=rows if whole else None,
            sample_rows=None if whole else 1_000_000,
        )
        times["read"] = time.perf_counter() - started
        middle = time.perf_counter()
        report = drift_report(reference, frame)
        times["drift"] = time.perf_counter() - middle
        found = {"rows": len(frame), "columns": frame.shape[1], "drifted": report.drifted_columns}
    elif step in ("labelled", "realized"):
        labelled = read_labelled(layout, MODEL, signature=signature, inputs=step == "labelled")
        times["read_labelled"] = time.perf_counter() - started
        found = {"rows": len(labelled), "versions": sorted(set(labelled["version"].tolist()))}
    elif step == "health":
        health = service_health(layout, MODEL)
        times["service_health"] = time.perf_counter() - started
        found = {"requests": [h.requests for h in health], "p99_ms": [h.p99_ms for h in health]}
    else:  # monitor: the training before it is not timed
        found = _monitor_pass(home, times)
    if step != "monitor":
        times["total"] = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step": step, "seconds": times, "peak_rss_mb": peak_mb, "found": found}


def _monitor_pass(home: Path, times: dict[str, float]) -> dict[str, Any]:
    """Train versions 1 and 2 of the model on the log's folder, then time ``monitor``."""
    import pandas as pd

    import modelcycle as mc
    from modelcycle.monitoring import MonitorWindow, monitor

    rng = np.random.default_rng(1)
    train = pd.DataFrame(_features(rng, 20_000, shift=0.0))
    logit = 0.8 * train["n00"] - 0.5 * train["n01"] + (train["c00"] == "alpha")
    train["y"] = (rng.uniform(size=len(train)) < 1 / (1 + np.exp(-logit))).astype(int)
    with mc.Workspace(home) as ws:
        for _ in range(2):
            ws.train(train, target="y", name=MODEL, budget=5, learners=["lightgbm"])
        hours = (time.time() * 1000 - T0_MS) / 3_600_000 + 1  # the whole log
        started = time.perf_counter()
        report = monitor(ws.services, MODEL, window=MonitorWindow(last_rows=None, hours=hours))
        times["monitor"] = time.perf_counter() - started
    return {"rows": report.rows, "version": report.version, "drifted": report.drift is not None}


def _check(result: dict[str, Any], rows: int) -> list[str]:
    found, step = result["found"], result["step"]
    problems = []
    if step == "read+drift" and (found["rows"] != rows or "n00" not in found["drifted"]):
        problems.append(f"read+drift: expected {rows} rows and n00 drifted; got {found}")
    if step == "sample+drift" and found["rows"] != min(rows, 1_000_000):
        problems.append(f"sample+drift: expected {min(rows, 1_000_000)} rows; got {found}")
    if step in ("labelled", "realized") and found["rows"] != rows // 100:
        problems.append(f"{step}: expected {rows // 100} rows; got {found}")
    if step == "monitor" and (found["rows"] != min(rows // 2, 1_000_000) or found["version"] != 2):
        problems.append(f"monitor: expected a sample of version 2's rows; got {found}")
    if step == "health" and sum(found["requests"]) != rows:
        problems.append(f"health: expected {rows} requests; got {found}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args.home, args.rows)))
        return 0
    console = stdout_console()
    with tempfile.TemporaryDirectory(prefix="modelcycle-monitor-") as folder:
        home = Path(folder)
        made = generate(home, args.rows, args.segments, args.seed)
        if not args.json:
            console.print(
                f"generated {args.rows:,} rows ({made['log_mb']:.0f} MB of Parquet) "
                f"in {made['seconds']:.1f} s"
            )
        results = []
        for step in STEPS:
            command = [sys.executable, __file__, "--step", step, "--home", str(home)]
            output = subprocess.run(
                [*command, "--rows", str(args.rows)], check=True, capture_output=True, text=True
            ).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
            if not args.json:
                seconds = ", ".join(f"{k} {v:.1f} s" for k, v in results[-1]["seconds"].items())
                console.print(
                    f"{step:>13}: {seconds}; peak RSS {results[-1]['peak_rss_mb']:,.0f} MB"
                )
    problems = [problem for result in results for problem in _check(result, args.rows)]
    if args.json:
        print(json.dumps({"machine": machine(), "generated": made, "results": results}))
    for problem in problems:
        console.print(f"[red]{problem}[/red]")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
