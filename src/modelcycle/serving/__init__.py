"""Layer 4 serving: the FastAPI prediction server, hot swap on alias moves, prediction log.

The hot path (``/v1/models/{ref}/predict``) validates JSON values against the
version's signature without pandas (a large request column by column, which also
extracts the columns the model reads) and, for the ``modelcycle`` flavor, predicts
with NumPy only; other flavors get one DataFrame built from those columns.
Concurrent small requests for one version are micro-batched into one model call; a
served model may have a canary or shadow challenger; ``?explain=true`` adds feature
contributions. Delayed labels arrive by ``POST /v1/models/{ref}/feedback`` (checked
as ``modelcycle feedback`` checks them). Every route but the health probes and
``/metrics`` needs an API key with the right role; viewers read a model's alerts and
latest monitoring report. Several worker processes can serve one port. Model calls
run in a thread pool, off the event loop; keys are checked before a body is read;
:func:`log_config` keeps credentials out of the logs. :func:`score_file` scores files
in batch with the same checks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelcycle.serving._app import create_app
    from modelcycle.serving._batch import ScoreSummary, score_file
    from modelcycle.serving._model import ServedModel, load_served
    from modelcycle.serving._redact import log_config
    from modelcycle.serving._settings import ServeSettings

# Loaded on first use: the CLI reads ServeSettings to build its options without paying
# for FastAPI, the models and the logs at every start.
_WHERE = {
    "ScoreSummary": "modelcycle.serving._batch",
    "ServeSettings": "modelcycle.serving._settings",
    "ServedModel": "modelcycle.serving._model",
    "create_app": "modelcycle.serving._app",
    "load_served": "modelcycle.serving._model",
    "log_config": "modelcycle.serving._redact",
    "score_file": "modelcycle.serving._batch",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ScoreSummary",
    "ServeSettings",
    "ServedModel",
    "create_app",
    "load_served",
    "log_config",
    "score_file",
]
