"""``ws.train``: data checks, AutoML, holdout evaluation, tracking and registration in one call.

What the run stores is written by :class:`~modelcycle.records.TrainingRecorder`; this
module decides what to do, not how it is recorded. The whole job runs within one
:class:`~modelcycle.automl.Budget` (see its module for what it covers).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelcycle.automl import AutoML, Budget, TrialExecutor, TrialResult
from modelcycle.core import Schema, Task, ValidationError
from modelcycle.data import (
    ColumnOverride,
    SchemaOverrides,
    as_pandas,
    check_target,
    detect_task,
    infer_schema,
    is_data_frame,
    load_schema_overrides,
    profile,
    read_table,
    train_test_split_frame,
)
from modelcycle.evaluation import EvaluationReport
from modelcycle.packaging import ModelPipeline, Signature, infer_signature
from modelcycle.records import TrainingFacts, TrainingRecorder, Validation
from modelcycle.registry import ModelVersion
from modelcycle.tracking import ActiveRun
from modelcycle.workspace._holdout import evaluate_holdout

if TYPE_CHECKING:
    from modelcycle.workspace._workspace import Workspace

#: Called after each trial with the trial, the best so far and the job's elapsed seconds.
Progress = Callable[[TrialResult, TrialResult | None, float], None]


@dataclass(frozen=True)
class TrainOptions:
    """How ``train`` runs; see :meth:`Workspace.train`."""

    target: str
    name: str | None = None
    budget: float = 60.0
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
    distributed_data: bool = False
    sample_rows: int = 100_000


@dataclass
class TrainResult:
    """What ``train`` made: the run, the registered version, the search and its report."""

    run_id: str
    automl: AutoML
    report: EvaluationReport
    version: ModelVersion | None = None
    warnings: list[str] = field(default_factory=list)
    #: The model when it is not the search's (trained on a cluster from the whole data).
    model: ModelPipeline | None = None

    @property
    def pipeline(self) -> ModelPipeline:
        """The trained pipeline (preprocessing + learners)."""
        return self.model if self.model is not None else self.automl.pipeline_


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
    if options.distributed_data:
        from modelcycle.workspace._train_cluster import train_on_cluster

        return train_on_cluster(ws, data, options, progress)
    budget = Budget(options.budget)
    frame, source = load_frame(data, options.sql)
    task, schema = task_and_schema(frame, options, source)
    train_frame, test_frame = train_test_split_frame(
        frame, options.target, task, options.test_size, options.seed
    )
    facts = training_facts(options, task, source)
    with training_run(ws, options) as run:
        recorder = TrainingRecorder(run)
        recorder.inputs(
            facts,
            schema,
            profile(train_frame, schema),
            {"train": train_frame, "test": test_frame},
            dataset_name=Path(source).name,
        )
        search = _search_budget(budget, options.budget)
        with _executor(ws) as executor:
            automl = _search(run, options, task, train_frame, schema, search, progress, executor)
        report, holdout = evaluate_holdout(
            automl,
            test_frame,
            options.target,
            f"{options.name or options.target}: holdout evaluation",
            {"source": source, "train_rows": len(train_frame)},
        )
        validation = Validation.of(automl.validation_.warnings)
        recorder.outputs(
            validation=validation,
            ensemble=automl.ensemble_,
            leaderboard=automl.leaderboard_,
            evaluation=report,
            holdout=holdout,
        )
        run.log_metrics({f"test_{k}": v for k, v in report.metrics.items() if _finite(v)})
        sample = train_frame.drop(columns=[options.target])
        signature = _signature(automl.task_, automl.classes_, automl.schema_, sample)
        run.log_model(automl.pipeline_, signature=signature)
    version = ws.registry.register(run.run_id, name=options.name) if options.name else None
    warnings = [issue.message for issue in validation.warnings]
    return TrainResult(run.run_id, automl, report, version, warnings)


def _search_budget(budget: Budget, seconds: float) -> Budget:
    """The part of the job's budget the search (refit included) may use.

    Evaluation and packaging keep about an eighth of it (at least 2 s, at most 20 s).
    """
    search = budget.keep(min(max(2.0, 0.12 * seconds), 20.0))
    if search.remaining() < 1.0:
        raise ValidationError(
            f"a budget of {seconds:g}s leaves {max(search.remaining(), 0):.1f}s to search after "
            "reading and checking the data; give a larger --budget"
        )
    return search


def training_facts(options: TrainOptions, task: Task, source: str) -> TrainingFacts:
    """What a training run records of its job (target, task, source, budget, split, metric)."""
    return TrainingFacts(
        options.target, task, source, options.budget, options.seed, options.test_size,
        options.metric,
    )  # fmt: skip


def training_run(ws: Workspace, options: TrainOptions) -> ActiveRun:
    """The parent run of a training job: in ``options``' experiment, named after the job."""
    experiment = options.experiment or options.name or "train"
    return ws.start_run(experiment=experiment, name=f"train-{options.name or options.target}")


