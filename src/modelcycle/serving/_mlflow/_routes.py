"""The routes of MLflow's tracking REST API that MLflow's Python client calls.

Thin handlers: a typed body in, one call of :class:`MlflowTracking` (or
:class:`Artifacts`), MLflow's JSON out. Reading needs ``read``; writing (experiments,
runs, values, artifacts, logged models) needs ``train``, so a maintainer's key logs and
a viewer's key reads. Handlers are plain functions: FastAPI runs them in its thread
pool, off the event loop, since each reads or writes the database.

Any other path under ``/api/2.0/mlflow``, ``/api/2.0/mlflow-artifacts`` or
``/api/3.0/mlflow`` (traces, prompts, the model registry...) answers 404
``ENDPOINT_NOT_FOUND`` naming what is served.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelcycle.core import NotFound
from modelcycle.security import Principal
from modelcycle.serving._auth import permission
from modelcycle.serving._error_shapes import MlflowErrorBody, documented
from modelcycle.serving._json import LenientJsonRoute
from modelcycle.serving._mlflow import _schemas as api
from modelcycle.serving._mlflow._artifacts import Artifacts
from modelcycle.serving._mlflow._service import MlflowTracking

PREFIX = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts"
_ERRORS = documented(MlflowErrorBody, 400, 401, 403, 404, 413, 429, 501, 503)
_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class EndpointNotFound(NotFound):
    """A path of MLflow's API that this server does not serve (``ENDPOINT_NOT_FOUND``)."""

    code = "endpoint_not_found"


async def tracking(request: Request) -> MlflowTracking:
    """The app's MLflow tracking service (built by ``create_app``)."""
    found: MlflowTracking = request.app.state.mlflow_tracking
    return found


async def artifacts(request: Request) -> Artifacts:
    """The app's MLflow artifact service (built by ``create_app``)."""
    found: Artifacts = request.app.state.mlflow_artifacts
    return found


Tracking = Annotated[MlflowTracking, Depends(tracking)]
Files = Annotated[Artifacts, Depends(artifacts)]
Reader = Annotated[Principal | None, Depends(permission("read"))]
Writer = Annotated[Principal | None, Depends(permission("train"))]

mlflow_tracking = APIRouter(
    tags=["mlflow tracking"],
    route_class=LenientJsonRoute,
    responses=_ERRORS,
    include_in_schema=False,  # MLflow's API, documented by MLflow (docs/clients.md)
)


def actor(principal: Principal | None) -> str:
    """Who the audit log names: the key's user, or the MLflow client without keys."""
    return principal.user if principal is not None else "mlflow-client"


# -- experiments -----------------------------------------------------------------------


@mlflow_tracking.post(f"{PREFIX}/experiments/create")
def create_experiment(body: api.CreateExperiment, service: Tracking, _: Writer) -> Any:
    return service.create_experiment(body)


@mlflow_tracking.get(f"{PREFIX}/experiments/get")
def get_experiment(
    service: Tracking, _: Reader, experiment_id: Annotated[str, Query(max_length=200)]
) -> Any:
    return service.get_experiment(experiment_id)


@mlflow_tracking.get(f"{PREFIX}/experiments/get-by-name")
def get_experiment_by_name(
    service: Tracking, _: Reader, experiment_name: Annotated[str, Query(max_length=1000)]
) -> Any:
    return service.get_experiment_by_name(experiment_name)


@mlflow_tracking.post(f"{PREFIX}/experiments/search")
def search_experiments(body: api.SearchExperiments, service: Tracking, _: Reader) -> Any:
    return service.search_experiments(body)


# -- runs ------------------------------------------------------------------------------


@mlflow_tracking.post(f"{PREFIX}/runs/create")
def create_run(body: api.CreateRun, service: Tracking, principal: Writer) -> Any:
    return service.create_run(body, actor(principal))


@mlflow_tracking.post(f"{PREFIX}/runs/update")
def update_run(body: api.UpdateRun, service: Tracking, _: Writer) -> Any:
    return service.update_run(body)


