"""The ``/v1`` routes, health probes and ``/metrics``: thin handlers over the service.

Every ``/v1`` route needs an API key (see :mod:`modelcycle.serving._auth`); the
health probes and ``/metrics`` do not.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from modelcycle.core import ModelRef, NotFound
from modelcycle.serving._auth import AccessControl, model_in_path, permission
from modelcycle.serving._errors import JSONBody, NotReady
from modelcycle.serving._feedback import FeedbackService
from modelcycle.serving._json import OrjsonRoute
from modelcycle.serving._schemas import (
    AuditEventBody,
    AuditEvents,
    ErrorBody,
    FeedbackAccepted,
    FeedbackRequest,
    Health,
    PredictRequest,
    PredictResponse,
    ServedModelInfo,
    ServedModels,
)
from modelcycle.serving._service import PredictionService

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (404, 413, 422, 503)
}
#: Errors of routes that need a key: no or bad key, not allowed, too many requests.
AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    **{code: {"model": ErrorBody} for code in (401, 403, 429)},
}
V1_ERRORS: dict[int | str, dict[str, object]] = {**AUTH_ERRORS, 400: {"model": ErrorBody}}


async def service(request: Request) -> PredictionService:
    """The app's prediction service (built by ``create_app``)."""
    found: PredictionService = request.app.state.service
    return found


async def audit_log(request: Request) -> AccessControl:
    """The access control whose audit log ``/v1/audit`` reads (404 when the app has none)."""
    control: AccessControl | None = request.app.state.gatekeeper.control
    if control is None:
        raise NotFound("this server was built without a workspace's security, so no audit log")
    return control


async def feedback_service(request: Request) -> FeedbackService:
    """The app's feedback service (built by ``create_app``)."""
    found: FeedbackService = request.app.state.feedback
    return found


Service = Annotated[PredictionService, Depends(service)]
Feedback = Annotated[FeedbackService, Depends(feedback_service)]
AuditLog = Annotated[AccessControl, Depends(audit_log)]

v1 = APIRouter(prefix="/v1", tags=["predict"], route_class=OrjsonRoute)
health = APIRouter(tags=["health"])


@v1.post(
    "/models/{ref:path}/predict",
    response_model=PredictResponse,
    responses=V1_ERRORS,
    summary="Predict with a served model",
    dependencies=[Depends(permission("predict", model=model_in_path("ref")))],
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


@v1.post(
    "/models/{ref:path}/feedback",
    status_code=202,
    response_model=FeedbackAccepted,
    responses=V1_ERRORS,
    tags=["feedback"],
    summary="Record delayed labels",
    dependencies=[Depends(permission("feedback", model=model_in_path("ref")))],
)
async def feedback(
    ref: str, body: FeedbackRequest, receiver: Feedback, predictor: Service
) -> FeedbackAccepted:
    """Record the true targets of earlier predictions (needs ``feedback``).

    Each label names its prediction by ``request_id`` (and ``row``) or by its
    ``inputs``; it must be one of the model's classes, or a number for a regressor.
    All labels of a request are recorded, or none (422 naming the item and field).
    They are written to the feedback log within the log's flush interval.
    """
    # up to max_rows labels to check and convert: in a model thread, off the event loop
    name, accepted = await predictor.threads.run(lambda: receiver.receive(ref, body.items()))
    return FeedbackAccepted(accepted=accepted, model=name)


@v1.get(
    "/models",
    response_model=ServedModels,
    responses=AUTH_ERRORS,
    tags=["models"],
    summary="List the served models",
    dependencies=[Depends(permission("read"))],
)
async def served_models(predictor: Service) -> ServedModels:
    """Every served reference and the version answering it now (needs ``read``)."""
    snapshot = predictor.hub.snapshot
    return ServedModels(
        models=[
            ServedModelInfo(
                ref=ref,
                name=ModelRef.parse(ref).name,
                version=snapshot[ref].version if ref in snapshot else None,
                ready=ref in snapshot,
            )
            for ref in predictor.hub.refs
        ]
    )


@v1.get(
    "/audit",
    response_model=AuditEvents,
    responses=AUTH_ERRORS,
    tags=["audit"],
    summary="List audit events",
    dependencies=[Depends(permission("manage"))],
)
async def audit(
    control: AuditLog,
    since: Annotated[datetime | None, Query(description="Only events at or after.")] = None,
    actor: Annotated[str | None, Query(max_length=200, description="Only this actor.")] = None,
    target: Annotated[
        str | None,
        Query(max_length=300, description="A target and what lies inside it ('churn')."),
    ] = None,
    action: Annotated[
        str | None, Query(max_length=100, description="An action or dotted prefix ('alias').")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Newest events kept.")] = 100,
) -> AuditEvents:
    """The tamper-evident audit log, oldest first (admins only)."""
    events = await asyncio.to_thread(
        control.audit_events, since=since, actor=actor, target=target, action=action, limit=limit
    )
    return AuditEvents(events=[AuditEventBody(**event.to_dict()) for event in events])


@health.get("/health/live", response_model=Health)
async def live() -> Health:
    """The process answers (it may still be loading models)."""
    return Health(status="live", worker=os.getpid())


@health.get("/health/ready", response_model=Health, responses=ERRORS)
async def ready(predictor: Service) -> Health:
    """Every served model is loaded and warmed (503 until then)."""
    hub = predictor.hub
    if not hub.ready:
        details = {"served": list(hub.refs), "worker": os.getpid()}
        raise NotReady(f"not ready: {hub.problem}", details=details)
    models = {k: m.version for k, m in hub.snapshot.items()}
    return Health(status="ready", models=models, worker=os.getpid())


@health.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics(predictor: Service) -> Response:
    """Requests, errors by kind, latency and rows per model and version."""
    return Response(predictor.metrics.render(), media_type=predictor.metrics.content_type)
