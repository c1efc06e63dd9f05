"""Data drift on 1 million rows × 20 columns: modelcycle's drift_report against Evidently.

Both systems get the same seeded reference and current tables (12 numeric and 8
categorical columns; ``n0`` shifted by 0.5 sd, ``n1`` with twice the variance, ``c0``
with its category mix reshuffled and ``c1`` with 20% of a new category — the clear
cases; the other 16 columns drawn from the same distributions in both tables). Each
system runs in its own subprocess, which reads the tables from Parquet (untimed) and
then times its drift analysis ``--repeat`` times:

* Evidently: ``Report([DataDriftPreset()]).run(current, reference)``, its per-column
  verdicts read from the ``ValueDrift`` metrics (for over 1,000 rows: normalised
  Wasserstein > 0.1 for numbers, Jensen–Shannon > 0.1 for categories).
* modelcycle: ``drift_report(profile, current)``. The reference profile is built once at
  training time and stored with the model version, so it is timed apart (``profile``)
  and not included in the ratio.

Peak memory is the subprocess's ``VmHWM`` (peak resident set, from /proc/self/status;
it sees NumPy, pandas and Arrow allocations alike, unlike tracemalloc), shown with the
part above the resident size right after the tables were loaded.

Evidently 0.7 does not import with pandas 3, which modelcycle uses; give it its own
environment with ``--evidently-python`` (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, stdout_console

NUMERIC = [f"n{i}" for i in range(12)]
CATEGORICAL = [f"c{i}" for i in range(8)]
DRIFTED = {"n0", "n1", "c0", "c1"}
LABELS = np.array(["a", "b", "c", "d", "e", "f", "g", "h"])
SHARES = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])
GOAL = 10.0


def make_tables(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference table and the current one with the four clear changes."""
    rng = np.random.default_rng(seed)
    reference, current = _table(rng, rows), _table(rng, rows)
    current["n0"] += 0.5 * 1.0
    current["n1"] = 1.0 + (current["n1"] - 1.0) * np.sqrt(2.0)
    current["c0"] = rng.choice(LABELS, rows, p=SHARES[::-1])
    current.loc[rng.random(rows) < 0.2, "c1"] = "new"
    return reference, current


def _table(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    data: dict[str, Any] = {
        name: rng.normal(i, 1.0 + i / 10, rows) for i, name in enumerate(NUMERIC)
    }
    data |= {name: rng.choice(LABELS, rows, p=SHARES) for name in CATEGORICAL}
    table = pd.DataFrame(data)
    table.loc[rng.random(rows) < 0.02, "n2"] = np.nan
    return table


def _memory() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def worker(system: str, folder: Path, repeat: int) -> dict[str, Any]:
    """Run one system on the stored tables; return its timings, memory and verdicts."""
    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    loaded = _memory()["VmRSS"]
    run = _evidently if system == "evidently" else _modelcycle
    result = run(reference, current, repeat)
    memory = _memory()
    return result | {"peak_bytes": memory["VmHWM"], "above_loaded_bytes": memory["VmHWM"] - loaded}


def _modelcycle(reference: pd.DataFrame, current: pd.DataFrame, repeat: int) -> dict[str, Any]:
    from modelcycle.data import Profile, infer_schema
    from modelcycle.monitoring import drift_report

    start = time.perf_counter()
    profile = Profile.from_frame(reference, infer_schema(reference))
    profile_s = time.perf_counter() - start
    seconds, report = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        report = drift_report(profile, current)
        seconds.append(time.perf_counter() - start)
    assert report is not None
    verdicts = {column.name: column.drifted for column in report.columns}
    return {"seconds": seconds, "profile_s": profile_s, "verdicts": verdicts}


def _evidently(reference: pd.DataFrame, current: pd.DataFrame, repeat: int) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    seconds, snapshot = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        current_data = Dataset.from_pandas(current, data_definition=definition)
        reference_data = Dataset.from_pandas(reference, data_definition=definition)
        snapshot = Report([DataDriftPreset()]).run(current_data, reference_data)
        seconds.append(time.perf_counter() - start)
    assert snapshot is not None
    verdicts, methods = {}, set()
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            methods.add(config["method"])
            verdicts[config["column"]] = _evidently_drifted(config, float(metric["value"]))
    return {"seconds": seconds, "verdicts": verdicts, "methods": sorted(methods)}


def _evidently_drifted(config: dict[str, Any], score: float) -> bool:
    method = str(config["method"]).lower()
    if "distance" in method or "psi" in method or "divergence" in method:
        return score >= float(config["threshold"])
    return score < float(config["threshold"])  # a p-value


def _spawn(python: str, system: str, folder: Path, repeat: int) -> dict[str, Any]:
    command = [python, __file__, "--worker", system, "--data", str(folder), "--repeat", str(repeat)]
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parent.parent / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{system} worker failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--evidently-python", default=os.environ.get("EVIDENTLY_PYTHON", sys.executable)
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", choices=["modelcycle", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.repeat)))
        return 0
    rows, repeat = (100_000, 1) if args.quick else (args.rows, args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        reference, current = make_tables(rows, args.seed)
        reference.to_parquet(Path(folder) / "reference.parquet")
        current.to_parquet(Path(folder) / "current.parquet")
        del reference, current
        peer = _spawn(args.evidently_python, "evidently", Path(folder), repeat)
        ours = _spawn(sys.executable, "modelcycle", Path(folder), repeat)
    summary = _summary(rows, peer, ours)
    if args.json:
        print(json.dumps(summary | {"machine": machine()}, indent=2))
    else:
        _print(summary)
    return 0 if summary["agreement_on_clear_cases"] == 1.0 else 1


def _summary(rows: int, peer: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    columns = NUMERIC + CATEGORICAL
    expected = {name: name in DRIFTED for name in columns}
    agree = [peer["verdicts"][c] == ours["verdicts"][c] == expected[c] for c in columns]
    peer_s, ours_s = statistics.median(peer["seconds"]), statistics.median(ours["seconds"])
    return {
        "rows": rows,
        "columns": len(columns),
        "evidently": peer,
        "modelcycle": ours,
        "ratio": peer_s / ours_s,
        "goal": GOAL,
        "expected_drifted": sorted(DRIFTED),
        "agreement_on_clear_cases": sum(agree) / len(agree),
        "disagreements": [c for c, ok in zip(columns, agree, strict=True) if not ok],
    }


def _print(summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Data drift, {summary['rows']:,} rows × {summary['columns']} columns")
    for label in ("system", "median s", "peak memory", "above loaded tables", "drifted columns"):
        table.add_column(label)
    for name in ("evidently", "modelcycle"):
        result = summary[name]
        drifted = ", ".join(c for c, v in result["verdicts"].items() if v)
        table.add_row(
            name,
            f"{statistics.median(result['seconds']):.3f}",
            f"{result['peak_bytes'] / 2**20:,.0f} MiB",
            f"{result['above_loaded_bytes'] / 2**20:,.0f} MiB",
            drifted,
        )
    console = stdout_console()
    console.print(table)
    met = "met" if summary["ratio"] >= summary["goal"] else "NOT met"
    profile_s = summary["modelcycle"]["profile_s"]
    console.print(
        f"ratio Evidently / modelcycle: {summary['ratio']:.1f}× "
        f"(goal ≥ {summary['goal']:g}×, {met}); "
        f"modelcycle's profile, built once at training: {profile_s:.2f} s; "
        f"verdicts agree with each other and the injected changes on "
        f"{summary['agreement_on_clear_cases']:.0%} of columns {summary['disagreements'] or ''}"
    )


if __name__ == "__main__":
    sys.exit(main())
