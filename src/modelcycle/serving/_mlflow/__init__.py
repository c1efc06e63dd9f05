"""The part of MLflow's tracking REST API that MLflow's Python client uses, on a workspace.

``mlflow.set_tracking_uri("http://<server>")`` (with ``MLFLOW_TRACKING_TOKEN`` set to
an API key) makes an ordinary MLflow script, autologging included, log its
experiments, runs, params, metrics, tags, datasets, logged models and artifacts into
the workspace the server serves: they appear in ``ws.runs()``, ``modelcycle runs list``
and the dashboard. See ``docs/clients.md``.
"""

from __future__ import annotations

from modelcycle.serving._mlflow._artifacts import Artifacts
from modelcycle.serving._mlflow._routes import mlflow_tracking
from modelcycle.serving._mlflow._service import MlflowTracking

__all__ = ["Artifacts", "MlflowTracking", "mlflow_tracking"]
