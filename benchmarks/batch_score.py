"""Batch scoring: ``modelcycle score`` against MLflow's pyfunc and the raw library call.

One seeded table (12 numbers, 2 text categories, a binary target) fits a scikit-learn
pipeline (one-hot encoding of the categories, then a 200-tree ``LGBMClassifier``) on
20,000 rows: the model a user brings. A fresh ``--rows`` table (1,000,000) is written as
one Parquet file, and scored three ways, one thread each, the model loaded beforehand:

* MLflow (the peer): the pipeline saved by ``mlflow.sklearn.save_model`` with
  ``pyfunc_predict_fn="predict_proba"``, loaded by ``mlflow.pyfunc.load_model``; the
  Parquet file read by pandas, predicted in one call, the probabilities written to
  Parquet: what a batch job with MLflow does on one machine;
* raw: the same read, the fitted pipeline's own ``predict_proba`` and write, with no
  check of the input at all (the floor);
* modelcycle: the pipeline logged with ``run.log_model`` and registered, loaded by
  ``load_served``, the file scored by :func:`modelcycle.serving.score_file` (what
  ``modelcycle score`` runs): chunks of 50,000 rows, every value checked against the
  signature, rejected rows to a reject file, the output with row numbers and one
  probability column per class.

Goals: modelcycle at least as fast as MLflow (≥ 1.0×), and within 25% of the raw call
(≥ 0.8×). The outputs are compared outside the timed region: the rows whose probability
differs from MLflow's by more than 1e-6 are counted (a compiled graph compares float32
values with the trees' thresholds, so a value within float32 rounding of one can take
the other branch); more than one in a thousand is an error.

Run::

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/batch_score.py           # ~2 min
    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/batch_score.py --quick
    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/batch_score.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from _common import Comparison, machine, print_table, stdout_console, stopwatch

SEED = 0
N_NUMERIC = 12
LEVELS = {"region": 40, "plan": 6}


def make_frame(rows: int, seed: int) -> pd.DataFrame:
    """Seeded rows: numbers, two text categories and a binary target ``y``."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(rows, N_NUMERIC))
    frame = pd.DataFrame(numbers, columns=[f"x{i}" for i in range(N_NUMERIC)])
    codes = {name: rng.integers(0, size, rows) for name, size in LEVELS.items()}
    for name, size in LEVELS.items():
        frame[name] = np.array([f"{name}-{i}" for i in range(size)], dtype=object)[codes[name]]
    logit = numbers[:, 0] - 0.7 * numbers[:, 1] + numbers[:, 2] * numbers[:, 3]
    logit += (codes["region"] % 5 - 2) / 3 + 0.5 * (codes["plan"] == 2)
    frame["y"] = (logit + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one repeat")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 100_000, 1
    warnings.simplefilter("ignore")

    import lightgbm as lgb
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    import modelcycle as mc
    from modelcycle.serving import load_served, score_file

    train = make_frame(20_000, SEED)
    features, target = train.drop(columns="y"), train["y"]
    pipeline = Pipeline([
        ("encode", ColumnTransformer(
            [("categories", OneHotEncoder(handle_unknown="ignore"), list(LEVELS))],
            remainder="passthrough",
        )),
        ("model", lgb.LGBMClassifier(n_estimators=200, random_state=SEED, verbose=-1,
                                     n_jobs=1)),
    ]).fit(features, target)  # fmt: skip

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        source = home / "rows.parquet"
        make_frame(args.rows, SEED + 1).drop(columns="y").to_parquet(source, index=False)
        mlflow_folder = home / "mlflow-model"
        mlflow.sklearn.save_model(
            pipeline, mlflow_folder, pyfunc_predict_fn="predict_proba",
            signature=infer_signature(features.head(100), pipeline.predict_proba(features.head())),
            skops_trusted_types=["collections.OrderedDict", "lightgbm.basic.Booster",
                                 "lightgbm.sklearn.LGBMClassifier"],
        )  # fmt: skip
        pyfunc = mlflow.pyfunc.load_model(str(mlflow_folder))
        with mc.Workspace(home / "ws") as ws:
            with ws.start_run(experiment="bench", name="brought") as run:
                run.log_model(pipeline, signature=features)  # every category it saw
            version = ws.registry.register(run.run_id, name="brought").version
            served = load_served(ws.registry, f"brought/{version}", max_rows=50_000)

        def read_predict_write(predict: Any, out: Path) -> float:
            with stopwatch() as watch:
                frame = pd.read_parquet(source)
                proba = np.asarray(predict(frame))
                pd.DataFrame(proba, columns=["proba_0", "proba_1"]).to_parquet(out)
            return watch.seconds

        def ours(attempt: int) -> float:
            out = home / f"ours-{attempt}.parquet"
            with stopwatch() as watch:
                summary = score_file(served, source, out, rejects=home / "rejects.csv")
            if summary.scored != args.rows or summary.rejected:
                raise SystemExit(f"modelcycle scored {summary.scored} of {args.rows} rows")
            return watch.seconds

        mlflow_vs = Comparison(f"score {args.rows:,} Parquet rows: MLflow pyfunc", goal=1.0)
        raw_vs = Comparison(f"score {args.rows:,} Parquet rows: raw predict_proba", goal=0.8)
        for attempt in range(args.repeat):  # alternately, so a slow spell hits all three
            mlflow_vs.peer_s.append(
                read_predict_write(pyfunc.predict, home / f"mlflow-{attempt}.parquet")
            )
            mlflow_vs.ours_s.append(ours(attempt))
            raw_vs.peer_s.append(
                read_predict_write(pipeline.predict_proba, home / f"raw-{attempt}.parquet")
            )
            raw_vs.ours_s.append(mlflow_vs.ours_s[-1])
        ours_proba = pd.read_parquet(home / "ours-0.parquet")["proba_1"].to_numpy()
        peer_proba = pd.read_parquet(home / "mlflow-0.parquet")["proba_1"].to_numpy()
        gaps = np.abs(ours_proba - peer_proba)
        gap, differ = float(gaps.max()), int((gaps > 1e-6).sum())
        if differ > args.rows // 1000:
            raise SystemExit(f"{differ} of modelcycle's probabilities differ from MLflow's")
        engine = served.engine

    shown = [mlflow_vs, raw_vs]
    if args.json:
        print(json.dumps({"machine": machine(), "engine": engine, "max_probability_gap": gap,
                          "rows_differing": differ,
                          "results": [c.to_dict() for c in shown]}))  # fmt: skip
        return
    console = stdout_console()
    print_table("Batch scoring of one Parquet file", "peer", shown, console=console)
    console.print(
        f"modelcycle answered with {engine}; {differ:,} rows' probabilities differ from "
        f"MLflow's by more than 1e-6 (at most {gap:.1e}); "
        f"throughput {args.rows / mlflow_vs.ours_median:,.0f} rows/s (MLflow "
        f"{args.rows / mlflow_vs.peer_median:,.0f}, raw {args.rows / raw_vs.peer_median:,.0f})"
    )
    console.print(machine())


if __name__ == "__main__":
    main()
