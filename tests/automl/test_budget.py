"""The budget is hard and many-valued categoricals are encoded by validation (issue 15).

No timings: time is a fake clock where a test needs it, or a ``time_left`` of nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelcycle.automl import AutoML, Budget, SearchMetric, TrialResult, plan_folds
from modelcycle.automl._executor import LocalExecutor, TrialContext, TrialJob, execute_trial
from modelcycle.automl._search import ENCODINGS, Search, SearchSpace
from modelcycle.automl._trial import Matrix, run_trial
from modelcycle.core import Task, ValidationError
from modelcycle.packaging import ModelPipeline


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _binary(n_rows: int = 300) -> tuple[Matrix, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, 3))
    return Matrix(X, ()), (X[:, 0] > 0).astype(np.int64)


def _trial(params: dict[str, object] | None = None) -> TrialResult:
    return TrialResult(0, "lightgbm", params or {"num_iterations": 20}, "portfolio")


def _run(**options: object) -> TrialResult:
    matrix, y = _binary()
    return run_trial(
        _trial(),
        matrix=matrix,
        y=y,
        folds=plan_folds(y, Task.BINARY, 0),
        task=Task.BINARY,
        metric=SearchMetric.for_task(Task.BINARY),
        random_state=0,
        n_jobs=1,
        deadline=lambda fold: 60.0,
        **options,  # type: ignore[arg-type]
    )


def test_a_trial_whose_first_fold_says_the_rest_will_not_fit_stops() -> None:
    result = _run(time_left=lambda: 0.0)
    assert result.status == "TIMEOUT" and not result.complete
    assert len(result.fold_values) == 1 and result.fit_rows == 240


def test_trials_measure_fit_and_prediction_per_row() -> None:
    result = _run()
    assert result.complete and result.fit_rows == 4 * 300 and result.predict_rows == 300
    assert result.fit_seconds > 0 and result.predict_seconds > 0 and result.metric_seconds > 0
    assert result.fit_estimate(2_400) == pytest.approx(result.fit_seconds * 2, rel=1e-12)


def _search(budget: Budget, encodings: tuple[str, ...] = ("native",)) -> Search:
    matrix, y = _binary()
    space = SearchSpace(
        Task.BINARY,
        SearchMetric.for_task(Task.BINARY),
        ["lightgbm", "linear"],
        plan_folds(y, Task.BINARY, 0),
        imbalanced=False,
        random_state=0,
        n_jobs=1,
        encodings=encodings,
    )
    return Search(space, lambda learner, encoding: matrix, y, budget)


def _measured(fit_seconds: float) -> TrialResult:
    result = _trial()
    result.oof, result.loss = np.zeros((300, 2)), -0.9
    result.fit_seconds, result.fit_rows = fit_seconds, 1_200
    result.predict_seconds, result.predict_rows = 0.0, 300
    result.iterations = [20] * 5
    return result


def test_the_search_keeps_time_for_the_refit_it_measured() -> None:
    clock = FakeClock()
    search = _search(Budget(60, clock=clock))
    bare = search.reserve()
    search.results.append(_measured(fit_seconds=4.0))
    fast = search.reserve()
    search.results[0] = _measured(fit_seconds=8.0)
    slow = search.reserve()
    # A refit on all 300 rows: a quarter of the 1,200 fold rows, 20% more rounds.
    assert slow - bare == pytest.approx(2 * (fast - bare)) and fast > bare
    clock.now = 60.0 - slow  # exactly the reserve left: the search is done
    assert search.search_left() == pytest.approx(0.0, abs=1e-9)


def test_holdout_trials_reserve_one_refit_and_cross_validated_trials_each_theirs() -> None:
    """A holdout trial keeps its own model when its refit does not fit: only one is kept."""
    search = _search(Budget(60, clock=FakeClock()))
    bare = search.reserve()
    search.results.append(_measured(fit_seconds=4.0))
    one = search.reserve() - bare
    search.results += [_measured(fit_seconds=4.0), _measured(fit_seconds=4.0)]
    assert search.reserve() - bare == pytest.approx(3 * one)  # three to refit
    for result in search.results:
        result.model = object()  # type: ignore[assignment]  # trained on the holdout split
    assert search.reserve() - bare == pytest.approx(one)  # the best is refitted, not all


def test_once_the_reserve_is_reached_no_trial_starts() -> None:
    clock = FakeClock()
    search = _search(Budget(10, clock=clock), encodings=ENCODINGS)
    clock.now = 10.0
    assert search.run() == []


def test_the_portfolio_tries_every_encoding_with_the_first_configuration() -> None:
    search = _search(Budget(10), encodings=ENCODINGS)
    planned = [(learner, encoding) for learner, _, _, encoding in search._portfolio()]
    assert planned[: len(ENCODINGS)] == [("lightgbm", e) for e in ENCODINGS]
    linear = [encoding for learner, encoding in planned if learner == "linear"]
    assert linear[:4] == ["target", "native", "count", "drop"]


def test_learners_without_native_codes_skip_the_fine_encoding() -> None:
    space = _search(Budget(10), encodings=ENCODINGS).space
    assert space.encodings_for("lightgbm") == ENCODINGS
    assert "fine" not in space.encodings_for("linear")


def test_many_valued_columns_are_encoded_by_validation_and_saved(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    effect = rng.normal(size=60)
    shop = rng.integers(0, 60, 1_200)
    frame = pd.DataFrame({"shop": [f"s{v}" for v in shop], "size": rng.choice(list("SML"), 1_200)})
    frame["x"] = rng.normal(size=1_200)
    frame["y"] = effect[shop] + 0.5 * frame["x"] + rng.normal(scale=0.3, size=1_200)
    model = AutoML(budget=8, learners=["lightgbm"], random_state=0).fit(frame, "y")
    assert model.many_valued_ == ["shop"]
    first = [r.encoding for r in model.results_[: len(ENCODINGS)]]
    assert first == list(ENCODINGS[: len(first)])  # as many as the machine's speed allowed
    assert set(model.leaderboard_frame()["encoding"]) <= set(ENCODINGS)
    model.pipeline_.save(tmp_path / "pipeline")
    loaded = ModelPipeline.load(tmp_path / "pipeline")
    rows = frame.drop(columns="y").head(50)
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))


def test_no_many_valued_columns_means_one_encoding() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"size": rng.choice(list("SML"), 300), "x": rng.normal(size=300)})
    frame["y"] = frame["x"] + (frame["size"] == "L")
    model = AutoML(budget=3, learners=["lightgbm"], ensemble=False).fit(frame, "y")
    assert model.many_valued_ == [] and {r.encoding for r in model.results_} == {"native"}


def test_a_refit_out_of_time_keeps_the_heaviest_member_alone() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    frame["y"] = (frame["x"] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = AutoML(budget=4, learners=["lightgbm"], ensemble=False).fit(frame, "y")
    X = model.preprocessors_["native"].transform(frame.drop(columns="y"))
    heavy, light = _measured(fit_seconds=50.0), _measured(fit_seconds=40.0)
    heavy.params = {"num_iterations": 20, "num_leaves": 7}
    clock = FakeClock()
    spent = Budget(10, clock=clock)
    clock.now = 9.9  # 0.1 s left: no time for a second member
    pipeline = model._refit(
        [(light, 0.4), (heavy, 0.6)],
        lambda learner, encoding: Matrix(X, ()),
        frame["y"].to_numpy(),
        spent,
    )
    (member,) = pipeline.members
    assert member.weight == 1.0 and member.learner.params_["num_leaves"] == 7
    assert pipeline.predict_proba(frame.drop(columns="y").head(3)).shape == (3, 2)


def test_a_holdout_trial_out_of_time_keeps_its_own_model() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    frame["y"] = (frame["x"] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = AutoML(budget=4, learners=["lightgbm"], ensemble=False).fit(frame, "y")
    holdout = _measured(fit_seconds=50.0)
    holdout.model = model.pipeline_.members[0].learner
    clock = FakeClock()
    spent = Budget(10, clock=clock)
    clock.now = 9.9
    X = model.preprocessors_["native"].transform(frame.drop(columns="y"))
    pipeline = model._refit(
        [(holdout, 1.0)], lambda learner, encoding: Matrix(X, ()), frame["y"].to_numpy(), spent
    )
    assert pipeline.members[0].learner is holdout.model


def test_the_heaviest_holdout_member_gets_the_refit_and_the_others_keep_theirs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Time for one refit (what the search reserved): the heaviest member is refitted on
    all rows, the others keep the models they trained on the holdout split."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    frame["y"] = (frame["x"] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = AutoML(budget=4, learners=["lightgbm"], ensemble=False).fit(frame, "y")
    members = []
    for weight in (0.5, 0.3, 0.2):
        trial = _measured(fit_seconds=10.0)  # a refit on 400 rows: 10 / 3 x 1.2 x 1.3 s
        trial.model = model.pipeline_.members[0].learner
        members.append((trial, weight))
    clock = FakeClock()
    refit_one = AutoML._refit_one

    def taking_its_time(self: AutoML, *args: Any, **kwargs: Any) -> Any:
        clock.now += 6.0  # the refit takes about its estimate (5.2 s)
        return refit_one(self, *args, **kwargs)

    monkeypatch.setattr(AutoML, "_refit_one", taking_its_time)
    X = model.preprocessors_["native"].transform(frame.drop(columns="y"))
    pipeline = model._refit(
        members,
        lambda learner, encoding: Matrix(X, ()),
        frame["y"].to_numpy(),
        Budget(10, clock=clock),
    )
    learners = [member.learner for member in pipeline.members]
    assert len(learners) == 3 and clock.now == 6.0  # one refit, no member left out
    assert learners[0] is not model.pipeline_.members[0].learner
    assert learners[1] is learners[2] is model.pipeline_.members[0].learner


def _sent(ends_at: float | None) -> TrialResult:
    """A trial run away from the search's clock, sent with 60 s left and ``ends_at``."""
    matrix, y = _binary()
    context = TrialContext(
        y=y,
        folds=plan_folds(y, Task.BINARY, 0),
        task=Task.BINARY,
        metric=SearchMetric.for_task(Task.BINARY),
        random_state=0,
        n_jobs=1,
    )
    return execute_trial(TrialJob(_trial(), seconds_left=60.0, ends_at=ends_at), matrix, context)


