"""``modelcycle demo``: the main job, end to end on a real data set that ships offline.

Today it is the tracking half of the lifecycle: three scikit-learn models are
cross-validated and evaluated on the breast-cancer data set bundled with
scikit-learn, every fold and model is a tracked run, and the runs are listed.
Later stages (AutoML, registry, serving, monitoring) extend the same command.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.base import ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.tracking import ActiveRun
from modelcycle.workspace import Workspace

EXPERIMENT = "demo-breast-cancer"
_SEED = 7


def _candidates() -> dict[str, tuple[ClassifierMixin, dict[str, Any]]]:
    return {
        "logistic-regression": (
            make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
            {"learner": "LogisticRegression", "C": 1.0, "scaled": True},
        ),
        "extra-trees": (
            ExtraTreesClassifier(
                n_estimators=300, min_samples_leaf=2, random_state=_SEED, n_jobs=2
            ),
            {"learner": "ExtraTreesClassifier", "n_estimators": 300, "min_samples_leaf": 2},
        ),
        "gradient-boosting": (
            HistGradientBoostingClassifier(learning_rate=0.1, max_iter=200, random_state=_SEED),
            {"learner": "HistGradientBoostingClassifier", "learning_rate": 0.1, "max_iter": 200},
        ),
    }


def _scores(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "log_loss": float(log_loss(y_true, proba)),
        "accuracy": float(accuracy_score(y_true, proba >= 0.5)),
        "f1": float(f1_score(y_true, proba >= 0.5)),
    }


def _train_one(
    parent: ActiveRun,
    name: str,
    model: ClassifierMixin,
    params: dict[str, Any],
    data: dict[str, Any],
) -> dict[str, float]:
    with parent.start_child(name=name) as run:
        run.log_params(params)
        run.log_dataset(data["train_frame"], role="train", name="breast_cancer")
        run.log_dataset(data["test_frame"], role="test", name="breast_cancer")
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=_SEED)
        x, y = data["x_train"], data["y_train"]
        for step, (fit_rows, val_rows) in enumerate(folds.split(x, y)):
            fold_model = clone(model).fit(x[fit_rows], y[fit_rows])
            proba = fold_model.predict_proba(x[val_rows])[:, 1]
            run.log_metric("cv_roc_auc", roc_auc_score(y[val_rows], proba), step=step)
        fitted = clone(model).fit(x, y)
        scores = _scores(data["y_test"], fitted.predict_proba(data["x_test"])[:, 1])
        run.log_metrics({f"test_{key}": value for key, value in scores.items()})
        summary = {"model": name, "params": params, "test": scores, "features": data["features"]}
        run.log_text(json.dumps(summary, indent=2), "summary.json")
        return scores


def run_demo(ws: Workspace) -> str:
    """Track the demo's models in ``ws`` and return the parent run id."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame
    train, test = train_test_split(
        frame, test_size=0.25, stratify=frame["target"], random_state=_SEED
    )
    features = [c for c in frame.columns if c != "target"]
    data = {
        "train_frame": train,
        "test_frame": test,
        "x_train": train[features].to_numpy(),
        "y_train": train["target"].to_numpy(),
        "x_test": test[features].to_numpy(),
        "y_test": test["target"].to_numpy(),
        "features": features,
    }
    candidates = _candidates()
    with ws.start_run(experiment=EXPERIMENT, name="model-selection") as parent:
        parent.log_params({"dataset": "sklearn.datasets.load_breast_cancer", "seed": _SEED})
        parent.log_dataset(frame, role="source", name="breast_cancer")
        best_name, best_auc = "", -1.0
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=out.err_console, transient=True) as progress:
            task = progress.add_task("training", total=len(candidates))
            for name, (model, params) in candidates.items():
                progress.update(task, description=f"training {name}")
                scores = _train_one(parent, name, model, params, data)
                if scores["roc_auc"] > best_auc:
                    best_name, best_auc = name, scores["roc_auc"]
                progress.advance(task)
        parent.set_tags({"best_model": best_name})
        parent.log_metric("best_test_roc_auc", best_auc)
    return parent.run_id


def demo(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """Run the main job on scikit-learn's bundled breast-cancer data and list its runs."""
    ws = state(ctx).open()
    started = time.perf_counter()
    parent_id = run_demo(ws)
    parent = ws.get_run(parent_id)
    children = parent.children
    if json_output:
        out.print_json({"parent": parent.to_dict(), "children": [c.to_dict() for c in children]})
        return
    keys = ["test_roc_auc", "test_log_loss", "test_accuracy", "test_f1"]
    rows = [
        [c.run_id[:8], c.name, out.status(c.status), *(out.number(c.metrics.get(k)) for k in keys)]
        for c in children
    ]
    out.console.print(
        out.table(f"experiment {EXPERIMENT!r}", ["run", "model", "status", *keys], rows)
    )
    out.console.print(
        f"best model: [bold]{parent.tags.get('best_model')}[/] "
        f"(test ROC AUC {out.number(parent.metrics.get('best_test_roc_auc'))}); "
        f"{len(children) + 1} runs tracked in {time.perf_counter() - started:.1f}s "
        f"in {ws.db.display_url}"
    )
    out.console.print(
        f"next: modelcycle runs show {parent_id[:8]}   |   modelcycle runs list -e {EXPERIMENT}"
    )
