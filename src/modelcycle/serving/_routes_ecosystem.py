"""MLflow's scoring-server routes on the served models: ``/invocations``, ``/ping``,
``/health``, ``/version`` (and ``/ready``, the readiness probe load balancers ask for).

``/invocations`` answers with the first served model. Its body is JSON with or without
a JSON ``Content-Type``; errors are MLflow's ``{"error_code", "message"}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import PlainTextResponse, Response

from modelcycle._version import __version__
from modelcycle.core import ModelRef, NotFound, ValidationError
from modelcycle.serving._auth import permission
from modelcycle.serving._encode import json_ready
from modelcycle.serving._error_shapes import MLFLOW_ERRORS
from modelcycle.serving._errors import JSONBody, NotReady
from modelcycle.serving._json import LenientJsonRoute
from modelcycle.serving._protocols import InvocationsRequest, invocation_inputs
from modelcycle.serving._routes import ERRORS, Service
from modelcycle.serving._service import PredictionService


def _first_served(request: Request) -> str:
    """The model ``/invocations`` answers with: the first served reference's."""
    return ModelRef.parse(_first_ref(request.app.state.service)).name


def _first_ref(predictor: PredictionService) -> str:
    if not predictor.hub.refs:
        raise NotFound("this server serves no model; start it with 'modelcycle serve <model>'")
    return predictor.hub.refs[0]


mlflow = APIRouter(tags=["mlflow"], route_class=LenientJsonRoute)
#: Probes answered without a key, as MLflow's scoring server and load balancers ask them.
probes = APIRouter(tags=["health"])


@mlflow.post(
    "/invocations",
    responses=MLFLOW_ERRORS,
    dependencies=[Depends(permission("predict", model=_first_served))],
)
async def invocations(body: InvocationsRequest, predictor: Service) -> Response:
    """MLflow scoring-server payloads, answered by the first served model."""
    ref = _first_ref(predictor)
    try:
        inputs = invocation_inputs(body, predictor.hub.get(ref).signature)
    except ValidationError as error:
        predictor.refuse(ref, error)
        raise
    answer = await predictor.predict(ref, inputs, protocol="mlflow")
    background = predictor.mirror(ref, answer, inputs, protocol="mlflow")
    return JSONBody({"predictions": json_ready(answer.predictions)}, background=background)


@mlflow.get("/version", response_class=PlainTextResponse, responses=MLFLOW_ERRORS)
async def version() -> str:
    """The server's version, as MLflow's scoring server answers it (any valid key)."""
    return __version__


@probes.get("/ping", response_class=PlainTextResponse, responses=ERRORS)
async def ping(predictor: Service) -> str:
    """MLflow's scoring-server probe: 200 once every served model is loaded (503 until)."""
    _check_ready(predictor)
    return "\n"


@probes.get("/health", response_class=PlainTextResponse, responses=ERRORS)
async def mlflow_health(predictor: Service) -> str:
    """The same probe under MLflow's other name for it."""
    _check_ready(predictor)
    return "\n"


@probes.get("/ready", responses=ERRORS)
async def ready(predictor: Service) -> dict[str, bool]:
    """A readiness probe at the root: 200 once every served model is loaded (503 until)."""
    _check_ready(predictor)
    return {"ready": True}


def _check_ready(predictor: PredictionService) -> None:
    if not predictor.hub.ready:
        raise NotReady(f"not ready: {predictor.hub.problem}")
