"""Layer 4 serving: the FastAPI prediction server, hot swap on alias moves, prediction log.

The hot path (``/v1/models/{ref}/predict``) validates JSON values against the
version's signature without pandas (a large request column by column, which also
extracts the columns the model reads) and, for the ``modelcycle`` flavor, predicts
with NumPy only; other flavors get one DataFrame built from those columns.
Concurrent small requests for one version are micro-batched into one model call; a
served model may have a canary or shadow challenger; ``?explain=true`` adds feature
contributions. Delayed labels arrive by ``POST /v1/models/{ref}/feedback`` (checked
by the same :class:`FeedbackValidator` as ``modelcycle feedback``). Every route but
the health probes and ``/metrics`` needs an API key with the right role; viewers read a
model's alerts and latest monitoring report (:class:`MonitoringReader`). Several
worker processes can serve one port (:class:`WorkerConfig`). Model calls run in a thread
pool, off the event loop; keys are checked before a body is read; :func:`log_config`
keeps credentials out of the logs.
"""

from __future__ import annotations

from modelcycle.serving._app import create_app
from modelcycle.serving._auth import (
    AccessControl,
    Authenticator,
    Gatekeeper,
    PrincipalCache,
    TokenBuckets,
    permission,
)
from modelcycle.serving._batch import ScoreSummary, score_file
from modelcycle.serving._batcher import MicroBatcher
from modelcycle.serving._columnar import Columns
from modelcycle.serving._errors import (
    ModelFailed,
    NotExplainable,
    NotReady,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
)
from modelcycle.serving._feedback import (
    FeedbackProblem,
    FeedbackService,
    FeedbackValidator,
    Label,
    feedback_table,
)
from modelcycle.serving._hub import ModelHub, missing_refs
from modelcycle.serving._log import BufferedLog, FeedbackLog, PredictionLog
from modelcycle.serving._log_request import LoggedRequest
from modelcycle.serving._model import ServedModel, load_served
from modelcycle.serving._monitoring import MonitoringReader
from modelcycle.serving._privacy import Redactor, workspace_salt
from modelcycle.serving._redact import SecretFilter, log_config, redact
from modelcycle.serving._routing import Challenger, Router, parse_canary, parse_shadow
from modelcycle.serving._settings import ServeSettings
from modelcycle.serving._validate import Checked, InputValidator
from modelcycle.serving._workers import (
    WORKER_CONFIG_ENV,
    WORKER_HEADER,
    NoDelayHttpToolsProtocol,
    WorkerConfig,
    WorkerHeader,
    no_delay,
)
from modelcycle.store import PREDICTION_SCHEMA as PREDICTION_LOG_SCHEMA

__all__ = [
    "PREDICTION_LOG_SCHEMA",
    "WORKER_CONFIG_ENV",
    "WORKER_HEADER",
    "AccessControl",
    "Authenticator",
    "BufferedLog",
    "Challenger",
    "Checked",
    "Columns",
    "FeedbackLog",
    "FeedbackProblem",
    "FeedbackService",
    "FeedbackValidator",
    "Gatekeeper",
    "InputValidator",
    "Label",
    "LoggedRequest",
    "MicroBatcher",
    "ModelFailed",
    "ModelHub",
    "MonitoringReader",
    "NoDelayHttpToolsProtocol",
    "NotExplainable",
    "NotReady",
    "PayloadTooLarge",
    "PredictionLog",
    "PrincipalCache",
    "RateLimited",
    "Redactor",
    "Router",
    "ScoreSummary",
    "SecretFilter",
    "ServeSettings",
    "ServedModel",
    "TokenBuckets",
    "Unauthenticated",
    "WorkerConfig",
    "WorkerHeader",
    "create_app",
    "feedback_table",
    "load_served",
    "log_config",
    "missing_refs",
    "no_delay",
    "parse_canary",
    "parse_shadow",
    "permission",
    "redact",
    "score_file",
    "workspace_salt",
]
