"""The learner contract: what every model adapter the AutoML trainer drives provides.

A learner wraps one model family (LightGBM, a linear model, a forest) behind one
interface: fit on the float64 matrix made by :mod:`modelcycle.features`, predict
class codes, probabilities or values, declare its Optuna search space and a small
portfolio of known-good configurations, and save to / load from a folder of safe
files (never pickle). :class:`Learner` implements the checks and the save/load
framing once; an implementation fills in the ``_fit``, ``_predict_*`` and
``_save_state`` / ``_load_state`` hooks.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, cast

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

from modelcycle.core import NotFound, Task, ValidationError
from modelcycle.learners import _checks
from modelcycle.learners._files import read_meta, require, write_meta

if TYPE_CHECKING:  # search spaces are drawn while training; a server loads none
    import optuna

#: A validation set after checking: (X_valid, y_valid).
ValidationSet = tuple[NDArray[np.float64], NDArray[Any]]


class Learner(BaseEstimator, ABC):  # type: ignore[misc]
    """A model family behind the interface the AutoML trainer uses.

    Parameters
    ----------
    task : Task
        What is predicted: ``binary``, ``multiclass`` or ``regression``.
    params : dict or None
        Hyperparameters (JSON-ready values) over :meth:`default_params`, e.g. one
        drawn from :meth:`search_space` or :meth:`portfolio`.
    random_state : int or None
        Seed of every random choice made while fitting (the only randomness).
    class_weight : {"balanced", None}
        Weigh classes inversely to their frequency (classification only).
    n_jobs : int
        Threads used to fit, for the library and for BLAS / OpenMP (``-1``: all cores).

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen by :meth:`fit`.
    n_classes_ : int
        Number of classes (``k`` of the codes ``0..k-1``); 0 for regression.
    categorical_features_ : list of int
        Indices of natively handled categorical features.
    params_ : dict
        The parameters used: :meth:`default_params` updated with ``params``.
    n_iterations_ : int or None
        Boosting rounds, trees or solver iterations done, where the family has them.
    best_iteration_ : int or None
        Number of boosting rounds kept after early stopping (boosting only).

    Notes
    -----
    Class attributes tell the trainer how to feed a learner: ``encoding`` is the
    categorical encoding it wants from the preprocessing (``"native"``: one integer
    code column, NaN when missing; ``"onehot"``), ``needs_scaling`` whether numeric
    features should be standardised, and ``handles_missing`` whether ``X`` may hold
    NaN (otherwise ``fit`` and ``predict`` raise ``ValidationError`` on NaN).
    """

    #: Stable name used by the registry and stored in the saved form.
    name: ClassVar[str]
    #: Categorical encoding the learner wants from the preprocessing.
    encoding: ClassVar[Literal["native", "onehot"]]
    #: Whether numeric features should be standardised for this learner.
    needs_scaling: ClassVar[bool]
    #: Whether ``X`` may contain NaN for missing values.
    handles_missing: ClassVar[bool]
    #: Tasks the learner can fit.
    tasks: ClassVar[frozenset[Task]] = frozenset(Task)
    #: Names accepted in ``params``; ``None`` accepts any (passed to the library).
    param_names: ClassVar[frozenset[str] | None] = None
    #: The optional package the family needs (imported when fitting or loading), and the
    #: extra of modelcycle that installs it; ``None`` for the core learners.
    library: ClassVar[str | None] = None
    extra: ClassVar[str | None] = None
    #: When the AutoML search tries the family if not told which learners to use:
    #: ``"always"``, only on tables with many-valued categorical columns
    #: (``"many_valued"``), or ``"never"`` (only when named). Set by the benchmark.
    default_search: ClassVar[Literal["always", "many_valued", "never"]] = "always"

    def __init__(
        self,
        *,
        task: Task,
        params: dict[str, Any] | None = None,
        random_state: int | None = None,
        class_weight: Literal["balanced"] | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.task = task
        self.params = params
        self.random_state = random_state
        self.class_weight = class_weight
        self.n_jobs = n_jobs

    # -- the family's own parts ------------------------------------------------------

    @classmethod
    @abstractmethod
    def default_params(cls, task: Task) -> dict[str, Any]:
        """Return the parameters used where ``params`` does not say otherwise."""

    @classmethod
    @abstractmethod
    def search_space(cls, trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
        """Draw one set of ``params`` from the family's search space with ``trial.suggest_*``.

        Replaying the drawn values with ``optuna.trial.FixedTrial(trial.params)``
        returns the same dict.
        """

    @classmethod
    def installed(cls) -> bool:
        """Whether the family's library can be imported (always, for the core learners)."""
        return cls.library is None or importlib.util.find_spec(cls.library) is not None

    @classmethod
    def refit_params(cls, params: dict[str, Any], rounds: int) -> dict[str, Any]:
        """``params`` for a refit on all rows with ``rounds`` boosting rounds and no early
        stopping (what validation folds stopped at); unchanged for families without rounds.
        """
        return params

    @classmethod
    def categorical_space(cls, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Draw the family's handling of native categorical features (none by default).

        Asked only when the matrix has native categorical columns.
        """
        return {}

    @classmethod
    @abstractmethod
    def portfolio(cls, task: Task, n_rows: int, n_features: int) -> list[dict[str, Any]]:
        """Return a few known-good ``params`` to try first, suited to the data's size."""

    @abstractmethod
    def _fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[Any],
        valid: ValidationSet | None,
        deadline: float | None,
    ) -> None:
        """Fit on checked inputs; ``deadline`` is a ``time.monotonic()`` value or ``None``."""

    @abstractmethod
    def _predict_values(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Regression predictions for checked rows."""

    @abstractmethod
    def _predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities ``(n, n_classes_)`` for checked rows."""

    @abstractmethod
    def _save_state(self, folder: Path) -> tuple[list[str], dict[str, Any]]:
        """Write the model's files; return their names and extra JSON metadata."""

    @abstractmethod
    def _load_state(self, folder: Path, meta: dict[str, Any]) -> None:
        """Restore the fitted state from verified files and the metadata."""

    # -- the public interface --------------------------------------------------------

    def fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[Any],
        *,
        X_valid: NDArray[np.float64] | None = None,
        y_valid: NDArray[Any] | None = None,
        categorical_features: Sequence[int] = (),
        time_limit_s: float | None = None,
    ) -> Self:
        """Fit on ``X`` (float64, NaN for missing) and ``y`` (class codes or values).

        Parameters
        ----------
        X : ndarray of shape (n, f)
            Features as made by :mod:`modelcycle.features`.
        y : ndarray of shape (n,)
            Class codes ``0..k-1`` for classification, values for regression.
        X_valid, y_valid : ndarray or None
            A validation set for early stopping (used by boosting; ignored otherwise).
        categorical_features : sequence of int
            Columns holding integer category codes (native handling where supported).
        time_limit_s : float or None
            Stop adding rounds or trees once this many seconds have passed (a model
            stopped by time depends on the machine's speed, so is not reproducible).

        Returns
        -------
        Learner
            ``self``, fitted.
        """
        start = time.monotonic()
        self.__dict__.pop("n_features_in_", None)  # a failed refit leaves no stale model
        task = _checks.check_task(self.task, self.name, self.tasks)
        matrix = _checks.check_matrix(X, "X", self.name, allow_nan=self.handles_missing)
        target, n_classes = _checks.check_target(y, task, matrix.shape[0], self.name)
        valid = self._check_validation(X_valid, y_valid, task, matrix.shape[1], n_classes)
        categorical = _checks.check_categorical(categorical_features, matrix.shape[1], self.name)
        limit = self._check_settings(task, time_limit_s)
        self.n_classes_ = n_classes
        self.categorical_features_ = categorical
        self.n_iterations_: int | None = None
        self.best_iteration_: int | None = None
        # BLAS and OpenMP pools otherwise start a thread per core, which both breaks the
        # n_jobs promise to a trainer running trials in parallel and slows small fits.
        with threadpool_limits(limits=None if self.n_jobs == -1 else self.n_jobs):
            self._fit(matrix, target, valid, None if limit is None else start + limit)
        self.n_features_in_ = matrix.shape[1]
        return self

    def _check_validation(
        self, X_valid: Any, y_valid: Any, task: Task, n_features: int, n_classes: int
    ) -> ValidationSet | None:
        valid = _checks.check_validation(
            X_valid,
            y_valid,
            task=task,
            n_features=n_features,
            n_classes=n_classes,
            learner=self.name,
        )
        if valid is not None and not self.handles_missing:
            _checks.check_matrix(valid[0], "X_valid", self.name, allow_nan=False)
        return valid

    def _check_settings(self, task: Task, time_limit_s: Any) -> float | None:
        _checks.check_class_weight(self.class_weight, task, self.name)
        seed = self.random_state
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise ValidationError(
                f"learner {self.name!r} got random_state {seed!r}; expected an int or None"
            )
        jobs = self.n_jobs
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not (jobs >= 1 or jobs == -1):
            raise ValidationError(
                f"learner {self.name!r} got n_jobs {jobs!r}; expected a positive int or -1"
            )
        given = _checks.check_params(self.params, self.name, self.param_names)
        self.params_ = {**self.default_params(task), **given}
        return _checks.check_time_limit(time_limit_s, self.name)

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        """Return class codes (int64, the most probable class) or values (float64)."""
        matrix = self._check_rows(X)
        if Task(self.task) is Task.REGRESSION:
            return self._predict_values(matrix)
        codes: NDArray[np.int64] = np.argmax(self._predict_proba(matrix), axis=1).astype(np.int64)
        return codes

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return class probabilities of shape ``(n, n_classes_)``; rows sum to 1.

        A binary task gives two columns: the probabilities of class 0 and class 1.
        """
        matrix = self._check_rows(X)
        if Task(self.task) is Task.REGRESSION:
            raise ValidationError(
                f"learner {self.name!r} predicts a regression target; "
                "predict_proba needs a classification task, use predict"
            )
        return self._predict_proba(matrix)

    def contributions(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-feature contributions to the raw prediction, plus a bias column last.

        Shape ``(n, f + 1)`` for regression and binary (log-odds of class 1), and
        ``(n, n_classes_, f + 1)`` for multiclass (per-class raw scores). Each row
        sums to the raw prediction.

        Raises
        ------
        NotImplementedError
            The family has no exact contributions; use the explanations of
            :mod:`modelcycle.evaluation` instead.
        """
        raise NotImplementedError(
            f"learner {self.name!r} has no exact per-feature contributions; "
            "use the model-agnostic explanations of modelcycle.evaluation"
        )

    def _check_rows(self, X: Any) -> NDArray[np.float64]:
        self._require_fitted()
        return _checks.check_matrix(
            X, "X", self.name, allow_nan=self.handles_missing, n_features=self.n_features_in_
        )

    def _require_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise ValidationError(f"learner {self.name!r} is not fitted; call fit(X, y) first")

    # -- persistence -----------------------------------------------------------------

    def save(self, folder: str | Path) -> list[str]:
        """Write the fitted learner to ``folder`` as safe files (text, JSON, skops).

        Returns
        -------
        list of str
            Names of the files written, relative to ``folder``, including
            ``learner.json`` which records the SHA-256 of every other file.
        """
        self._require_fitted()
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        files, extra = self._save_state(path)
        write_meta(path, {**self._common_meta(), **extra}, files)
        return sorted([*files, "learner.json"])

    def _common_meta(self) -> dict[str, Any]:
        return {
            "learner": self.name,
            "task": Task(self.task).value,
            "params": self.params,
            "params_used": self.params_,
            "random_state": None if self.random_state is None else int(self.random_state),
            "class_weight": self.class_weight,
            "n_jobs": self.n_jobs,
            "n_features": self.n_features_in_,
            "n_classes": self.n_classes_,
            "categorical_features": self.categorical_features_,
            "n_iterations": self.n_iterations_,
            "best_iteration": self.best_iteration_,
        }

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        """Load a learner written by :meth:`save`, after checking every file's SHA-256.

        Called on :class:`Learner` itself, the learner class is chosen by the name
        stored in ``learner.json``; called on an implementation, the stored name
        must be that implementation's.

        Raises
        ------
        NotFound
            ``folder`` holds no saved learner.
        IntegrityError
            A file was changed after saving, or holds types outside the allow-list.
        ValidationError
            The folder was saved by another learner or is malformed.
        """
        path = Path(folder)
        meta = read_meta(path)
        target = _learner_class(cls, str(require(meta, "learner", path)))
        learner = target(
            task=_checks.check_task(require(meta, "task", path), target.name, target.tasks),
            params=meta.get("params"),
            random_state=meta.get("random_state"),
            class_weight=meta.get("class_weight"),
            n_jobs=int(meta.get("n_jobs", 1)),
        )
        learner._restore_common(path, meta)
        learner._load_state(path, meta)
        return cast(Self, learner)

    def _restore_common(self, folder: Path, meta: dict[str, Any]) -> None:
        self.params_ = dict(require(meta, "params_used", folder))
        self.n_features_in_ = int(require(meta, "n_features", folder))
        self.n_classes_ = int(require(meta, "n_classes", folder))
        self.categorical_features_ = [int(i) for i in meta.get("categorical_features", [])]
        self.n_iterations_ = meta.get("n_iterations")
        self.best_iteration_ = meta.get("best_iteration")


