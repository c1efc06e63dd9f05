"""The learner contract: every learner must pass these checks on every task it supports.

Subclass :class:`LearnerContract` in a test module and provide a ``learner_class``
fixture (parametrize it to check several learners). Override the
``learner_params`` fixture to make fits faster (fewer trees or rounds); its values
are applied over every configuration the checks fit. The data are small real
tables bundled with scikit-learn: breast cancer (binary), wine (multiclass) and
diabetes (regression).

Examples
--------
>>> import pytest  # doctest: +SKIP
>>> class TestMyLearner(LearnerContract):
...     @pytest.fixture
...     def learner_class(self):
...         return MyLearner
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.model_selection import train_test_split

from modelcycle.core import IntegrityError, Task, ValidationError
from modelcycle.learners import Learner

_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")
_SEED = 0


@dataclass(frozen=True)
class LearnerData:
    """A train/test split of one bundled table, ready for a learner."""

    X_train: NDArray[np.float64]
    y_train: NDArray[Any]
    X_test: NDArray[np.float64]
    y_test: NDArray[Any]


def learner_data(task: Task, *, scale: bool = False) -> LearnerData:
    """Return the contract's table for ``task``, split 75/25 (stratified for classes)."""
    loaders = {
        Task.BINARY: load_breast_cancer,
        Task.MULTICLASS: load_wine,
        Task.REGRESSION: load_diabetes,
    }
    X, y = loaders[task](return_X_y=True)
    stratify = None if task is Task.REGRESSION else y
    X_train, X_test, y_train, y_test = train_test_split(
        np.asarray(X, dtype=np.float64), y, test_size=0.25, random_state=_SEED, stratify=stratify
    )
    if scale:
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        std[std == 0] = 1.0
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    return LearnerData(X_train, y_train, X_test, y_test)


