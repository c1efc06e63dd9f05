"""Reading an error body in the shape its route's protocol speaks (issue 18).

``/v1`` and our other routes: ``{"error": {"code", "message", "details"}}``; Open
Inference Protocol V2 routes: ``{"error": "<message>"}``; MLflow's routes:
``{"error_code", "message"}``. :func:`refusal` checks a body has exactly its path's
shape and returns what it says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from modelcycle.serving._error_shapes import MLFLOW_CODES


@dataclass(frozen=True)
class Refusal:
    """An error body: its code (ours or MLflow's; ``None`` for V2), message and details."""

    code: str | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def is_code(self, ours: str) -> bool:
        """Whether the body says our code ``ours`` (as its protocol spells it)."""
        return self.code in (None, ours, MLFLOW_CODES.get(ours))


def refusal(response: httpx.Response | Any) -> Refusal:
    """The error a response carries, after checking its body has its path's shape."""
    body = response.json()
    path = response.request.url.path
    if path == "/v2" or path.startswith("/v2/"):
        assert set(body) == {"error"} and isinstance(body["error"], str), body
        assert body["error"], body
        return Refusal(None, body["error"])
    if path in ("/invocations", "/version") or path.startswith("/api/"):
        assert set(body) == {"error_code", "message"} and body["message"], body
        return Refusal(body["error_code"], body["message"])
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"], body
    return Refusal(body["error"]["code"], body["error"]["message"], body["error"]["details"])