def import_library(learner: Learner | type[Learner]) -> Any:
    """Import the optional library of ``learner``'s family, or say how to install it.

    Raises
    ------
    NotFound
        The library is not installed.
    """
    library = learner.library
    if library is None:
        raise TypeError(f"learner {learner.name!r} needs no optional library")
    try:
        return importlib.import_module(library)
    except ImportError:
        raise NotFound(
            f"learner {learner.name!r} needs the {library!r} package, which is not installed; "
            f"install it with pip install 'modelcycle[{learner.extra or library}]'"
        ) from None


def _learner_class(cls: type[Learner], stored: str) -> type[Learner]:
    """The class to load a learner saved under the name ``stored`` with."""
    own = getattr(cls, "name", None)
    if own is not None:
        if own != stored:
            raise ValidationError(
                f"the folder holds a {stored!r} learner, not {own!r}; "
                f"load it with Learner.load or the {stored!r} learner class"
            )
        return cls
    for candidate in _concrete_subclasses(cls):
        if candidate.name == stored:
            return candidate
    raise ValidationError(f"the folder holds a learner {stored!r} that is not known")


def _concrete_subclasses(cls: type[Learner]) -> list[type[Learner]]:
    found: list[type[Learner]] = []
    for sub in cls.__subclasses__():
        if getattr(sub, "name", None) is not None and not getattr(sub, "__abstractmethods__", None):
            found.append(sub)
        found.extend(_concrete_subclasses(sub))
    return found
