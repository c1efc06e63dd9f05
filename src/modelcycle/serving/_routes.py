"""The ``/v1`` prediction route, health probes and ``/metrics``: thin handlers over the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelcycle.serving._errors import JSONBody, NotReady
from modelcycle.serving._schemas import ErrorBody, Health, PredictRequest, PredictResponse
from modelcycle.serving._service import PredictionService

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (404, 413, 422, 503)
}


def service(request: Request) -> PredictionService:
    """The app's prediction service (built by ``create_app``)."""
    found: PredictionService = request.app.state.service
    return found


def authorize(request: Request) -> None:
    """Security seam: every prediction route depends on this; it allows all callers for now.

    API keys and roles (a later issue) replace this body, raising ``PermissionDenied``.
    """


Service = Annotated[PredictionService, Depends(service)]

v1 = APIRouter(prefix="/v1", tags=["predict"], dependencies=[Depends(authorize)])
health = APIRouter(tags=["health"])


@v1.post(
    "/models/{ref:path}/predict",
    response_model=PredictResponse,
    responses=ERRORS,
    summary="Predict with a served model",
)
async def predict(ref: str, body: PredictRequest, predictor: Service) -> Response:
    """Predict rows or columns with the version that ``ref`` names now."""
    return JSONBody(predictor.predict(ref, body.inputs()).to_v1())


@health.get("/health/live", response_model=Health)
async def live() -> Health:
    """The process answers (it may still be loading models)."""
    return Health(status="live")


@health.get("/health/ready", response_model=Health, responses=ERRORS)
async def ready(predictor: Service) -> Health:
    """Every served model is loaded and warmed (503 until then)."""
    hub = predictor.hub
    if not hub.ready:
        raise NotReady(f"not ready: {hub.problem}", details={"served": list(hub.refs)})
    return Health(status="ready", models={k: m.version for k, m in hub.snapshot.items()})


@health.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics(predictor: Service) -> Response:
    """Requests, errors by kind, latency and rows per model and version."""
    return Response(predictor.metrics.render(), media_type=predictor.metrics.content_type)
