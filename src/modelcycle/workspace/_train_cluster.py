"""``ws.train(..., distributed_data=True)``: a Parquet dataset trained on the Dask cluster.

For data that must not be collected to one machine (``--distributed-data``; it needs
``--cluster``). The job is the local one, step for step, with each step that reads every
row done partition by partition on the workers (:mod:`modelcycle.distributed`):

1. read the Parquet dataset (a folder, a glob or an ``s3://`` prefix) as a Dask DataFrame,
   count its rows (refusing rows without a target) and split train and holdout by a
   seeded hash of each row;
2. collect a sample of at most ``sample_rows`` train rows: the schema is inferred and the
   data checked on it, and a LightGBM search on it chooses the parameters, the rounds
   and the encoding of many-valued categorical columns (within about a third of the
   time the passes over every row after it leave: :func:`search_seconds`);
3. one pass over the data: the profile, the fingerprints, the classes and the
   statistics of the best trial's preprocessing over the whole train part (category
   counts, medians, target sums per category and fold), and a validation slice of its rows
   (a seeded hash slice of about 2%, 2,000 to 200,000 rows) collected here;
4. ``lightgbm.dask`` trains on every other train row with the chosen parameters; the
   search's rounds were chosen on a sample, so when the time left allows, the fit grows
   them (up to four times) and keeps the first rounds with the lowest loss on the
   validation slice; when the search's timings say its rounds do not fit in the budget
   left, each round draws a share of the rows (down to a tenth), and only then are there
   fewer rounds, at a learning rate raised in proportion (to at most 0.3); the fit is
   then paced on the cluster (:mod:`modelcycle.distributed._pace`): when its measured
   rounds are slower than planned, it trains fewer at a rate raised from a round ahead,
   and ends by the deadline;
5. the holdout is scored on the workers and evaluated here from its predictions;
6. the run, the model (a pipeline of the whole-data preprocessing and the booster, saved
   as LightGBM model text) and the evaluation are recorded as a local training records
   them, so ``register``, ``serve`` and ``monitor`` work unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.automl import AutoML, Budget, TrialResult
from modelcycle.core import Task, ValidationError
from modelcycle.features import Preprocessor
from modelcycle.records import TrainingRecorder, Validation
from modelcycle.workspace._holdout import evaluate_predictions

if TYPE_CHECKING:
    from distributed import Client
    from modelcycle.distributed._lightgbm import TrainEncoding
    from modelcycle.workspace._train import Progress, TrainOptions, TrainResult
    from modelcycle.workspace._workspace import Workspace

#: Share of the time the passes after the search leave (see :func:`search_seconds`)
#: that the search on the sample may use ...
SEARCH_SHARE = 0.35
#: ... at least this share of the time left after sampling.
MIN_SEARCH_SHARE = 0.1
#: The work over every row after the search (the summary pass; encoding the rows for the
#: fit and building its dataset; scoring the holdout and its report), in units of the
#: sampling pass's time, which reads every row once: measured 8 to 10 (10 and 31 million
#: rows, 4 and 10 workers on two cores; the summary alone is about 4.5) ...
PASSES_AFTER_SEARCH = 8.0
#: ... and of it, the holdout's scoring and report, kept out of the fit's time.
PASSES_FOR_HOLDOUT = 1.5
#: The cluster fit is estimated at this many times the search's per-row cost.
_SAFETY = 2.0
#: The cluster fit grows the search's rounds up to this many times when time allows;
#: the validation rows then choose where to stop (see ``_fit``).
MAX_GROWTH = 4
#: Share of the train rows kept out of the cluster fit to choose its rounds ...
VALIDATION_SHARE = 0.02
#: ... at least this many rows (at most a tenth of them) ...
VALIDATION_MIN_ROWS = 2_000
#: ... and at most this many.
VALIDATION_MAX_ROWS = 200_000
#: The highest learning rate a time-capped cluster fit is given (see ``_within_time``).
MAX_LEARNING_RATE = 0.3
#: The smallest share of the train rows a time-capped cluster fit draws for each round
#: (LightGBM's ``bagging_fraction``; see ``_within_time``) ...
MIN_BAGGING_FRACTION = 0.1
#: ... and the fewest rows it draws, whatever that share.
MIN_BAGGED_ROWS = 200_000


def train_on_cluster(
    ws: Workspace, data: Any, options: TrainOptions, progress: Progress | None
) -> TrainResult:
    """Run the training job on the cluster; see the module docstring."""
    from modelcycle.distributed import connect

    source = _source(data, options)
    address = ws.settings.dask_address
    if not address:
        raise ValidationError(
            "distributed_data (--distributed-data) trains on a Dask cluster; give its "
            "address with --cluster tcp://host:8786 (or MODELCYCLE_DASK_ADDRESS)"
        )
    client = connect(address)
    try:
        return _train(ws, client, source, options, progress)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def _source(data: Any, options: TrainOptions) -> str:
    if options.sql is not None or not isinstance(data, str | os.PathLike):
        raise ValidationError(
            "distributed_data (--distributed-data) reads a Parquet dataset: a folder, a glob "
            f"or an s3:// prefix of .parquet files; got {type(data).__name__} "
            f"{'with a SQL query' if options.sql else ''}".rstrip()
        )
    return os.fspath(data)


def _train(
    ws: Workspace,
    client: Client,
    source: str,
    options: TrainOptions,
    progress: Progress | None,
) -> TrainResult:
    from modelcycle.distributed._dataset import count_rows, read_dataset, sample, summarise
    from modelcycle.distributed._lightgbm import PreprocessingStatistics, WithValidation
    from modelcycle.workspace._train import (
        TrainResult,
        _search,
        _signature,
        task_and_schema,
        training_facts,
        training_run,
    )

    budget = Budget(options.budget)
    frame = read_dataset(source, options.target)
    rows = count_rows(client, frame, options.target, source)
    started = budget.elapsed()
    sampled = sample(
        client, frame, rows=options.sample_rows, train_rows=round(rows * (1 - options.test_size)),
        test_size=options.test_size, seed=options.seed,
    )  # fmt: skip
    pass_seconds = budget.elapsed() - started  # what reading every row once costs
    task, schema = task_and_schema(sampled, options, source)
    facts = training_facts(options, task, source)
    with training_run(ws, options) as run:
        left = budget.remaining()
        search_budget = budget.keep(max(left - search_seconds(left, pass_seconds), 0.0))
        lightgbm_only = _lightgbm_options(options)
        automl = _search(run, lightgbm_only, task, sampled, schema, search_budget, progress)
        inputs = sampled.drop(columns=[options.target])
        best = _best_lightgbm(automl)
        statistics = PreprocessingStatistics(
            automl.preprocessor_of(best)
            if best is not None
            else Preprocessor(
                schema=automl.schema_, encoding="native", random_state=options.seed
            ).fit(inputs),
            options.target,
            sample_target=sampled[options.target],
            seed=options.seed,
        )
        share = validation_share(round(rows * (1 - options.test_size)))
        summary = summarise(
            client, frame, automl.schema_, test_size=options.test_size, seed=options.seed,
            classify=task is not Task.REGRESSION,
            extra=WithValidation(statistics, share, options.seed),
        )  # fmt: skip
        classes = _classes(summary.classes, task, options.target)
        parts = [p for p in summary.extra if p is not None]
        encoding = statistics.fit([stats for stats, _, _ in parts], summary.train_rows)
        held = pd.concat([rows for _, rows, _ in parts], ignore_index=True)
        folds = np.concatenate([folds for _, _, folds in parts])
        pipeline, fitted = _fit(client, frame, encoding, automl, best, classes,
                                summary.train_rows, options, budget,
                                _Validation(share, held, folds), pass_seconds)  # fmt: skip
        report, holdout = _evaluate(
            client, frame, pipeline, automl, classes, options, source, summary
        )
        recorder = TrainingRecorder(run)
        recorder.inputs(
            facts, automl.schema_, summary.profile, {"train": summary.train, "test": summary.test},
            dataset_name=Path(source.rstrip("/")).name,
        )  # fmt: skip
        validation = Validation.of(automl.validation_.warnings)
        recorder.outputs(
            validation=validation,
            ensemble=False,
            leaderboard=automl.leaderboard_,
            evaluation=report,
            holdout=holdout,
        )
        run.log_metrics({f"test_{k}": v for k, v in report.metrics.items() if np.isfinite(v)})
        run.log_metrics(
            {"cluster_train_rows": summary.train_rows, "cluster_test_rows": summary.test_rows,
             "sample_rows": len(sampled), "cluster_partitions": frame.npartitions,
             "cluster_validation_rows": len(held), **fitted}
        )  # fmt: skip
        run.log_model(pipeline, signature=_signature(task, classes, automl.schema_, inputs))
    version = ws.registry.register(run.run_id, name=options.name) if options.name else None
    warnings = [issue.message for issue in validation.warnings]
    short = rounds_warning(fitted)
    return TrainResult(
        run.run_id, automl, report, version, warnings + ([short] if short else []), model=pipeline
    )


def rounds_warning(fitted: dict[str, float]) -> str | None:
    """The warning of a fit that had time for fewer than half its rounds: of those
    planned, or of the search's when more were planned (``None`` otherwise).

    >>> fitted = {"cluster_rounds_planned": 700, "cluster_rounds_searched": 735,
    ...           "cluster_rounds_trained": 56, "cluster_final_learning_rate": 0.3}
    >>> rounds_warning(fitted)[:60]
    'the cluster fit had time for 56 of the 700 rounds planned (a'
    >>> rounds_warning(fitted | {"cluster_rounds_trained": 350}) is None
    True
    """
    planned = min(fitted["cluster_rounds_planned"], fitted["cluster_rounds_searched"])
    if fitted["cluster_rounds_trained"] >= planned / 2:
        return None
    return (
        f"the cluster fit had time for {fitted['cluster_rounds_trained']:.0f} of the "
        f"{fitted['cluster_rounds_planned']:.0f} rounds planned (at a learning rate "
        f"raised to {fitted['cluster_final_learning_rate']:.3g}); a larger --budget "
        "gives a better model"
    )


def search_seconds(left: float, pass_seconds: float) -> float:
    """The search's time: :data:`SEARCH_SHARE` of what the passes over every row after
    it leave of ``left``, and at least :data:`MIN_SEARCH_SHARE` of ``left``.

    On data this large the passes (``pass_seconds`` each, :data:`PASSES_AFTER_SEARCH`
    of them) take much of the budget, and the fit on every row needs time for its
    rounds; a share of the whole budget would leave it none.

    Examples
    --------
    >>> search_seconds(220.0, 1.0)  # a pass costs little: 35% of what is left
    74.2
    >>> search_seconds(220.0, 16.5)  # 31 million rows on two cores
    30.8
    >>> search_seconds(220.0, 40.0)  # the passes need it all: the floor
    22.0
    """
    spare = max(left - PASSES_AFTER_SEARCH * pass_seconds, 0.0)
    return round(max(SEARCH_SHARE * spare, MIN_SEARCH_SHARE * max(left, 0.0)), 6)


def _lightgbm_options(options: TrainOptions) -> TrainOptions:
    from dataclasses import replace

    return replace(options, learners=("lightgbm",))


def _classes(counts: dict[Any, int], task: Task, target: str) -> list[Any] | None:
    """The train part's class labels, in the order a local training sorts them."""
    if task is Task.REGRESSION:
        return None
    labels = sorted(counts, key=lambda v: (str(type(v)), v))
    if len(labels) < 2:
        raise ValidationError(
            f"target {target!r} has {len(labels)} class(es) in the train rows ({labels}); "
            "expected at least two",
            details={"column": target},
        )
    return labels


