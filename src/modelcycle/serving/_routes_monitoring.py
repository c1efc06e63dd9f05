"""The monitoring routes: a model's alerts and its latest monitoring report (needs ``read``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from modelcycle.registry import MODEL_NAME_PATTERN
from modelcycle.serving._auth import model_in_path, permission
from modelcycle.serving._monitoring import MonitoringReader
from modelcycle.serving._routes import AUTH_ERRORS
from modelcycle.serving._schemas import AlertBody, Alerts

monitoring = APIRouter(prefix="/v1", tags=["monitoring"])
_READ = Depends(permission("read", model=model_in_path("name")))
ModelName = Annotated[
    str, Path(pattern=MODEL_NAME_PATTERN, max_length=100, description="A registered model.")
]


async def reader(request: Request) -> MonitoringReader:
    """The app's monitoring reader (built by ``create_app``)."""
    found: MonitoringReader = request.app.state.monitoring
    return found


Reader = Annotated[MonitoringReader, Depends(reader)]


@monitoring.get(
    "/models/{name}/alerts",
    response_model=Alerts,
    responses=AUTH_ERRORS,
    summary="List a model's alerts",
    dependencies=[_READ],
)
async def alerts(
    name: ModelName,
    source: Reader,
    since: Annotated[datetime | None, Query(description="Only alerts at or after.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Newest alerts kept.")] = 100,
) -> Alerts:
    """The alerts monitoring raised for the model, newest first (needs ``read``)."""
    found = await asyncio.to_thread(source.alerts, name, since=since, limit=limit)
    return Alerts(alerts=[AlertBody(**alert) for alert in found])


@monitoring.get(
    "/models/{name}/monitoring",
    response_model=dict[str, Any],
    responses=AUTH_ERRORS,
    summary="The latest monitoring report of a model",
    dependencies=[_READ],
)
async def monitoring_report(name: ModelName, source: Reader) -> Response:
    """The report the last monitoring pass saved (``monitor.json``), as stored.

    404 until ``modelcycle monitor <name>`` or a worker with a policy has run.
    """
    report = await asyncio.to_thread(source.report, name)
    return Response(report, media_type="application/json")
