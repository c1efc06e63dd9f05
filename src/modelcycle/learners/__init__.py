"""Layer 2: learner adapters with search spaces, portfolios and safe save/load.

Every learner follows :class:`Learner`: fit on the float64 matrix made by
:mod:`modelcycle.features`, predict class codes, probabilities or values, declare
an Optuna search space and a portfolio of starting configurations, and save to a
folder of safe files (LightGBM model text, XGBoost JSON, CatBoost ``.cbm``, JSON,
skops) whose SHA-256 are checked on load. XGBoost and CatBoost are optional: their
libraries are imported only to fit or load such a learner.

Examples
--------
>>> import numpy as np
>>> from modelcycle.core import Task
>>> from modelcycle.learners import Learner, get_learner
>>> rng = np.random.default_rng(0)
>>> X, y = rng.normal(size=(100, 4)), rng.normal(size=100)
>>> learner = get_learner("linear")(task=Task.REGRESSION).fit(X, y)
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     files = learner.save(folder)
...     same = np.array_equal(Learner.load(folder).predict(X), learner.predict(X))
>>> files, same
(['learner.json', 'linear.json'], True)
"""

from __future__ import annotations

from modelcycle.learners._base import Learner
from modelcycle.learners._catboost import CatBoostLearner
from modelcycle.learners._forest import ExtraTreesLearner, RandomForestLearner
from modelcycle.learners._lightgbm import LightGBMLearner
from modelcycle.learners._linear import LinearLearner
from modelcycle.learners._registry import BUILTIN_LEARNERS, available_learners, get_learner
from modelcycle.learners._skops import (
    SkopsName,
    check_skops,
    dump_skops,
    load_skops,
    read_skops_names,
    skops_types_to_trust,
)
from modelcycle.learners._skops_types import ALLOWED_TYPES
from modelcycle.learners._xgboost import XGBoostLearner

__all__ = [
    "ALLOWED_TYPES",
    "BUILTIN_LEARNERS",
    "CatBoostLearner",
    "ExtraTreesLearner",
    "Learner",
    "LightGBMLearner",
    "LinearLearner",
    "RandomForestLearner",
    "SkopsName",
    "XGBoostLearner",
    "available_learners",
    "check_skops",
    "dump_skops",
    "get_learner",
    "load_skops",
    "read_skops_names",
    "skops_types_to_trust",
]