def test_a_trial_that_arrives_after_the_search_ended_stops_after_one_fold() -> None:
    # It waited in a cluster's queue past the search's end: its 60 s no longer count.
    late = _sent(ends_at=time.time() - 1.0)
    assert late.status == "TIMEOUT" and len(late.fold_values) == 1
    on_time = _sent(ends_at=time.time() + 60.0)
    assert on_time.status == "COMPLETE" and on_time.complete


def test_when_every_trial_is_stopped_for_time_the_best_scored_folds_still_give_a_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy machine or a tight budget: each trial's first fold says the rest will not
    fit, so none finishes; the best of the scored folds is refitted instead of nothing."""
    submit = LocalExecutor.submit

    def out_of_time(self: LocalExecutor, job: TrialJob, *args: Any) -> TrialResult:
        return submit(self, job, *args[:-1], lambda: 0.0)  # the search's clock says: none left

    monkeypatch.setattr(LocalExecutor, "submit", out_of_time)
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    frame["y"] = (frame["x"] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = AutoML(budget=3, learners=["lightgbm", "linear"]).fit(frame, "y")
    assert model.results_ and all(r.status == "TIMEOUT" for r in model.results_)
    scored = [r for r in model.results_ if r.fold_values]
    best = max(scored, key=lambda r: float(np.mean(r.fold_values)))  # roc_auc: higher
    assert model.best_value_ == pytest.approx(float(np.mean(best.fold_values)))
    assert model.ensemble_ is False
    assert model.predict_proba(frame.drop(columns="y").head(5)).shape == (5, 2)


def test_when_no_fold_was_scored_the_error_says_to_give_more_time() -> None:
    model = AutoML(budget=3, learners=["lightgbm"])
    model.metric_ = SearchMetric.for_task(Task.BINARY)
    model.results_ = [TrialResult(0, "lightgbm", {}, "portfolio", status="FAILED", error="x")]
    with pytest.raises(ValidationError, match=r"\(x\); give training more time \(--budget\)"):
        model._best_partial()