def _softmax(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    result: NDArray[np.float64] = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


class LearnerContract:
    """Checks of fitting, predicting, tuning, persistence and reproducibility."""

    @pytest.fixture
    def learner_params(self) -> dict[str, Any]:
        """Parameters applied over every configuration fitted (override to speed up)."""
        return {}

    @pytest.fixture(params=list(Task), ids=[task.value for task in Task])
    def task(self, request: pytest.FixtureRequest, learner_class: type[Learner]) -> Task:
        """Each task; skipped for tasks the learner does not support."""
        task = Task(request.param)
        if task not in learner_class.tasks:
            pytest.skip(f"learner {learner_class.name!r} does not support {task.value}")
        return task

    @pytest.fixture
    def data(self, task: Task, learner_class: type[Learner]) -> LearnerData:
        """The task's table, standardised when the learner needs scaling."""
        return learner_data(task, scale=learner_class.needs_scaling)

    def _fit(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        params: dict[str, Any],
        **options: Any,
    ) -> Learner:
        learner = learner_class(task=task, params=params, random_state=_SEED, **options)
        return learner.fit(data.X_train, data.y_train)

    def test_class_attributes(self, learner_class: type[Learner]) -> None:
        assert isinstance(learner_class.name, str) and learner_class.name
        assert learner_class.encoding in ("native", "onehot")
        assert isinstance(learner_class.needs_scaling, bool)
        assert isinstance(learner_class.handles_missing, bool)
        assert learner_class.tasks and set(learner_class.tasks) <= set(Task)

    def test_constructor_only_stores_arguments(
        self, learner_class: type[Learner], task: Task
    ) -> None:
        params = {"any": "value"}  # not checked until fit
        learner = learner_class(task=task, params=params, random_state=3, n_jobs=1)
        assert learner.params is params and learner.random_state == 3
        assert not [name for name in vars(learner) if name.endswith("_")]
        copy = clone(learner)
        assert type(copy) is learner_class and copy.get_params() == learner.get_params()

    def test_fit_and_predict_shapes(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        learner = learner_class(task=task, params=learner_params, random_state=_SEED)
        assert learner.fit(data.X_train, data.y_train) is learner
        assert learner.n_features_in_ == data.X_train.shape[1]
        predicted = learner.predict(data.X_test)
        assert predicted.shape == (data.X_test.shape[0],)
        if task is Task.REGRESSION:
            assert predicted.dtype == np.float64 and learner.n_classes_ == 0
            with pytest.raises(ValidationError, match="predict_proba"):
                learner.predict_proba(data.X_test)
            return
        k = int(data.y_train.max()) + 1
        proba = learner.predict_proba(data.X_test)
        assert learner.n_classes_ == k and proba.shape == (data.X_test.shape[0], k)
        assert proba.dtype == np.float64 and (proba >= 0).all() and (proba <= 1).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)
        assert predicted.dtype == np.int64
        np.testing.assert_array_equal(predicted, proba.argmax(axis=1))

    def test_accepts_a_validation_set_and_a_time_limit(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        learner = learner_class(task=task, params=learner_params, random_state=_SEED)
        learner.fit(
            data.X_train,
            data.y_train,
            X_valid=data.X_test,
            y_valid=data.y_test,
            time_limit_s=600,
        )
        assert np.isfinite(learner.predict(data.X_test)).all()
        with pytest.raises(ValidationError, match="both or neither"):
            learner.fit(data.X_train, data.y_train, X_valid=data.X_test)

    def test_beats_the_baseline_on_a_holdout(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        learner = self._fit(learner_class, task, data, learner_params)
        predicted = learner.predict(data.X_test)
        if task is Task.REGRESSION:
            residual = np.mean((data.y_test - predicted) ** 2)
            baseline = np.mean((data.y_test - data.y_train.mean()) ** 2)
            assert 1 - residual / baseline > 0.1  # R² above the 0 of predicting the mean
            return
        majority = np.mean(data.y_test == np.bincount(data.y_train).argmax())
        assert np.mean(predicted == data.y_test) > majority + 0.1

    def test_save_and_load_predict_identically_from_safe_files(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
        tmp_path: Path,
    ) -> None:
        learner = self._fit(learner_class, task, data, learner_params)
        files = learner.save(tmp_path / "model")
        assert sorted(p.name for p in (tmp_path / "model").iterdir()) == files
        assert "learner.json" in files
        for name in files:
            assert not name.endswith(_PICKLE_SUFFIXES), name
            assert (tmp_path / "model" / name).read_bytes()[:1] != b"\x80", f"{name} is a pickle"
        json.loads((tmp_path / "model" / "learner.json").read_text())
        for loader in (learner_class, Learner):
            loaded = loader.load(tmp_path / "model")
            assert type(loaded) is learner_class
            assert loaded.n_features_in_ == learner.n_features_in_
            assert np.array_equal(loaded.predict(data.X_test), learner.predict(data.X_test))
            if task is not Task.REGRESSION:
                assert np.array_equal(
                    loaded.predict_proba(data.X_test), learner.predict_proba(data.X_test)
                )

    def test_load_refuses_a_modified_file(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
        tmp_path: Path,
    ) -> None:
        files = self._fit(learner_class, task, data, learner_params).save(tmp_path)
        model_file = tmp_path / next(name for name in files if name != "learner.json")
        model_file.write_bytes(model_file.read_bytes() + b" ")
        with pytest.raises(IntegrityError, match="was modified"):
            learner_class.load(tmp_path)

    def test_same_seed_gives_identical_predictions(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        first = self._fit(learner_class, task, data, learner_params)
        second = self._fit(learner_class, task, data, learner_params)
        assert np.array_equal(first.predict(data.X_test), second.predict(data.X_test))
        if task is not Task.REGRESSION:
            assert np.array_equal(
                first.predict_proba(data.X_test), second.predict_proba(data.X_test)
            )

    def test_search_space_draws_params_that_fit(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=_SEED))
        for _ in range(2):
            trial = study.ask()
            drawn = learner_class.search_space(trial, task)
            assert drawn and all(isinstance(key, str) for key in drawn)
            replayed = learner_class.search_space(optuna.trial.FixedTrial(trial.params), task)
            assert replayed == drawn
            learner = self._fit(learner_class, task, data, {**drawn, **learner_params})
            assert np.isfinite(learner.predict(data.X_test)).all()
            study.tell(trial, 0.0)

    def test_portfolio_configs_fit(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        n_rows, n_features = data.X_train.shape
        configs = learner_class.portfolio(task, n_rows, n_features)
        assert 1 <= len(configs) <= 10
        for config in configs:
            learner = self._fit(learner_class, task, data, {**config, **learner_params})
            assert np.isfinite(learner.predict(data.X_test)).all()
        large = learner_class.portfolio(task, 5_000_000, 2_000)
        assert large and all(json.loads(json.dumps(c)) == c for c in large)

    def test_missing_values(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        X = data.X_train.copy()
        X[::7, 0] = np.nan
        learner = learner_class(task=task, params=learner_params, random_state=_SEED)
        if not learner_class.handles_missing:
            with pytest.raises(ValidationError, match="NaN"):
                learner.fit(X, data.y_train)
            return
        learner.fit(X, data.y_train)
        rows = data.X_test.copy()
        rows[:, 0] = np.nan
        assert np.isfinite(learner.predict(rows)).all()

    def test_bad_inputs_are_refused(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        learner = learner_class(task=task, params=learner_params, random_state=_SEED)
        with pytest.raises(ValidationError, match="not fitted"):
            learner.predict(data.X_test)
        with pytest.raises(ValidationError, match="one value per row"):
            learner.fit(data.X_train, data.y_train[:-1])
        with pytest.raises(ValidationError, match="infinite"):
            learner.fit(np.full_like(data.X_train, np.inf), data.y_train)
        if task is not Task.REGRESSION:
            with pytest.raises(ValidationError, match="class codes"):
                learner.fit(data.X_train, data.y_train - 0.5)
        learner.fit(data.X_train, data.y_train)
        with pytest.raises(ValidationError, match="features"):
            learner.predict(data.X_test[:, 1:])
        unknown = learner_class(task=task, params={"no_such_param_xyz": 1})
        with pytest.raises(ValidationError, match="no_such_param_xyz"):
            unknown.fit(data.X_train, data.y_train)

    def test_contributions_sum_to_the_raw_prediction(
        self,
        learner_class: type[Learner],
        task: Task,
        data: LearnerData,
        learner_params: dict[str, Any],
    ) -> None:
        learner = self._fit(learner_class, task, data, learner_params)
        try:
            contributions = learner.contributions(data.X_test)
        except NotImplementedError:
            pytest.skip(f"learner {learner_class.name!r} documents no contributions")
        n, f = data.X_test.shape
        raw = contributions.sum(axis=-1)
        if task is Task.REGRESSION:
            assert contributions.shape == (n, f + 1)
            np.testing.assert_allclose(raw, learner.predict(data.X_test), rtol=1e-9, atol=1e-9)
        elif task is Task.BINARY:
            assert contributions.shape == (n, f + 1)
            positive = learner.predict_proba(data.X_test)[:, 1]
            np.testing.assert_allclose(1 / (1 + np.exp(-raw)), positive, rtol=1e-7, atol=1e-9)
        else:
            assert contributions.shape == (n, learner.n_classes_, f + 1)
            proba = learner.predict_proba(data.X_test)
            np.testing.assert_allclose(_softmax(raw), proba, rtol=1e-7, atol=1e-9)
