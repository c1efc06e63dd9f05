"""Layer 4 serving: the FastAPI prediction server, hot swap on alias moves, prediction log.

The hot path (``/v1/models/{ref}/predict``) validates JSON values against the
version's signature without pandas and, for the ``modelcycle`` flavor, predicts
with NumPy only; other flavors go through pandas. Concurrent small requests for
one version are micro-batched into one model call; a served model may have a
canary or shadow challenger; ``?explain=true`` adds feature contributions. Every
route but the health probes and ``/metrics`` needs an API key with the right role.
"""

from __future__ import annotations

from modelcycle.serving._app import create_app
from modelcycle.serving._auth import (
    AccessControl,
    Gatekeeper,
    PrincipalCache,
    TokenBuckets,
    permission,
)
from modelcycle.serving._batch import ScoreSummary, score_file
from modelcycle.serving._batcher import MicroBatcher
from modelcycle.serving._errors import (
    NotExplainable,
    NotReady,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
)
from modelcycle.serving._hub import ModelHub, missing_refs
from modelcycle.serving._log import SCHEMA as PREDICTION_LOG_SCHEMA
from modelcycle.serving._log import PredictionLog
from modelcycle.serving._model import ServedModel, load_served
from modelcycle.serving._privacy import Redactor, workspace_salt
from modelcycle.serving._routing import Challenger, Router, parse_canary, parse_shadow
from modelcycle.serving._settings import ServeSettings
from modelcycle.serving._validate import InputValidator

__all__ = [
    "PREDICTION_LOG_SCHEMA",
    "AccessControl",
    "Challenger",
    "Gatekeeper",
    "InputValidator",
    "MicroBatcher",
    "ModelHub",
    "NotExplainable",
    "NotReady",
    "PayloadTooLarge",
    "PredictionLog",
    "PrincipalCache",
    "RateLimited",
    "Redactor",
    "Router",
    "ScoreSummary",
    "ServeSettings",
    "ServedModel",
    "TokenBuckets",
    "Unauthenticated",
    "create_app",
    "load_served",
    "missing_refs",
    "parse_canary",
    "parse_shadow",
    "permission",
    "score_file",
    "workspace_salt",
]
