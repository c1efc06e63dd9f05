"""Open Inference Protocol V2 routes, as the protocol is written (KServe's and Triton's).

- ``GET /v2``: server metadata; ``GET /v2/health/live|ready``: probes (no key needed);
- ``GET /v2/models/{name}[/versions/{version}]``: model metadata, ``.../ready``: 200
  when loaded; ``POST .../infer``: predict.

A request body is JSON with or without a JSON ``Content-Type`` (``tritonclient`` sends
none), optionally followed by binary tensors (:mod:`modelcycle.serving._v2_binary`).
Errors are ``{"error": "<message>"}`` (:mod:`modelcycle.serving._error_shapes`). A
versioned route answers only while that version is served (as the primary model, a
canary or a shadow); an unversioned one follows the served reference, canary split
included.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelcycle._version import __version__
from modelcycle.core import NotFound, ValidationError
from modelcycle.serving._auth import model_in_path, permission
from modelcycle.serving._encode import json_bytes, plain
from modelcycle.serving._error_shapes import V2_ERRORS
from modelcycle.serving._errors import BodyRefused, JSONBody, NotReady
from modelcycle.serving._json import LenientJsonRoute, OrjsonRequest
from modelcycle.serving._model import ServedModel
from modelcycle.serving._protocols import (
    V2_TYPES,
    V2InferRequest,
    v2_columns,
    v2_datatype,
    v2_output_names,
    v2_outputs,
    v2_plan,
)
from modelcycle.serving._routes import Service
from modelcycle.serving._service import Answer, PredictionService
from modelcycle.serving._v2_binary import HEADER, split_body

#: The extensions this server implements, as ``GET /v2`` lists them.
EXTENSIONS = ("binary_tensor_data",)


class V2Request(OrjsonRequest):
    """A V2 request: its JSON part decoded by orjson, its binary part kept in ``binary``."""

    binary: bytes = b""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                header, self.binary = split_body(await self.body(), self.headers.get(HEADER))
            except ValidationError as error:  # HTTPException: FastAPI lets it through
                raise BodyRefused(error) from None
            self._json = await self.decoded(header)
        return self._json


class V2Route(LenientJsonRoute):
    """A V2 route: JSON-ish bodies, or ``application/octet-stream`` with binary tensors."""

    request_class = V2Request
    other_media = frozenset({"application/octet-stream"})


v2 = APIRouter(prefix="/v2", tags=["open inference protocol v2"], route_class=V2Route)
#: Model metadata is what an inference client reads before it predicts.
_DESCRIBE = Depends(permission("read", "predict", model=model_in_path("name")))
_PREDICT = Depends(permission("predict", model=model_in_path("name")))


@v2.get("", responses=V2_ERRORS)
async def v2_server() -> dict[str, Any]:
    """Server metadata: name, version and the protocol extensions implemented."""
    return {"name": "modelcycle", "version": __version__, "extensions": list(EXTENSIONS)}


@v2.get("/health/live")
async def v2_live() -> dict[str, bool]:
    """The process answers."""
    return {"live": True}


@v2.get("/health/ready", responses=V2_ERRORS)
async def v2_ready(predictor: Service) -> dict[str, bool]:
    """Every served model is loaded and warmed (503 until then)."""
    if not predictor.hub.ready:
        raise NotReady(f"not ready: {predictor.hub.problem}")
    return {"ready": True}


@v2.get("/models/{name}/ready", responses=V2_ERRORS, dependencies=[_DESCRIBE])
async def v2_model_ready(name: str, predictor: Service) -> dict[str, Any]:
    """The named model is loaded and warmed (503 until then)."""
    return {"name": name, "ready": bool(predictor.hub.by_name(name))}


@v2.get("/models/{name}/versions/{version}/ready", responses=V2_ERRORS, dependencies=[_DESCRIBE])
async def v2_version_ready(name: str, version: str, predictor: Service) -> dict[str, Any]:
    """The named version is served, loaded and warmed."""
    return {"name": name, "ready": bool(served_version(predictor, name, version))}


@v2.get("/models/{name}", responses=V2_ERRORS, dependencies=[_DESCRIBE])
async def v2_metadata(name: str, predictor: Service) -> dict[str, Any]:
    """Inputs and outputs of the served version of ``name``."""
    return metadata(predictor.hub.by_name(name))


@v2.get("/models/{name}/versions/{version}", responses=V2_ERRORS, dependencies=[_DESCRIBE])
async def v2_version_metadata(name: str, version: str, predictor: Service) -> dict[str, Any]:
    """Inputs and outputs of one served version of ``name``."""
    return metadata(served_version(predictor, name, version))


@v2.post("/models/{name}/infer", responses=V2_ERRORS, dependencies=[_PREDICT])
async def v2_infer(
    name: str, body: V2InferRequest, request: Request, predictor: Service
) -> Response:
    """Predict one tensor per input column (or one ``[rows, columns]`` tensor)."""
    ref = predictor.hub.ref_named(name)
    return await _infer(predictor, ref, predictor.hub.get(ref), body, request, routed=True)


@v2.post("/models/{name}/versions/{version}/infer", responses=V2_ERRORS, dependencies=[_PREDICT])
async def v2_version_infer(
    name: str, version: str, body: V2InferRequest, request: Request, predictor: Service
) -> Response:
    """Predict with one served version of ``name`` (no canary split)."""
    model = served_version(predictor, name, version)
    return await _infer(
        predictor, f"{model.name}/{model.version}", model, body, request, routed=False
    )


async def _infer(
    predictor: PredictionService,
    ref: str,
    model: ServedModel,
    body: V2InferRequest,
    request: Request,
    *,
    routed: bool,
) -> Response:
    binary = request.binary if isinstance(request, V2Request) else b""
    try:
        plan = v2_plan(body, model)
        inputs = v2_columns(body, model.signature, binary)
    except ValidationError as error:
        predictor.refuse(ref, error)
        raise
    if routed:
        answer = await predictor.predict(ref, inputs, protocol="v2")
    else:
        answer = await predictor.predict_with(model, inputs, protocol="v2")
    background = predictor.mirror(ref, answer, inputs, protocol="v2")
    outputs, tail = v2_outputs(answer, plan)
    reply = _reply(answer, body.id, outputs)
    if not tail:
        return JSONBody(reply, background=background)
    header = json_bytes(reply)
    return Response(
        header + tail,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
        background=background,
    )


def served_version(predictor: PredictionService, name: str, version: str) -> ServedModel:
    """The served version ``version`` of model ``name`` (primary, canary or shadow).

    Raises
    ------
    NotFound
        That version is not served here (the message names no other served model).
    """
    for model in predictor.hub.snapshot.values():
        if model.name == name and str(model.version) == version:
            return model
    predictor.hub.ref_named(name)  # NotFound when no version of the model is served
    raise NotFound(
        f"model {name!r} version {version[:20]!r} is not served here; ask for the model "
        f"without a version (GET /v2/models/{name}) to learn which version answers",
        details={"name": name, "version": version[:20]},
    )


def metadata(model: ServedModel) -> dict[str, Any]:
    """The V2 model metadata of a served version (``predict``'s datatype: its classes')."""
    predicted = v2_datatype(plain(list(model.classes or ()))) if model.is_classifier else "FP64"
    outputs = [{"name": "predict", "datatype": predicted, "shape": [-1]}]
    if "predict_proba" in v2_output_names(model):
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


def _reply(answer: Answer, given_id: str | None, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model_name": answer.model.name,
        "model_version": str(answer.model.version),
        "id": given_id or answer.request_id,
        "parameters": {"request_id": answer.request_id},
        "outputs": outputs,
    }