def _best_lightgbm(automl: AutoML) -> TrialResult | None:
    """The search's best LightGBM trial: its parameters and its encoding are the fit's."""
    complete = [r for r in automl.results_ if r.complete and r.learner == "lightgbm"]
    return min(complete, key=lambda r: r.loss) if complete else None


def _rounds(
    trial: TrialResult | None, train_rows: int, threads: int, seconds: float
) -> tuple[int, int]:
    """The search's rounds (as its refit would use), and those capped by the time left."""
    if trial is None or not trial.iterations:
        return 100, 100
    folds = len(trial.iterations)
    wanted = max(10, int(np.mean(trial.iterations) * (1 + 1 / max(folds, 2))))
    mean_rounds = max(float(np.mean(trial.iterations)), 1.0)
    per_row_round = trial.fit_seconds / max(trial.fit_rows, 1) / mean_rounds
    per_round = _SAFETY * per_row_round * train_rows / max(threads, 1)
    if per_round > 0:
        return wanted, min(wanted, max(10, int(seconds / per_round)))
    return wanted, wanted


def _within_time(
    params: dict[str, Any], wanted: int, affordable: int, train_rows: int
) -> tuple[dict[str, Any], int]:
    """Parameters and rounds that fit the time of ``affordable`` rounds as the search ran them.

    A round's time goes with the rows it reads, so on data this large the search's
    rounds are kept and each draws fewer rows (LightGBM's ``bagging_fraction``, redrawn
    every round): stochastic gradient boosting loses little per round from a share of
    millions of rows, much less than fewer rounds would. The share goes down to
    :data:`MIN_BAGGING_FRACTION` of the rows (at least :data:`MIN_BAGGED_ROWS`); what
    still does not fit is fewer rounds with the learning rate raised in proportion
    (boosting's progress goes roughly with rounds times learning rate), to at most
    :data:`MAX_LEARNING_RATE`.

    Examples
    --------
    >>> _within_time({"learning_rate": 0.1}, 300, 300, 5_000_000)
    ({'learning_rate': 0.1}, 300)
    >>> params, rounds = _within_time({"learning_rate": 0.1}, 300, 100, 5_000_000)
    >>> rounds, round(params["bagging_fraction"], 3), params["bagging_freq"]
    (300, 0.333, 1)
    >>> params, rounds = _within_time({"learning_rate": 0.1}, 300, 10, 5_000_000)
    >>> rounds, params["bagging_fraction"], round(params["learning_rate"], 3)
    (100, 0.1, 0.3)
    """
    if affordable >= wanted:
        return params, wanted
    drawn = float(params.get("bagging_fraction", 1.0)) if params.get("bagging_freq") else 1.0
    floor = min(drawn, max(MIN_BAGGING_FRACTION, MIN_BAGGED_ROWS / max(train_rows, 1)))
    fraction = max(floor, drawn * affordable / wanted)
    # (a share of exactly affordable / wanted must give every wanted round: not one less
    # from the division rounding down)
    rounds = min(wanted, max(10, int(affordable * drawn / fraction + 1e-9)))
    if fraction < drawn:
        params = {**params, "bagging_fraction": fraction, "bagging_freq": 1}
    if rounds < wanted:
        rate = float(params.get("learning_rate", 0.1))
        params = {**params, "learning_rate": min(MAX_LEARNING_RATE, rate * wanted / rounds)}
    return params, rounds


