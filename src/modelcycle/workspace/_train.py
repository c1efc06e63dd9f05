"""``ws.train``: data checks, AutoML, holdout evaluation, tracking and registration in one call."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.automl import AutoML, Budget, TrialResult
from modelcycle.core import Schema, Task, ValidationError
from modelcycle.data import (
    ColumnOverride,
    Issue,
    SchemaOverrides,
    as_pandas,
    detect_task,
    infer_schema,
    is_data_frame,
    load_schema_overrides,
    profile,
    read_table,
    train_test_split_frame,
)
from modelcycle.evaluation import EvaluationReport, build_report
from modelcycle.packaging import ModelPipeline, infer_signature
from modelcycle.registry import ModelVersion
from modelcycle.tracking import ActiveRun

if TYPE_CHECKING:
    from modelcycle.workspace._workspace import Workspace

#: Run artifact with the holdout labels and predictions (read by monitoring).
HOLDOUT_ARTIFACT = "holdout_predictions.parquet"

Progress = Callable[[TrialResult, TrialResult | None, float], None]


@dataclass(frozen=True)
class TrainOptions:
    """How ``train`` runs; see :meth:`Workspace.train`."""

    target: str
    name: str | None = None
    budget_s: float = 60.0
    task: str | None = None
    metric: str | None = None
    learners: tuple[str, ...] | None = None
    seed: int = 0
    test_size: float = 0.2
    schema_file: str | None = None
    experiment: str | None = None
    n_jobs: int = 2
    sql: str | None = None
    drop: tuple[str, ...] = ()


@dataclass
class TrainResult:
    """What ``train`` made: the run, the registered version, the search and its report."""

    run_id: str
    automl: AutoML
    report: EvaluationReport
    version: ModelVersion | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def pipeline(self) -> ModelPipeline:
        """The trained pipeline (preprocessing + learners)."""
        return self.automl.pipeline_


#: Validation warnings that fail a training run's "validation passed" gate.
FAILING_CODES = frozenset({"leakage"})


def validation_failures(warnings: Sequence[Issue]) -> list[str]:
    """The warnings that fail the validation gate, as sentences (leakage suspects)."""
    return [issue.message for issue in warnings if issue.code in FAILING_CODES]


def load_frame(data: Any, sql: str | None) -> tuple[pd.DataFrame, str]:
    """A DataFrame and a short description of where it came from."""
    if isinstance(data, pd.DataFrame):
        return data, "DataFrame"
    if is_data_frame(data):  # polars, PyArrow...: converted once, through Arrow
        return as_pandas(data), f"{type(data).__module__.split('.')[0]} DataFrame"
    if data is None and sql is None:
        raise ValidationError("no training data: pass a DataFrame, a file path or a SQL query")
    frame = read_table(data, sql=sql)
    return frame, str(sql if data is None else os.fspath(data))


def train(
    ws: Workspace, data: Any, options: TrainOptions, progress: Progress | None = None
) -> TrainResult:
    """Run the whole training job; see :meth:`Workspace.train`."""
    budget = Budget(options.budget_s)
    frame, source = load_frame(data, options.sql)
    if options.target not in frame.columns:
        raise ValidationError(
            f"target column {options.target!r} is not in {source!r}; "
            f"its columns are {list(frame.columns)[:20]}"
        )
    task = detect_task(frame[options.target], override=options.task)
    overrides = _with_drops(
        load_schema_overrides(options.schema_file) if options.schema_file else None,
        options.drop,
        frame,
        options.target,
    )
    schema = infer_schema(frame, target=options.target, overrides=overrides)
    train_frame, test_frame = train_test_split_frame(
        frame, options.target, task, options.test_size, options.seed
    )
    experiment = options.experiment or options.name or "train"
    with ws.start_run(experiment=experiment, name=f"train-{options.name or options.target}") as run:
        _log_inputs(run, options, source, task, schema, train_frame, test_frame)
        # The budget covers the whole job: keep time for evaluation and packaging.
        search_s = budget.remaining() - min(max(2.0, 0.12 * options.budget_s), 20.0)
        if search_s < 1.0:
            raise ValidationError(
                f"a budget of {options.budget_s:g}s leaves {max(search_s, 0):.1f}s to search after "
                "reading and checking the data; give a larger --budget"
            )
        automl = _search(
            run, replace(options, budget_s=search_s), task, train_frame, schema, progress
        )
        report, holdout = _evaluate(
            automl, test_frame, options, {"source": source, "train_rows": len(train_frame)}
        )
        _log_outputs(run, automl, report, train_frame.drop(columns=[options.target]), holdout)
    version = ws.registry.register(run.run_id, name=options.name) if options.name else None
    warnings = [issue.message for issue in automl.validation_.warnings]
    return TrainResult(run.run_id, automl, report, version, warnings)


def _with_drops(
    overrides: SchemaOverrides | None, drop: tuple[str, ...], frame: pd.DataFrame, target: str
) -> SchemaOverrides | None:
    """The schema overrides plus ``drop = true`` for every column the caller dropped."""
    if not drop:
        return overrides
    unknown = [name for name in drop if name not in frame.columns]
    if unknown or target in drop:
        problem = f"is not a column of the data ({list(frame.columns)[:20]})" if unknown else ""
        name = unknown[0] if unknown else target
        raise ValidationError(
            f"cannot drop column {name!r}: it "
            + (problem or "is the target; choose another --target"),
            details={"column": name},
        )
    base = overrides or SchemaOverrides(origin="--drop")
    columns = dict(base.columns)
    for name in drop:
        declared = columns.get(name, ColumnOverride())
        columns[name] = replace(declared, drop=True, note="dropped by the caller (--drop)")
    return replace(base, columns=columns)


def _log_inputs(
    run: ActiveRun,
    options: TrainOptions,
    source: str,
    task: Task,
    schema: Schema,
    train_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
) -> None:
    run.log_params(
        {
            "source": source[:500],
            "target": options.target,
            "task": task.value,
            "budget_s": options.budget_s,
            "seed": options.seed,
            "test_size": options.test_size,
            "metric": options.metric or "default",
        }
    )
    run.log_dataset(train_frame, role="train", name=Path(source).name)
    run.log_dataset(test_frame, role="test", name=Path(source).name)
    run.log_text(json.dumps(schema.to_dict(), indent=2), "schema.json")
    reference = profile(train_frame, schema)
    run.log_text(json.dumps(reference.to_dict()), "profile.json")


def _search(
    run: ActiveRun,
    options: TrainOptions,
    task: Task,
    train_frame: pd.DataFrame,
    schema: Schema,
    progress: Progress | None,
) -> AutoML:
    started = [0.0]

    def on_trial(result: TrialResult, best: TrialResult | None) -> None:
        with run.start_child(name=f"trial-{result.number}-{result.learner}") as child:
            child.log_params({k: v for k, v in result.params.items()} | {"learner": result.learner})
            child.set_tags(
                {
                    "source": result.source,
                    "status": result.status,
                    "class_weight": str(result.class_weight),
                }
            )
            for step, value in enumerate(result.fold_values):
                child.log_metric(f"fold_{automl.metric_.name}", value, step=step)
            if result.complete:
                child.log_metric(f"cv_{automl.metric_.name}", result.value)
            child.log_metric("trial_seconds", result.seconds)
            if result.error:
                child.set_tag("error", result.error[:1000])
        if progress is not None:
            progress(result, best, started[0])

    automl = AutoML(
        time_budget_s=options.budget_s,
        task=task,
        metric=options.metric,
        learners=options.learners,
        random_state=options.seed,
        n_jobs=options.n_jobs,
        on_trial=on_trial,
    )
    automl.fit(train_frame, options.target, schema=schema)
    failures = validation_failures(automl.validation_.warnings)
    run.set_tags(
        {
            "validation": "failed" if failures else "passed",
            "ensemble": str(automl.ensemble_).lower(),
        }
    )
    if failures:
        run.set_tag("validation_failures", "; ".join(failures)[:5000])
    run.log_metric(f"cv_{automl.metric_.name}", automl.best_value_)
    run.log_metric("search_seconds", automl.elapsed_s_)
    run.log_metric("trials", len(automl.results_))
    return automl


def _evaluate(
    automl: AutoML, test_frame: pd.DataFrame, options: TrainOptions, facts: dict[str, Any]
) -> tuple[EvaluationReport, pd.DataFrame]:
    """The holdout report, and the holdout predictions monitoring calibrates against."""
    pipeline = automl.pipeline_
    inputs = test_frame.drop(columns=[options.target])
    y_raw = test_frame[options.target]
    if automl.task_ is Task.REGRESSION:
        y = np.asarray(y_raw, dtype=float)
        output = pipeline.predict_values(inputs)
    else:
        y = np.asarray(pd.Categorical(y_raw, categories=automl.classes_).codes)
        output = pipeline.predict_proba(inputs)
    best = max(pipeline.members, key=lambda m: m.weight)
    pre = pipeline.preprocessors[best.preprocessor]
    matrix = pre.transform(inputs)

    def predict_fn(x: np.ndarray) -> np.ndarray:
        if automl.task_ is Task.REGRESSION:
            return np.asarray(best.learner.predict(x), dtype=float)
        return best.learner.predict_proba(x)

    contributions = pipeline.contributions(inputs)
    if contributions is not None and contributions[0].ndim == 3:  # multiclass: (n, k, d + 1)
        contributions = (contributions[0].reshape(len(inputs), -1), contributions[1])
    report = build_report(
        automl.task_,
        y,
        output,
        frame=inputs,
        X=matrix,
        feature_names=list(pre.feature_names_),
        predict_fn=predict_fn,
        contributions=contributions[0]
        if contributions and contributions[1] == list(pre.feature_names_)
        else None,
        class_labels=[str(c) for c in automl.classes_] if automl.classes_ else None,
        schema=automl.schema_,
        leaderboard=[
            {k: v for k, v in row.items() if k != "params"} for row in automl.leaderboard_[:25]
        ],
        dataset={**facts, "test_rows": len(test_frame)},
        notes=[issue.message for issue in automl.validation_.warnings],
        title=f"{options.name or options.target}: holdout evaluation",
        n_repeats=3,
    )
    return report, _holdout_frame(automl.task_, y, output)


def _holdout_frame(task: Task, y: np.ndarray, output: np.ndarray) -> pd.DataFrame:
    """``y`` and ``proba_0 .. proba_{k-1}`` (or ``prediction`` for regression) per holdout row."""
    if task is Task.REGRESSION:
        return pd.DataFrame({"y": y, "prediction": np.asarray(output, dtype=float)})
    proba = np.asarray(output, dtype=float)
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    columns = {f"proba_{c}": proba[:, c] for c in range(proba.shape[1])}
    return pd.DataFrame({"y": np.asarray(y, dtype=np.int64), **columns})


def _log_outputs(
    run: ActiveRun,
    automl: AutoML,
    report: EvaluationReport,
    sample: pd.DataFrame,
    holdout: pd.DataFrame,
) -> None:
    run.log_metrics(
        {f"test_{key}": value for key, value in report.metrics.items() if np.isfinite(value)}
    )
    for name, text in report.artifacts().items():
        run.log_text(text, f"evaluation/{name}")
    run.log_text(json.dumps(automl.leaderboard_, default=str, indent=1), "leaderboard.json")
    with tempfile.TemporaryDirectory(prefix="modelcycle-holdout-") as folder:
        path = Path(folder) / HOLDOUT_ARTIFACT
        holdout.to_parquet(path, index=False)
        run.log_artifact(path, HOLDOUT_ARTIFACT)  # monitoring's reference (CBPE calibration)
    inferred = infer_signature(sample, task=automl.task_, classes=automl.classes_)
    columns = {column.name: column for column in automl.schema_.columns}
    # The pipeline maps unseen categories to "other" and imputes missing values, so callers
    # may send any category or a null; but a column it uses that was never missing in
    # training must be sent (a request without it is refused), unless the schema file
    # calls it optional. Columns left out of modelling (identifiers, --drop) stay
    # accepted, so callers can send whole rows, but are never required.
    inputs = tuple(
        replace(
            spec,
            categories=None,
            nullable=True,
            sensitive=columns[spec.name].sensitive if spec.name in columns else False,
            required=not spec.nullable
            and spec.name in columns
            and not (columns[spec.name].optional or columns[spec.name].dropped),
        )
        for spec in inferred.inputs
    )
    run.log_model(automl.pipeline_, signature=replace(inferred, inputs=inputs))
