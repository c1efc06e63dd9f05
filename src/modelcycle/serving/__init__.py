"""Layer 4 serving: the FastAPI prediction server, hot swap on alias moves, prediction log.

The hot path (``/v1/models/{ref}/predict``) validates JSON values against the
version's signature without pandas and, for the ``modelcycle`` flavor, predicts
with NumPy only; other flavors go through pandas.
"""

from __future__ import annotations

from modelcycle.serving._app import create_app
from modelcycle.serving._batch import ScoreSummary, score_file
from modelcycle.serving._errors import NotReady, PayloadTooLarge
from modelcycle.serving._hub import ModelHub, missing_refs
from modelcycle.serving._log import SCHEMA as PREDICTION_LOG_SCHEMA
from modelcycle.serving._log import PredictionLog
from modelcycle.serving._model import ServedModel, load_served
from modelcycle.serving._routes import authorize
from modelcycle.serving._settings import ServeSettings
from modelcycle.serving._validate import InputValidator

__all__ = [
    "PREDICTION_LOG_SCHEMA",
    "InputValidator",
    "ModelHub",
    "NotReady",
    "PayloadTooLarge",
    "PredictionLog",
    "ScoreSummary",
    "ServeSettings",
    "ServedModel",
    "authorize",
    "create_app",
    "load_served",
    "missing_refs",
    "score_file",
]
