"""``?explain=true``: each prediction's largest per-feature contributions.

Contributions come from :meth:`ModelPipeline.contributions` (LightGBM's exact
``pred_contrib``, or a linear model's ``coef * x``) of the heaviest ensemble member
that has them, in raw-score units: log-odds of the positive class for a binary
classifier, the predicted class's score for a multiclass one, the value for a
regressor. Feature names are the preprocessor's (e.g. a one-hot column per
category); each row's contributions plus ``base`` sum to the raw score.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.serving._columnar import Columns
from modelcycle.serving._errors import NotExplainable
from modelcycle.serving._model import ModelInputs, Prediction, ServedModel


def _contributions(
    model: ServedModel, inputs: ModelInputs
) -> tuple[NDArray[np.float64], list[str]]:
    pipeline = model.pipeline
    data = inputs.values if isinstance(inputs, Columns) else inputs
    found = pipeline.contributions(data) if pipeline is not None else None
    if pipeline is None or found is None:
        learners = [m.learner.name for m in pipeline.members] if pipeline is not None else []
        what = f"learners {learners}" if learners else f"flavor {model.flavor!r}"
        raise NotExplainable(
            f"model {model.name!r} version {model.version} ({what}) cannot explain its "
            "predictions: no per-feature contributions; '?explain=true' needs a modelcycle-"
            "trained model with a LightGBM or linear learner",
            details={"model": model.name, "version": model.version, "flavor": model.flavor},
        )
    return found


def explain(
    model: ServedModel, inputs: ModelInputs, prediction: Prediction, top_k: int
) -> list[dict[str, Any]]:
    """The ``top_k`` largest contributions (by magnitude) of each row, and its base value.

    Raises
    ------
    NotExplainable
        The model has no per-feature contributions (another flavor, or no learner
        of the ensemble computes them).
    """
    values, names = _contributions(model, inputs)
    if values.ndim == 3:  # multiclass: the block of the class each row predicts
        assert prediction.probabilities is not None
        chosen = prediction.probabilities.argmax(axis=1)
        values = values[np.arange(values.shape[0]), chosen]
    parts, bias = values[:, :-1], values[:, -1]
    order = np.argsort(-np.abs(parts), axis=1, kind="stable")[:, :top_k]
    return [
        {
            "base": float(bias[row]),
            "contributions": [
                {"feature": names[column], "value": float(parts[row, column])}
                for column in order[row]
            ],
        }
        for row in range(parts.shape[0])
    ]