@mlflow_tracking.get(f"{PREFIX}/runs/get")
def get_run(
    service: Tracking,
    _: Reader,
    run_id: Annotated[str | None, Query(max_length=200)] = None,
    run_uuid: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    return service.get_run(run_id or run_uuid)


@mlflow_tracking.post(f"{PREFIX}/runs/search")
def search_runs(body: api.SearchRuns, service: Tracking, _: Reader) -> Any:
    return service.search_runs(body)


@mlflow_tracking.post(f"{PREFIX}/runs/log-metric")
def log_metric(body: api.LogMetric, service: Tracking, _: Writer) -> Any:
    return service.log_metric(body)


@mlflow_tracking.post(f"{PREFIX}/runs/log-parameter")
def log_param(body: api.LogParam, service: Tracking, _: Writer) -> Any:
    return service.log_param(body)


@mlflow_tracking.post(f"{PREFIX}/runs/set-tag")
def set_tag(body: api.SetTag, service: Tracking, _: Writer) -> Any:
    return service.set_tag(body)


@mlflow_tracking.post(f"{PREFIX}/runs/log-batch")
def log_batch(body: api.LogBatch, service: Tracking, _: Writer) -> Any:
    return service.log_batch(body)


@mlflow_tracking.post(f"{PREFIX}/runs/log-inputs")
def log_inputs(body: api.LogInputs, service: Tracking, _: Writer) -> Any:
    return service.log_inputs(body)


@mlflow_tracking.post(f"{PREFIX}/runs/outputs")
def log_outputs(body: api.LogOutputs, service: Tracking, _: Writer) -> Any:
    return service.log_outputs(body)


@mlflow_tracking.get(f"{PREFIX}/metrics/get-history")
def metric_history(
    service: Tracking,
    _: Reader,
    metric_key: Annotated[str, Query(max_length=1000)],
    run_id: Annotated[str | None, Query(max_length=200)] = None,
    run_uuid: Annotated[str | None, Query(max_length=200)] = None,
    max_results: Annotated[int, Query(ge=1, le=1_000_000)] = 25_000,
    page_token: Annotated[str | None, Query(max_length=1000)] = None,
) -> Any:
    return service.metric_history(run_id or run_uuid, metric_key, max_results, page_token)


@mlflow_tracking.get(f"{PREFIX}/artifacts/list")
def list_artifacts(
    service: Tracking,
    files: Files,
    _: Reader,
    run_id: Annotated[str | None, Query(max_length=200)] = None,
    run_uuid: Annotated[str | None, Query(max_length=200)] = None,
    path: Annotated[str, Query(max_length=1000)] = "",
) -> Any:
    run = service.get_run(run_id or run_uuid)["run"]["info"]
    root = run["artifact_uri"].split(":", 1)[1].lstrip("/")
    listed = files.listing(f"{root}/{path}".rstrip("/"))
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    return {
        "root_uri": run["artifact_uri"],
        "files": [{**item, "path": prefix + item["path"]} for item in listed],
    }


# -- logged models (MLflow 3) ----------------------------------------------------------


@mlflow_tracking.post(f"{PREFIX}/logged-models")
def create_logged_model(body: api.CreateLoggedModel, service: Tracking, principal: Writer) -> Any:
    return service.create_logged_model(body, actor(principal))


@mlflow_tracking.post(f"{PREFIX}/logged-models/search")
def search_logged_models(body: api.SearchLoggedModels, service: Tracking, _: Reader) -> Any:
    return service.search_logged_models(body)


@mlflow_tracking.get(f"{PREFIX}/logged-models/{{model_id}}")
def get_logged_model(model_id: str, service: Tracking, _: Reader) -> Any:
    return service.logged_model(model_id)


@mlflow_tracking.patch(f"{PREFIX}/logged-models/{{model_id}}")
def finalize_logged_model(
    model_id: str, body: api.FinalizeLoggedModel, service: Tracking, _: Writer
) -> Any:
    return service.change_logged_model(model_id, status=body.status)


@mlflow_tracking.patch(f"{PREFIX}/logged-models/{{model_id}}/tags")
def set_logged_model_tags(
    model_id: str, body: api.LoggedModelTags, service: Tracking, _: Writer
) -> Any:
    service.change_logged_model(model_id, tags={t.key: t.value or "" for t in body.tags})
    return {}


@mlflow_tracking.delete(f"{PREFIX}/logged-models/{{model_id}}/tags/{{key}}")
def delete_logged_model_tag(model_id: str, key: str, service: Tracking, _: Writer) -> Any:
    service.change_logged_model(model_id, deleted_tags=[key])
    return {}


@mlflow_tracking.post(f"{PREFIX}/logged-models/{{model_id}}/params")
def log_logged_model_params(
    model_id: str, body: api.LoggedModelParams, service: Tracking, _: Writer
) -> Any:
    service.change_logged_model(model_id, params={p.key: p.value or "" for p in body.params})
    return {}


# -- artifacts (MLflow's proxied artifact service) ---------------------------------------


@mlflow_tracking.get(f"{ARTIFACTS}/artifacts")
def list_artifact_folder(
    files: Files, _: Reader, path: Annotated[str, Query(max_length=2000)] = ""
) -> Any:
    return {"files": files.listing(path)}


async def upload_artifact(path: str, request: Request, files: Files, _: Writer) -> Any:
    """Store the body, of any content type, as the artifact at ``path``."""
    data = await request.body()  # at most max_body_bytes (BodyLimit)
    await run_in_threadpool(files.upload, path, data)
    return {}


# an artifact is sent with its own content type (text/html, image/png...): not JSON
mlflow_tracking.add_api_route(
    f"{ARTIFACTS}/artifacts/{{path:path}}",
    upload_artifact,
    methods=["PUT"],
    route_class_override=APIRoute,
)


@mlflow_tracking.get(f"{ARTIFACTS}/artifacts/{{path:path}}")
def download_artifact(path: str, files: Files, _: Reader) -> Response:
    return Response(files.download(path), media_type="application/octet-stream")


# -- everything else -------------------------------------------------------------------


@mlflow_tracking.api_route(f"{PREFIX}/{{rest:path}}", methods=_ANY)
@mlflow_tracking.api_route(f"{ARTIFACTS}/{{rest:path}}", methods=_ANY)
@mlflow_tracking.api_route("/api/3.0/mlflow/{rest:path}", methods=_ANY)
def not_served(request: Request, _: Reader) -> Any:
    raise EndpointNotFound(
        f"{request.method} {request.url.path[:200]} is not served: modelcycle serves the "
        "part of MLflow's tracking API that its Python client uses for experiments, runs, "
        "params, metrics, tags, datasets, logged models and artifacts (see docs/clients.md)"
    )
