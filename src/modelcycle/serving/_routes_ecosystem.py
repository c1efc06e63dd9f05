"""Open Inference Protocol V2 and MLflow ``/invocations`` routes on the same models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelcycle.core import ModelRef, ValidationError
from modelcycle.serving._auth import model_in_path, permission
from modelcycle.serving._encode import json_ready, plain
from modelcycle.serving._errors import JSONBody, NotReady
from modelcycle.serving._json import OrjsonRoute
from modelcycle.serving._model import ServedModel
from modelcycle.serving._protocols import (
    V2_TYPES,
    InvocationsRequest,
    V2InferRequest,
    invocation_inputs,
    v2_columns,
    v2_datatype,
    v2_tensor,
)
from modelcycle.serving._routes import AUTH_ERRORS, ERRORS, Service
from modelcycle.serving._service import Answer

v2 = APIRouter(prefix="/v2", tags=["open inference protocol v2"], route_class=OrjsonRoute)


def _first_served(request: Request) -> str:
    """The model ``/invocations`` answers with: the first served reference's."""
    refs: tuple[str, ...] = request.app.state.service.hub.refs
    return ModelRef.parse(refs[0]).name


mlflow = APIRouter(tags=["mlflow"], route_class=OrjsonRoute)
#: Model metadata is what an inference client reads before it predicts.
_DESCRIBE = Depends(permission("read", "predict", model=model_in_path("name")))


@v2.get("/health/live")
async def v2_live() -> dict[str, bool]:
    """The process answers."""
    return {"live": True}


@v2.get("/health/ready", responses=ERRORS)
async def v2_ready(predictor: Service) -> dict[str, bool]:
    """Every served model is loaded and warmed (503 until then)."""
    if not predictor.hub.ready:
        raise NotReady(f"not ready: {predictor.hub.problem}")
    return {"ready": True}


@v2.get("/models/{name}/ready", responses=AUTH_ERRORS, dependencies=[_DESCRIBE])
async def v2_model_ready(name: str, predictor: Service) -> dict[str, Any]:
    """The named model is loaded and warmed."""
    return {"name": name, "ready": bool(predictor.hub.by_name(name))}


@v2.get("/models/{name}", responses=AUTH_ERRORS, dependencies=[_DESCRIBE])
async def v2_metadata(name: str, predictor: Service) -> dict[str, Any]:
    """Inputs and outputs of the served version of ``name``."""
    return _metadata(predictor.hub.by_name(name))


@v2.post(
    "/models/{name}/infer",
    responses=AUTH_ERRORS,
    dependencies=[Depends(permission("predict", model=model_in_path("name")))],
)
async def v2_infer(name: str, body: V2InferRequest, predictor: Service) -> Response:
    """Predict one tensor per input column (or one ``[rows, columns]`` tensor)."""
    ref = predictor.hub.ref_named(name)
    try:
        inputs = v2_columns(body, predictor.hub.get(ref).signature)
    except ValidationError as error:
        predictor.refuse(ref, error)
        raise
    answer = await predictor.predict(ref, inputs, protocol="v2")
    background = predictor.mirror(ref, answer, inputs, protocol="v2")
    return JSONBody(_v2_answer(answer, body.id), background=background)


@mlflow.post(
    "/invocations",
    responses=AUTH_ERRORS,
    dependencies=[Depends(permission("predict", model=_first_served))],
)
async def invocations(body: InvocationsRequest, predictor: Service) -> Response:
    """MLflow scoring-server payloads, answered by the first served model."""
    ref = predictor.hub.refs[0]
    try:
        inputs = invocation_inputs(body, predictor.hub.get(ref).signature)
    except ValidationError as error:
        predictor.refuse(ref, error)
        raise
    answer = await predictor.predict(ref, inputs, protocol="mlflow")
    background = predictor.mirror(ref, answer, inputs, protocol="mlflow")
    return JSONBody({"predictions": json_ready(answer.predictions)}, background=background)


def _metadata(model: ServedModel) -> dict[str, Any]:
    outputs = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
    if model.is_classifier:
        width = len(model.classes or ())
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
    return {
        "name": model.name,
        "versions": [str(model.version)],
        "platform": f"modelcycle-{model.flavor}",
        "inputs": [
            {"name": s.name, "datatype": V2_TYPES[s.type], "shape": [-1]}
            for s in model.signature.inputs
        ],
        "outputs": outputs,
    }


def _v2_answer(answer: Answer, given_id: str | None) -> dict[str, Any]:
    predictions = plain(answer.predictions.ravel())  # row-major, JSON's own types
    shape = list(answer.predictions.shape)
    outputs = [v2_tensor("predict", predictions, v2_datatype(predictions), shape)]
    if answer.probabilities is not None:
        proba = answer.probabilities
        outputs.append(v2_tensor("predict_proba", plain(proba.ravel()), "FP64", list(proba.shape)))
    return {
        "model_name": answer.model.name,
        "model_version": str(answer.model.version),
        "id": given_id or answer.request_id,
        "parameters": {"request_id": answer.request_id},
        "outputs": outputs,
    }
