"""The ``/v1`` prediction route, health probes and ``/metrics``: thin handlers over the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from modelcycle.serving._errors import JSONBody, NotReady
from modelcycle.serving._schemas import ErrorBody, Health, PredictRequest, PredictResponse
from modelcycle.serving._service import PredictionService

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (404, 413, 422, 503)
}
V1_ERRORS: dict[int | str, dict[str, object]] = {**ERRORS, 400: {"model": ErrorBody}}


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
    responses=V1_ERRORS,
    summary="Predict with a served model",
)
async def predict(
    ref: str,
    body: PredictRequest,
    predictor: Service,
    explain: Annotated[
        bool, Query(description="Add each row's largest feature contributions.")
    ] = False,
    top_k: Annotated[
        int | None,
        Query(ge=1, le=1000, description="Contributions per row (default: the server's)."),
    ] = None,
) -> Response:
    """Predict rows or columns with the version that ``ref`` names now (or its canary).

    With ``explain=true``, each row's ``top_k`` largest contributions in raw-score
    units; 400 ``not_explainable`` when the served version has none.
    """
    inputs = body.inputs()
    k = (top_k or predictor.explain_top_k) if explain else None
    answer = await predictor.predict(ref, inputs, explain_top_k=k)
    return JSONBody(answer.to_v1(), background=predictor.mirror(ref, answer, inputs))


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
