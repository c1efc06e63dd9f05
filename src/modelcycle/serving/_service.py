"""The one service every protocol's routes call: route, validate, predict, explain, log, count."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from starlette.background import BackgroundTask

from modelcycle.core import ModelcycleError
from modelcycle.serving._batcher import MicroBatcher
from modelcycle.serving._encode import json_ready
from modelcycle.serving._errors import ModelFailed
from modelcycle.serving._explain import explain
from modelcycle.serving._hub import ModelHub
from modelcycle.serving._log import PredictionLog
from modelcycle.serving._log_request import LoggedRequest
from modelcycle.serving._metrics import ServingMetrics
from modelcycle.serving._model import Inputs, Prediction, ServedModel
from modelcycle.serving._offload import INLINE_MAX_ROWS, row_count
from modelcycle.serving._routing import Route, Router
from modelcycle.serving._validate import Checked

_LOG = logging.getLogger("modelcycle.serving")


@dataclass(frozen=True)
class Answer:
    """A served prediction: what answered, how it was routed and what it said."""

    request_id: str
    model: ServedModel
    predictions: NDArray[Any]
    probabilities: NDArray[np.float64] | None
    route: Route = "primary"
    explanations: list[dict[str, Any]] | None = None

    def to_v1(self) -> dict[str, Any]:
        """The ``/v1`` response body (model output of any dtype, order or stride)."""
        body: dict[str, Any] = {
            "request_id": self.request_id,
            "model": self.model.name,
            "version": self.model.version,
            "predictions": json_ready(self.predictions),
        }
        if self.probabilities is not None:
            body["classes"] = list(self.model.classes or ())
            body["probabilities"] = json_ready(self.probabilities)
        if self.explanations is not None:
            body["explanations"] = self.explanations
        return body


class PredictionService:
    """Answers predictions from the hub's current snapshot, logging and counting each.

    Errors are counted where they become responses (the app's error handlers), so a
    request refused before it reaches the service is counted too.

    Parameters
    ----------
    hub:
        The served models.
    log:
        Where answered predictions go (``None`` disables logging).
    metrics:
        Prometheus counters and histograms.
    batcher:
        Gathers concurrent small requests into one model call; its threads also run
        every other model call and the validation of large requests (off the loop).
    router:
        Canary split and shadow mirrors (``None``: every request goes to its reference).
    explain_top_k:
        Contributions per row when a request asks for explanations without a count.
    """

    def __init__(
        self,
        hub: ModelHub,
        log: PredictionLog | None,
        metrics: ServingMetrics,
        batcher: MicroBatcher,
        router: Router | None = None,
        *,
        explain_top_k: int = 5,
    ) -> None:
        self.hub = hub
        self.threads = batcher.threads  # model calls and large validations: off the loop
        self.explain_top_k = explain_top_k
        self.log = log
        self.metrics = metrics
        self.batcher = batcher
        self.router = router or Router(hub)

    async def predict(
        self, ref: str, inputs: Inputs, *, protocol: str = "v1", explain_top_k: int | None = None
    ) -> Answer:
        """Predict with the version routed to for ``ref`` now (its canary, for a share)."""
        model, route = self.router.choose(ref)
        return await self.predict_with(
            model, inputs, protocol=protocol, route=route, explain_top_k=explain_top_k
        )

    async def predict_with(
        self,
        model: ServedModel,
        inputs: Inputs,
        *,
        protocol: str,
        route: Route = "primary",
        explain_top_k: int | None = None,
        request_id: str | None = None,
    ) -> Answer:
        """Validate ``inputs`` against ``model``'s signature, predict, log and count.

        A request refused for its inputs, or failed in the model (raised again as
        :class:`ModelFailed`), is logged as one error row with that error's code.
        """
        started = time.perf_counter()
        request_id = request_id or uuid.uuid4().hex
        try:
            checked, prediction, explanations = await self._predict(model, inputs, explain_top_k)
        except ModelcycleError as error:
            self._refused(request_id, model, route, started, error.code)
            raise
        except Exception as error:
            self._refused(request_id, model, route, started, ModelFailed.code)
            _LOG.exception("serving: %s/%s failed to predict", model.name, model.version)
            raise ModelFailed(
                f"model {model.name!r} version {model.version} failed to predict "
                f"({type(error).__name__}); the error is in the server log",
                details={"model": model.name, "version": model.version},
            ) from error
        seconds = time.perf_counter() - started
        answer = Answer(
            request_id,
            model,
            prediction.predictions,
            prediction.probabilities,
            route,
            explanations,
        )
        self.metrics.answered(model.name, model.version, protocol, seconds, checked.n_rows, route)
        if self.log is not None:
            self.log.append(_logged(answer, inputs, seconds))
        return answer

    async def _predict(
        self, model: ServedModel, inputs: Inputs, explain_top_k: int | None
    ) -> tuple[Checked, Prediction, list[dict[str, Any]] | None]:
        """Validate and predict (and explain), every model call in a model thread."""
        if explain_top_k is not None:  # the same rows' contributions: no batching, one hop
            return await self.threads.run(_explained, model, inputs, explain_top_k)
        if row_count(inputs) < INLINE_MAX_ROWS:
            checked = model.validator.prepare(inputs)
        else:
            checked = await self.threads.run(model.validator.prepare, inputs)
        prediction = await self.batcher.predict(
            model, inputs, checked.n_rows, columns=checked.columns
        )
        return checked, prediction, None

    def refuse(self, ref: str, error: ModelcycleError) -> None:
        """Log a request for ``ref`` refused before validation (a protocol's payload shape).

        Nothing is logged when ``ref`` has no loaded version (the request reached no model).
        """
        try:
            model = self.hub.get(ref)
        except ModelcycleError:
            return
        self._refused(uuid.uuid4().hex, model, "primary", time.perf_counter(), error.code)

    def _refused(
        self, request_id: str, model: ServedModel, route: Route, started: float, code: str
    ) -> None:
        if self.log is None:
            return
        self.log.append(
            LoggedRequest(
                request_id=request_id,
                time=datetime.now(UTC),
                model=model.name,
                version=model.version,
                inputs=None,
                predictions=None,
                probabilities=None,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                route=route,
                error=code,
            )
        )

    def mirror(
        self, ref: str, answer: Answer, inputs: Inputs, *, protocol: str = "v1"
    ) -> BackgroundTask | None:
        """The shadow prediction of a request, to run after its response is sent (or None)."""
        shadow = self.router.shadow_of(ref, answer.model)
        if shadow is None:
            return None
        return BackgroundTask(self._shadow, shadow, inputs, protocol, answer.request_id)

    async def _shadow(
        self, model: ServedModel, inputs: Inputs, protocol: str, request_id: str
    ) -> None:
        try:
            await self.predict_with(
                model, inputs, protocol=protocol, route="shadow", request_id=request_id
            )
        except ModelcycleError as error:  # a shadow never affects the answer: count, log
            self.metrics.failed(f"shadow_{error.code}")
            _LOG.warning("serving: shadow %s/%s: %s", model.name, model.version, error.message)
        except Exception:
            self.metrics.failed("shadow_internal")
            _LOG.exception("serving: shadow %s/%s failed", model.name, model.version)


def _explained(
    model: ServedModel, inputs: Inputs, top_k: int
) -> tuple[Checked, Prediction, list[dict[str, Any]]]:
    """Validate, predict and explain one request (in a model thread)."""
    checked = model.validator.prepare(inputs)
    readable = checked.columns if checked.columns is not None else inputs
    prediction = model.predict(readable)
    return checked, prediction, explain(model, readable, prediction, top_k)


def _logged(answer: Answer, inputs: Inputs, seconds: float) -> LoggedRequest:
    return LoggedRequest(
        request_id=answer.request_id,
        time=datetime.now(UTC),
        model=answer.model.name,
        version=answer.model.version,
        inputs=inputs,
        predictions=answer.predictions,
        probabilities=answer.probabilities,
        latency_ms=seconds * 1000.0,
        route=answer.route,
        sensitive=answer.model.sensitive,
    )