def task_and_schema(frame: pd.DataFrame, options: TrainOptions, source: str) -> tuple[Task, Schema]:
    """The task (detected unless ``options`` names it) and the schema of ``frame``.

    The target column is checked first; the schema applies the caller's overrides and
    their dropped columns. ``frame`` is the whole table, or a sample that stands for it.
    """
    task = detect_task(
        check_target(frame, options.target, source=repr(source)), override=options.task
    )
    overrides = _with_drops(
        load_schema_overrides(options.schema_file) if options.schema_file else None,
        options.drop,
        frame,
        options.target,
    )
    return task, infer_schema(frame, target=options.target, overrides=overrides)


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


@contextlib.contextmanager
def _executor(ws: Workspace) -> Iterator[TrialExecutor | None]:
    """Trials on the workspace's Dask cluster (``--cluster``), or here (``None``).

    The studies are shared with the workers through the workspace's PostgreSQL
    database, or through the scheduler when the workspace is a SQLite file.
    """
    address = ws.settings.dask_address
    if not address:
        yield None
        return
    from modelcycle.distributed import DaskExecutor, connect, optuna_storage

    client = connect(address)
    try:
        executor = DaskExecutor(client, storage=optuna_storage(client, ws.db))
        try:
            yield executor
        finally:
            executor.close()
    finally:
        client.close()  # type: ignore[no-untyped-call]


def _search(
    run: ActiveRun,
    options: TrainOptions,
    task: Task,
    train_frame: pd.DataFrame,
    schema: Schema,
    budget: Budget,
    progress: Progress | None,
    executor: TrialExecutor | None = None,
) -> AutoML:
    def on_trial(result: TrialResult, best: TrialResult | None) -> None:
        _log_trial(run, automl.metric_.name, result)
        if progress is not None:
            progress(result, best, budget.elapsed())

    automl = AutoML(
        budget=options.budget,
        task=task,
        metric=options.metric,
        learners=options.learners,
        random_state=options.seed,
        n_jobs=options.n_jobs,
        on_trial=on_trial,
        executor=executor,
    )
    automl.fit(train_frame, options.target, schema=schema, budget=budget)
    run.log_metric(f"cv_{automl.metric_.name}", automl.best_value_)
    run.log_metric("search_seconds", automl.elapsed_s_)
    run.log_metric("trials", len(automl.results_))
    return automl


def _log_trial(run: ActiveRun, metric: str, result: TrialResult) -> None:
    """One trial as a child run, with its real start and end."""
    started = datetime.fromtimestamp(result.started_at, tz=UTC)
    child = run.start_child(name=f"trial-{result.number}-{result.learner}", start_time=started)
    child.log_params(dict(result.params) | {"learner": result.learner})
    child.set_tags(
        {
            "source": result.source,
            "status": result.status,
            "class_weight": str(result.class_weight),
            "encoding": result.encoding,
        }
    )
    for step, value in enumerate(result.fold_values):
        child.log_metric(f"fold_{metric}", value, step=step)
    if result.complete:
        child.log_metric(f"cv_{metric}", result.value)
    child.log_metric("trial_seconds", result.seconds)
    if result.error:
        child.set_tag("error", result.error[:1000])
    ended = datetime.fromtimestamp(result.started_at + result.seconds, tz=UTC)
    child.end("FINISHED" if result.status != "FAILED" else "FAILED", end_time=ended)


def _signature(
    task: Task, classes: list[Any] | None, schema: Schema, sample: pd.DataFrame
) -> Signature:
    """What callers of the trained pipeline must send.

    The pipeline maps unseen categories to "other" and imputes missing values, so callers
    may send any category or a null; but a column it uses that was never missing in
    training must be sent (a request without it is refused), unless the schema file calls
    it optional. Columns left out of modelling (identifiers, ``--drop``) stay accepted, so
    callers can send whole rows, but are never required.
    """
    inferred = infer_signature(sample, task=task, classes=classes)
    columns = {column.name: column for column in schema.columns}
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
    return replace(inferred, inputs=inputs)


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))
