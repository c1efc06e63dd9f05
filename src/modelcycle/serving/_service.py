"""The one service every protocol's routes call: validate, predict, log, count."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import ModelcycleError
from modelcycle.serving._hub import ModelHub
from modelcycle.serving._log import LoggedRequest, PredictionLog
from modelcycle.serving._metrics import ServingMetrics
from modelcycle.serving._model import Inputs, ServedModel


@dataclass(frozen=True)
class Answer:
    """A served prediction: what answered and what it said."""

    request_id: str
    model: ServedModel
    predictions: NDArray[Any]
    probabilities: NDArray[np.float64] | None

    def to_v1(self) -> dict[str, Any]:
        """The ``/v1`` response body."""
        body: dict[str, Any] = {
            "request_id": self.request_id,
            "model": self.model.name,
            "version": self.model.version,
            "predictions": jsonable(self.predictions),
        }
        if self.probabilities is not None:
            body["classes"] = list(self.model.classes or ())
            body["probabilities"] = self.probabilities
        return body


def jsonable(values: NDArray[Any]) -> NDArray[Any] | list[Any]:
    """Numeric arrays as they are (orjson writes them natively); labels as a list."""
    return values if values.dtype.kind in "fiub" else values.tolist()


class PredictionService:
    """Answers predictions from the hub's current snapshot, logging and counting each.

    Parameters
    ----------
    hub:
        The served models.
    log:
        Where answered predictions go (``None`` disables logging).
    metrics:
        Prometheus counters and histograms.
    """

    def __init__(self, hub: ModelHub, log: PredictionLog | None, metrics: ServingMetrics) -> None:
        self.hub = hub
        self.log = log
        self.metrics = metrics

    def predict(self, ref: str, inputs: Inputs, *, protocol: str = "v1") -> Answer:
        """Predict with the version serving ``ref`` now."""
        return self.predict_with(self.hub.get(ref), inputs, protocol=protocol)

    def predict_with(self, model: ServedModel, inputs: Inputs, *, protocol: str) -> Answer:
        """Validate ``inputs`` against ``model``'s signature, predict, log and count."""
        started = time.perf_counter()
        try:
            if isinstance(inputs, list):
                n_rows = model.validator.rows(inputs)
            else:
                n_rows = model.validator.columns(inputs)
            prediction = model.predict(inputs)
        except ModelcycleError as error:
            self.metrics.failed(error.code)
            raise
        seconds = time.perf_counter() - started
        answer = Answer(uuid.uuid4().hex, model, prediction.predictions, prediction.probabilities)
        self.metrics.answered(model.name, model.version, protocol, seconds, n_rows)
        if self.log is not None:
            self.log.append(_logged(answer, inputs, seconds))
        return answer


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
    )
