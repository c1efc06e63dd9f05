"""``create_app``: the prediction server, built from objects (no module-level state)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import FastAPI

from modelcycle._version import __version__
from modelcycle.services import Services
from modelcycle.serving._auth import (
    OPEN_PATHS,
    Authenticator,
    Gatekeeper,
    PrincipalCache,
    TokenBuckets,
)
from modelcycle.serving._batcher import MicroBatcher
from modelcycle.serving._docs_assets import DOCS_PATHS, install_offline_docs
from modelcycle.serving._errors import BodyLimit, install_error_handlers
from modelcycle.serving._feedback import FeedbackService
from modelcycle.serving._hub import ModelHub
from modelcycle.serving._log import FeedbackLog, PredictionLog
from modelcycle.serving._metrics import ServingMetrics
from modelcycle.serving._mlflow import Artifacts, MlflowTracking, mlflow_tracking
from modelcycle.serving._monitoring import MonitoringReader
from modelcycle.serving._offload import ModelThreads
from modelcycle.serving._privacy import Redactor
from modelcycle.serving._routes import health, v1
from modelcycle.serving._routes_ecosystem import mlflow, probes
from modelcycle.serving._routes_monitoring import monitoring
from modelcycle.serving._routes_v2 import v2
from modelcycle.serving._routing import Router, parse_canary, parse_shadow
from modelcycle.serving._service import PredictionService
from modelcycle.serving._settings import ServeSettings
from modelcycle.serving._workers import WorkerHeader

_LOG = logging.getLogger("modelcycle.serving")


def create_app(
    services: Services,
    settings: ServeSettings,
    *,
    auth_required: bool = True,
    log_salt: bytes | None = None,
    worker: bool = False,
) -> FastAPI:
    """Build the prediction server of ``services``' workspace for ``settings.models``.

    Every route but the probes (``/health/*``, ``/v2/health/*``, ``/ready``, ``/ping``,
    ``/health``), ``/metrics`` and the documentation (``/docs``, ``/openapi.json``) needs
    ``Authorization: Bearer <key>``, checked against the workspace's users and keys before
    the body is read: 401 without a valid key, 403 without the permission, 429 past the
    key's rate or after ``settings.auth_failure_limit`` failed authentications from one
    client address. ``auth_required=False`` lets every caller do everything (serve on
    loopback only). Key checks are cached for ``settings.auth_cache_ttl_s`` seconds, so a
    revoked key works until then. MLflow's client logs runs into the workspace through
    MLflow's tracking REST API on the same server (``/api/2.0/mlflow/...``).

    Inputs the signature marks sensitive are hashed (with ``log_salt``; a random
    salt per app when ``None``) or dropped in the prediction log.

    Models load (verified and warmed) in the background after start-up;
    ``/health/ready`` answers 200 once all are in (canary and shadow challengers
    included). Concurrent small requests are micro-batched per version. Model calls, and
    the decoding and validation of large requests, run in ``settings.model_threads``
    threads, never on the event loop, so health probes answer during any request. Aliases
    are followed every ``settings.poll_interval_s`` seconds. Answered predictions, and
    requests refused for their inputs or failed in the model, go to the workspace's
    prediction log, delayed labels (``POST /v1/models/{ref}/feedback``) to its feedback
    log, both where ``services.layout`` says; a model's alerts and latest monitoring
    report are read from the workspace database and the layout's reports.

    ``worker=True`` builds the app of one of several processes serving one port
    (``modelcycle serve --workers N``): its models load before it accepts a
    connection, and every response names the process in ``X-Modelcycle-Worker``.

    Examples
    --------
    >>> import modelcycle as mc, uvicorn  # doctest: +SKIP
    >>> ws = mc.Workspace()  # doctest: +SKIP
    >>> app = create_app(ws.services, ServeSettings(models=("churn",)))  # doctest: +SKIP
    >>> uvicorn.run(app)  # doctest: +SKIP
    """
    parts = _Parts.build(services, settings, log_salt or os.urandom(32))
    app = FastAPI(
        title="modelcycle prediction server",
        version=__version__,
        lifespan=_lifespan(parts, settings, worker=worker),
        docs_url=None,  # /docs and /redoc without a CDN: install_offline_docs
        redoc_url=None,
    )
    install_offline_docs(app)
    app.state.service = parts.predictor
    app.state.feedback = parts.receiver
    app.state.model_threads = parts.predictor.threads  # large bodies are decoded there too
    app.state.monitoring = MonitoringReader(services.db, services.layout)
    app.state.gatekeeper = gate = _gatekeeper(services, settings, parts.metrics, auth_required)
    app.state.mlflow_tracking = MlflowTracking(services.tracker)  # MLflow's client logs here
    app.state.mlflow_artifacts = Artifacts(services.tracker)
    app.state.settings = settings
    install_error_handlers(app)
    for router in (v1, monitoring, health, v2, mlflow, probes, mlflow_tracking):
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, count=parts.metrics.failed)
    if auth_required:  # outside BodyLimit: a caller without a key learns nothing else
        app.add_middleware(Authenticator, gatekeeper=gate, open_paths=_open_paths(app))
    if worker:
        app.add_middleware(WorkerHeader)
    return app


@dataclass(frozen=True)
class _Parts:
    """What one app runs: the models, the logs, the model threads, the services on them."""

    hub: ModelHub
    metrics: ServingMetrics
    log: PredictionLog | None
    labels: FeedbackLog
    threads: ModelThreads
    predictor: PredictionService
    receiver: FeedbackService

    @classmethod
    def build(cls, services: Services, settings: ServeSettings, salt: bytes) -> _Parts:
        canaries = tuple(parse_canary(text) for text in settings.canary)
        shadows = tuple(parse_shadow(text) for text in settings.shadow)
        refs = settings.models + tuple(c.ref for c in (*canaries, *shadows))
        hub = ModelHub(
            services.registry, refs, max_rows=settings.max_rows, onnx_threads=settings.onnx_threads
        )
        redactor = Redactor(settings.sensitive_inputs, salt)
        metrics = ServingMetrics()
        flush, most = settings.log_flush_interval_s, settings.log_max_buffer
        layout = services.layout  # writes to its staging folders (the logs when local)
        remote = layout.remote is not None
        log = (
            PredictionLog(
                layout.staging.predictions,
                flush_interval_s=flush,
                max_buffer=most,
                redactor=redactor,
                on_drop=metrics.log_dropped,
                publish=layout.publish_predictions if remote else None,
            )
            if settings.log_predictions
            else None
        )
        labels = FeedbackLog(
            layout.staging.feedback,
            flush_interval_s=flush,
            max_buffer=most,
            on_drop=metrics.log_dropped,
            publish=layout.publish_feedback if remote else None,
        )
        threads = ModelThreads(settings.model_threads)
        batcher = MicroBatcher(
            window_s=settings.batch_window_ms / 1000.0,
            max_rows=settings.max_batch_rows,
            metrics=metrics,
            threads=threads,
        )
        router = Router(hub, canaries, shadows, seed=settings.route_seed)
        predictor = PredictionService(
            hub, log, metrics, batcher, router, explain_top_k=settings.explain_top_k
        )
        receiver = FeedbackService(
            hub, labels, metrics, redactor=redactor, max_items=settings.max_rows
        )
        return cls(hub, metrics, log, labels, threads, predictor, receiver)


def _lifespan(
    parts: _Parts, settings: ServeSettings, *, worker: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Start the logs and the alias watcher; on shutdown, finish answers, then flush."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if parts.log is not None:
            parts.log.start()
        parts.labels.start()
        if worker:  # accept connections only once the models are in (see _workers.py)
            await _first_load(parts.hub, freeze_gc=settings.freeze_gc)
        watcher = asyncio.create_task(
            parts.hub.watch(settings.poll_interval_s, freeze_gc=settings.freeze_gc)
        )
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await asyncio.to_thread(parts.threads.close)  # answers in flight reach the log
            if parts.log is not None:
                await asyncio.to_thread(parts.log.close)
            await asyncio.to_thread(parts.labels.close)

    return lifespan


def _gatekeeper(
    services: Services, settings: ServeSettings, metrics: ServingMetrics, required: bool
) -> Gatekeeper:
    return Gatekeeper(
        services.security,
        required=required,
        cache=PrincipalCache(settings.auth_cache_ttl_s),
        buckets=TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst),
        metrics=metrics,
        failures=TokenBuckets(
            settings.auth_failure_limit / settings.auth_failure_window_s,
            settings.auth_failure_limit,
        ),
    )


def _open_paths(app: FastAPI) -> frozenset[str]:
    """The paths answered without a key: health probes, metrics, the API's documentation."""
    return OPEN_PATHS | DOCS_PATHS | {path for path in (app.openapi_url,) if path}


async def _first_load(hub: ModelHub, *, freeze_gc: bool) -> None:
    """Load the served models once (a failure is logged; the watcher keeps trying)."""
    try:
        changed = await asyncio.to_thread(hub.refresh)
    except Exception:
        _LOG.exception("serving: loading the served models failed")
        return
    if changed and freeze_gc:  # as the watcher does after a change (ServeSettings.freeze_gc)
        gc.collect()
        gc.freeze()
