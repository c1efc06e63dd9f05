"""Error bodies in the shape of the protocol a path speaks.

Our own API (``/v1`` and everything else) answers ``{"error": {"code", "message",
"details"}}``. A protocol route answers as that protocol's clients expect, so their own
error handling reports our message instead of failing on the body:

- Open Inference Protocol V2 (``/v2`` and below): ``{"error": "<message>"}``, with our
  status (``tritonclient`` raises ``InferenceServerException(msg=body["error"])``);
- MLflow's scoring server (``/invocations``, ``/version``) and tracking REST API
  (``/api/2.0/mlflow``, ``/api/2.0/mlflow-artifacts``, ``/api/3.0/mlflow``):
  ``{"error_code": "<MLflow code>", "message": "<message>"}``; on the tracking API a
  refused value or a conflict is 400, as MLflow's server answers them (its client
  retries 429 and 5xx only, so a client mistake is never a 5xx).

The shape is chosen from the request path alone, so the authentication middleware, the
body limit and every exception handler answer a protocol's caller alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

#: Our error code -> MLflow's ``error_code`` (anything else: ``INTERNAL_ERROR``).
MLFLOW_CODES: dict[str, str] = {
    "invalid": "INVALID_PARAMETER_VALUE",
    "too_large": "INVALID_PARAMETER_VALUE",
    "unsupported_media_type": "INVALID_PARAMETER_VALUE",
    "not_explainable": "INVALID_PARAMETER_VALUE",
    "not_found": "RESOURCE_DOES_NOT_EXIST",
    "endpoint_not_found": "ENDPOINT_NOT_FOUND",
    "conflict": "INVALID_PARAMETER_VALUE",
    "already_exists": "RESOURCE_ALREADY_EXISTS",
    "unauthenticated": "UNAUTHENTICATED",
    "permission_denied": "PERMISSION_DENIED",
    "rate_limited": "REQUEST_LIMIT_EXCEEDED",
    "not_ready": "TEMPORARILY_UNAVAILABLE",
    "not_implemented": "NOT_IMPLEMENTED",
    "method_not_allowed": "ENDPOINT_NOT_FOUND",
    "model_error": "INTERNAL_ERROR",
}
#: Path prefixes of MLflow's tracking REST API (the status follows MLflow's).
MLFLOW_TRACKING_PREFIXES = ("/api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/2.0/mlflow")
#: Paths of MLflow's scoring server (our status, MLflow's body).
MLFLOW_SCORING_PATHS = frozenset({"/invocations", "/version"})


class V2ErrorBody(BaseModel):
    """The Open Inference Protocol's error: ``{"error": "<message>"}``."""

    error: str


class MlflowErrorBody(BaseModel):
    """MLflow's error: ``{"error_code": "<code>", "message": "<message>"}``."""

    error_code: str
    message: str


def documented(body: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` saying each status answers ``body``."""
    return {status: {"model": body} for status in statuses}


#: Errors of a V2 route, and of an MLflow scoring route, that needs a key.
V2_ERRORS = documented(V2ErrorBody, 401, 403, 404, 413, 415, 422, 429, 503)
MLFLOW_ERRORS = documented(MlflowErrorBody, 401, 403, 404, 413, 415, 422, 429, 503)

Shape = Callable[[int, str, str, Any], tuple[int, dict[str, Any]]]


def rich(status: int, code: str, message: str, details: Any) -> tuple[int, dict[str, Any]]:
    """Our own shape: ``{"error": {"code", "message", "details"}}``."""
    return status, {"error": {"code": code, "message": message, "details": details or {}}}


def v2(status: int, code: str, message: str, details: Any) -> tuple[int, dict[str, Any]]:
    """The Open Inference Protocol's shape: ``{"error": "<message>"}``."""
    return status, {"error": message}


def mlflow_scoring(
    status: int, code: str, message: str, details: Any
) -> tuple[int, dict[str, Any]]:
    """MLflow's scoring-server shape, with our status."""
    return status, {"error_code": mlflow_code(code, status), "message": message}


def mlflow_tracking(
    status: int, code: str, message: str, details: Any
) -> tuple[int, dict[str, Any]]:
    """MLflow's tracking-server shape; a refused value or a conflict is 400, as there."""
    error_code = mlflow_code(code, status)
    return (400 if status in (409, 422) else status), {"error_code": error_code, "message": message}


def mlflow_code(code: str, status: int) -> str:
    """MLflow's ``error_code`` for one of ours (a 4xx we do not know: invalid input)."""
    found = MLFLOW_CODES.get(code)
    if found is not None:
        return found
    return "INVALID_PARAMETER_VALUE" if 400 <= status < 500 else "INTERNAL_ERROR"


def shape_of(path: str) -> Shape:
    """The error shape of requests to ``path`` (as the router matches it).

    Examples
    --------
    >>> shape_of("/v2/models/churn/infer")(422, "invalid", "bad", {})
    (422, {'error': 'bad'})
    >>> shape_of("/api/2.0/mlflow/runs/get")(404, "not_found", "no run", {})
    (404, {'error_code': 'RESOURCE_DOES_NOT_EXIST', 'message': 'no run'})
    """
    if path == "/v2" or path.startswith("/v2/"):
        return v2
    if path in MLFLOW_SCORING_PATHS:
        return mlflow_scoring
    if any(path == prefix or path.startswith(prefix + "-") or path.startswith(prefix + "/")
           for prefix in MLFLOW_TRACKING_PREFIXES):  # fmt: skip
        return mlflow_tracking
    return rich
