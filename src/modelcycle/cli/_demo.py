"""``modelcycle demo``: the main job, end to end, on a real data set that ships offline.

Today it runs the first half of the lifecycle on scikit-learn's bundled
breast-cancer data: AutoML within a budget (every trial tracked), a holdout
evaluation report, registration, promotion through a gate, a hand-trained worse
model refused by that gate, and predictions from the champion loaded by
reference. Serving, monitoring and retraining extend the same command later.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.core import ValidationError
from modelcycle.data import train_test_split_frame
from modelcycle.registry import PromotionRefused
from modelcycle.workspace import Workspace

MODEL = "breast-cancer"
_SEED = 7


def run_demo(ws: Workspace, *, budget: float, report_dir: Path) -> dict[str, Any]:
    """Run the demo's steps in ``ws``; return what each step produced."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    steps: dict[str, Any] = {}
    trained = ws.train(
        frame, target="target", name=MODEL, budget=budget, seed=_SEED, experiment="demo"
    )
    assert trained.version is not None
    steps["train"] = {
        "run_id": trained.run_id,
        "version": trained.version.version,
        "test_roc_auc": trained.report.metrics["roc_auc"],
        "trials": len(trained.automl.results_),
    }
    ws.registry.describe(
        MODEL, "Demo: flags likely malignant tumours for a second look; not a diagnosis."
    )
    ws.registry.set_gates(
        MODEL,
        {"min_metrics": {"test_roc_auc": 0.95}, "beat_champion": "test_roc_auc", "beat_by": 0.0},
    )
    ws.registry.promote(MODEL, trained.version.version)
    steps["promote"] = {"champion": trained.version.version}
    steps["refused"] = _refused_challenger(ws, frame, trained.run_id)
    champion = ws.registry.load(f"{MODEL}@champion")
    rows = frame.drop(columns=["target"]).sample(5, random_state=_SEED)
    steps["predict"] = {
        "labels": champion.predict(rows.to_dict("records")).tolist(),
        "p_benign": champion.predict_proba(rows)[:, 1].round(4).tolist(),
    }
    report_dir.mkdir(parents=True, exist_ok=True)
    report = ws.get_run(trained.run_id).download_artifact(
        "evaluation/evaluation.html", report_dir / "evaluation.html"
    )
    steps["report"] = str(report)
    return steps


def _refused_challenger(ws: Workspace, frame: Any, parent_run: str) -> dict[str, Any]:
    """Train a deliberately weak model by hand (a one-split tree) and try to promote it."""
    from sklearn.metrics import roc_auc_score
    from sklearn.tree import DecisionTreeClassifier

    train_run = ws.get_run(parent_run)
    test_hash = next(d["dataset_hash"] for d in train_run.datasets if d["role"] == "test")
    train_hash = next(d["dataset_hash"] for d in train_run.datasets if d["role"] == "train")
    # Reuse the exact holdout of the AutoML run so the gate compares like with like.
    train, test = train_test_split_frame(frame, "target", "binary", 0.2, _SEED)
    with ws.start_run(experiment="demo", name="hand-made-weak-model") as run:
        columns = [c for c in frame.columns if c != "target"]
        model = DecisionTreeClassifier(max_depth=1, random_state=_SEED).fit(
            train[columns], train["target"]
        )
        fp_train, fp_test = run.log_dataset(train, role="train"), run.log_dataset(test, role="test")
        if (fp_train.hash, fp_test.hash) != (train_hash, test_hash):
            raise ValidationError("the demo's hand-made model did not get the AutoML run's holdout")
        run.log_metric(
            "test_roc_auc", roc_auc_score(test["target"], model.predict_proba(test[columns])[:, 1])
        )
        run.log_model(model, signature=train[columns].head(20))
    weak = ws.registry.register(run.run_id, name=MODEL)
    try:
        ws.registry.promote(MODEL, weak.version)
    except PromotionRefused as refused:
        return {
            "version": weak.version,
            "test_roc_auc": weak.metrics["test_roc_auc"],
            "reasons": refused.reasons,
        }
    raise ValidationError(
        f"the gate let the weak version {weak.version} through; the demo expected a refusal"
    )


def demo(
    ctx: typer.Context,
    budget: Annotated[float, typer.Option(help="Seconds for the AutoML search.")] = 20,
    reports: Annotated[Path, typer.Option(help="Folder for the HTML reports.")] = Path(
        "modelcycle-demo"
    ),
    json_output: Annotated[bool, typer.Option("--json", help="Print the steps as JSON.")] = False,
) -> None:
    """Run the main job on scikit-learn's breast-cancer data: train, register, gate, predict."""
    ws = state(ctx).open()
    started = time.perf_counter()
    with out.err_console.status("training within the budget (every trial is a tracked run)..."):
        steps = run_demo(ws, budget=budget, report_dir=reports)
    steps["seconds"] = round(time.perf_counter() - started, 1)
    if json_output:
        out.print_json(steps)
        return
    train, refused = steps["train"], steps["refused"]
    rows = [
        [
            "train",
            f"AutoML, {train['trials']} trials; holdout ROC AUC {train['test_roc_auc']:.4f}; "
            f"run {train['run_id'][:8]}",
        ],
        ["register", f"{MODEL}/{train['version']}"],
        ["promote", f"{MODEL}/{steps['promote']['champion']} passed the gate and is @champion"],
        [
            "gate",
            f"{MODEL}/{refused['version']} (ROC AUC {refused['test_roc_auc']:.3f}) refused: "
            + "; ".join(refused["reasons"]),
        ],
        ["predict", f"{MODEL}@champion on 5 rows: {steps['predict']['labels']}"],
        ["report", steps["report"]],
    ]
    title = f"modelcycle demo ({steps['seconds']}s, {ws.db.display_url})"
    out.console.print(out.table(title, ["step", "result"], rows, wrap_last=True))
    out.console.print(f"next: modelcycle models show {MODEL}   |   modelcycle runs list -e demo")
