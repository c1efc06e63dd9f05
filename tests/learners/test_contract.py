"""Every built-in learner passes the learner contract on every task."""

from __future__ import annotations

from typing import Any

import pytest

from modelcycle.learners import BUILTIN_LEARNERS, Learner
from modelcycle.testing._learners import LearnerContract

# Fewer rounds and trees than the defaults keep the suite fast; the checks still hold.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "lightgbm": {"num_iterations": 60},
    "xgboost": {"num_boost_round": 60},
    "catboost": {"iterations": 60},
    "extra_trees": {"n_estimators": 20},
    "random_forest": {"n_estimators": 20},
}


@pytest.fixture(params=BUILTIN_LEARNERS, ids=[learner.name for learner in BUILTIN_LEARNERS])
def learner_class(request: pytest.FixtureRequest) -> type[Learner]:
    learner: type[Learner] = request.param
    return learner


class TestLearners(LearnerContract):
    @pytest.fixture
    def learner_params(self, learner_class: type[Learner]) -> dict[str, Any]:
        return FAST_PARAMS.get(learner_class.name, {})
