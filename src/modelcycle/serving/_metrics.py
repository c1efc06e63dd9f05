"""Prometheus metrics of one app (its own registry: two apps in one process do not mix)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_ROW_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServingMetrics:
    """Requests, errors by kind, latency, batch sizes and queue depth per model and version."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelcycle_predict_requests",
            "Answered prediction requests (route: primary, canary or shadow).",
            ["model", "version", "protocol", "route"],
            registry=self.registry,
        )
        self.errors = Counter(
            "modelcycle_predict_errors",
            "Requests refused or failed, by error kind (every error response, including "
            "bodies refused before parsing; shadow failures as 'shadow_<kind>').",
            ["kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelcycle_predict_latency_seconds",
            "Time to validate and predict one request.",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Histogram(
            "modelcycle_predict_rows",
            "Rows per prediction request.",
            ["model", "version"],
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "modelcycle_batch_requests",
            "Requests answered by one micro-batched model call.",
            ["model", "version"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "modelcycle_batch_rows",
            "Rows in one micro-batched model call.",
            ["model", "version"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "modelcycle_auth_failures",
            "Requests refused for their credentials, by reason (missing, malformed, unknown, "
            "revoked, expired, disabled, role_revoked); never labelled by key.",
            ["reason"],
            registry=self.registry,
        )
        self.feedback_labels = Counter(
            "modelcycle_feedback_labels",
            "Delayed labels accepted by POST /v1/models/{ref}/feedback.",
            ["model"],
            registry=self.registry,
        )
        self.log_rows_dropped = Counter(
            "modelcycle_log_rows_dropped",
            "Rows the prediction or feedback log left out (log: predictions or feedback), by "
            "reason: 'unencodable' (a value the log cannot write, e.g. text with a lone "
            "surrogate) or 'write_failed' (the segment file could not be written).",
            ["model", "reason", "log"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "modelcycle_batch_queue_depth",
            "Requests waiting for their micro-batch to run.",
            ["model"],
            registry=self.registry,
        )

    def answered(
        self, model: str, version: int, protocol: str, seconds: float, n_rows: int, route: str
    ) -> None:
        """Record one answered request."""
        labels = (model, str(version))
        self.requests.labels(model, str(version), protocol, route).inc()
        self.latency.labels(*labels).observe(seconds)
        self.rows.labels(*labels).observe(n_rows)

    def failed(self, kind: str) -> None:
        """Record one refused or failed request."""
        self.errors.labels(kind).inc()

    def auth_failed(self, reason: str) -> None:
        """Record one request refused for its credentials."""
        self.auth_failures.labels(reason).inc()

    def labelled(self, model: str, n_labels: int) -> None:
        """Record accepted delayed labels."""
        self.feedback_labels.labels(model).inc(n_labels)

    def log_dropped(self, log: str, model: str, reason: str, rows: int) -> None:
        """Record rows a log left out (the logs' ``on_drop`` callback)."""
        self.log_rows_dropped.labels(model, reason, log).inc(rows)

    def batched(self, model: str, version: int, n_requests: int, n_rows: int) -> None:
        """Record one micro-batched model call."""
        self.batch_requests.labels(model, str(version)).observe(n_requests)
        self.batch_rows.labels(model, str(version)).observe(n_rows)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