def validation_share(train_rows: int) -> float:
    """Share of the train rows kept out of the cluster fit to choose its rounds.

    About :data:`VALIDATION_SHARE` of them, at least :data:`VALIDATION_MIN_ROWS` and at
    most :data:`VALIDATION_MAX_ROWS` rows, never more than a tenth.

    Examples
    --------
    >>> validation_share(30_000_000) * 30_000_000
    200000.0
    >>> validation_share(10_000)
    0.1
    """
    rows = min(VALIDATION_MAX_ROWS, max(VALIDATION_MIN_ROWS, VALIDATION_SHARE * train_rows))
    return min(0.1, rows / max(train_rows, 1))


@dataclass(frozen=True)
class _Validation:
    """The rows kept out of the cluster fit (``share`` of the train rows), raw, and their
    target-encoding folds (taken on their partitions).
    """

    share: float
    rows: pd.DataFrame
    folds: np.ndarray


def _fit(
    client: Client,
    frame: Any,
    encoding: TrainEncoding,
    automl: AutoML,
    best: TrialResult | None,
    classes: list[Any] | None,
    train_rows: int,
    options: TrainOptions,
    budget: Budget,
    validation: _Validation,
    pass_seconds: float,
) -> tuple[Any, dict[str, float]]:
    """The cluster fit: as many rounds as time allows (up to :data:`MAX_GROWTH` times the
    search's), then the first rounds with the lowest loss on the validation rows.

    The search chose its rounds by early stopping on a sample; the whole data supports
    more before they overfit, so the fit grows them when the time estimate allows and
    the validation slice says where to stop (the rounds after it are dropped). The
    rounds are planned from the search's timings, then paced on the cluster
    (:class:`~modelcycle.distributed._pace.Pace`): when the measured rounds are slower,
    the fit trains fewer at a raised learning rate and still ends by the deadline.
    Returns the pipeline and what the run records of the fit (rounds wanted, planned,
    trained and kept, the share of rows each round drew, the learning rates, the
    measured seconds per round).
    """
    import lightgbm as lgb

    from modelcycle.distributed._cluster import usable_cores
    from modelcycle.distributed._lightgbm import (
        best_rounds,
        encode_rows,
        fit_booster,
        lightgbm_params,
        pipeline_of,
    )
    from modelcycle.distributed._pace import Pace

    params = lightgbm_params(best.params if best else None, automl.task_)
    threads = usable_cores(client)  # not the threads: workers may share a machine's cores
    holdout = max(min(max(2.0, 0.12 * options.budget), 20.0), PASSES_FOR_HOLDOUT * pass_seconds)
    left = max(budget.remaining() - holdout, 1.0)
    fit_rows = max(1, train_rows - len(validation.rows))
    wanted, affordable = _rounds(best, fit_rows, threads, left)
    grown = min(affordable, MAX_GROWTH * wanted) if len(validation.rows) else wanted
    params, rounds = _within_time(params, max(wanted, grown), affordable, fit_rows)
    rate, planned = float(params.get("learning_rate", 0.1)), rounds
    pace = Pace(client, rounds, rate, left, max_rate=MAX_LEARNING_RATE)
    booster = fit_booster(
        client, frame, encoding, target=options.target, task=automl.task_, classes=classes,
        params=params, rounds=rounds, test_size=options.test_size, seed=options.seed,
        balanced=best is not None and best.class_weight == "balanced",
        validation=validation.share, pace=pace,
    )  # fmt: skip
    trained = booster.current_iteration()
    paced = pace.report(trained)
    # A rate raised mid-fit: the pipeline records the one that makes the same progress.
    params = {**params, "learning_rate": paced.mean_rate}
    rounds = trained
    if len(validation.rows):
        X, y = encode_rows(validation.rows, encoding, options.target, classes, validation.folds)
        kept = best_rounds(booster, X, y, automl.task_)
        if 0 < kept < rounds:
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=kept))
            rounds = kept
    facts = {
        "cluster_rounds_searched": float(wanted),
        "cluster_rounds_planned": float(planned),
        "cluster_rounds_trained": float(trained),
        "cluster_rounds": float(rounds),
        "cluster_bagging_fraction": float(params.get("bagging_fraction", 1.0))
        if params.get("bagging_freq")
        else 1.0,
        "cluster_learning_rate": rate,
        "cluster_final_learning_rate": paced.final_rate,
    }
    if paced.seconds_per_round is not None:
        facts["cluster_seconds_per_round"] = paced.seconds_per_round
    pipeline = pipeline_of(
        booster, encoding.preprocessor, task=automl.task_, classes=classes,
        params={**params, "num_iterations": rounds}, seed=options.seed,
    )  # fmt: skip
    return pipeline, facts


def _evaluate(
    client: Client,
    frame: Any,
    pipeline: Any,
    automl: AutoML,
    classes: list[Any] | None,
    options: TrainOptions,
    source: str,
    summary: Any,
) -> tuple[Any, Any]:
    from modelcycle.distributed._lightgbm import predict_holdout

    y, output = predict_holdout(
        client, frame, pipeline, target=options.target, test_size=options.test_size,
        seed=options.seed,
    )  # fmt: skip
    return evaluate_predictions(
        automl,
        y,
        output,
        classes,
        f"{options.name or options.target}: holdout evaluation (on the cluster)",
        {"source": source, "train_rows": summary.train_rows, "on": "a Dask cluster"},
    )
