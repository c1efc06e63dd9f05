"""Finding learners by name: the built-in families, in the order the trainer tries them.

XGBoost and CatBoost are built in but optional: their classes are always here (a saved
model names its family), their libraries are imported only to fit or load one.
"""

from __future__ import annotations

from modelcycle.core import NotFound, Task, ValidationError
from modelcycle.learners._base import Learner
from modelcycle.learners._catboost import CatBoostLearner
from modelcycle.learners._forest import ExtraTreesLearner, RandomForestLearner
from modelcycle.learners._lightgbm import LightGBMLearner
from modelcycle.learners._linear import LinearLearner
from modelcycle.learners._xgboost import XGBoostLearner

#: Built-in learners, most promising first (LightGBM is the first choice for tables).
BUILTIN_LEARNERS: tuple[type[Learner], ...] = (
    LightGBMLearner,
    XGBoostLearner,
    LinearLearner,
    ExtraTreesLearner,
    RandomForestLearner,
    CatBoostLearner,
)


def get_learner(name: str) -> type[Learner]:
    """Return the learner class registered under ``name``.

    Raises
    ------
    NotFound
        No built-in learner has that name.

    Examples
    --------
    >>> get_learner("lightgbm").__name__
    'LightGBMLearner'
    """
    for learner in BUILTIN_LEARNERS:
        if learner.name == name:
            return learner
    known = [learner.name for learner in BUILTIN_LEARNERS]
    raise NotFound(f"learner {name!r} is not known; expected one of {known}")


def available_learners(task: Task | str) -> list[str]:
    """Return the names of the installed learners that fit ``task``, most promising first.

    XGBoost and CatBoost are listed when their optional packages are installed
    (``pip install 'modelcycle[xgboost,catboost]'``).

    Examples
    --------
    >>> [n for n in available_learners("regression") if n not in ("xgboost", "catboost")]
    ['lightgbm', 'linear', 'extra_trees', 'random_forest']
    """
    try:
        checked = Task(task)
    except ValueError:
        raise ValidationError(
            f"task {task!r} is not known; expected one of {[t.value for t in Task]}"
        ) from None
    return [
        learner.name
        for learner in BUILTIN_LEARNERS
        if checked in learner.tasks and learner.installed()
    ]
