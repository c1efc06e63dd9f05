"""What a job handler is given: the workspace's services, its job, and its lease.

A handler is a function ``handler(context) -> result`` registered for a job kind
(:class:`~modelcycle.lifecycle.Worker` ``handlers=``). Its result (JSON values) is
stored with the job. It raises :class:`Defer` to be run again later without
counting a failed attempt, and calls :meth:`JobContext.check_lease` before a change
that must not happen twice (a promotion), so a worker that lost its lease stops.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from modelcycle.core import Conflict, NotFound, ValidationError
from modelcycle.lifecycle._policy import Policy, RetrainingPolicy
from modelcycle.lifecycle._policy_store import PolicyStore
from modelcycle.records import Job
from modelcycle.security._audit import append
from modelcycle.services import Services

if TYPE_CHECKING:
    import pandas as pd

#: The actor recorded in the audit log for what the worker does.
WORKER_ACTOR = "worker"


class TrainFn(Protocol):
    """Trains and registers a model, as :meth:`modelcycle.Workspace.train` does.

    The result must have a ``version`` attribute: the registered
    :class:`~modelcycle.registry.ModelVersion`.
    """

    def __call__(self, data: Any, *, target: str, name: str | None, budget: float) -> Any: ...


@dataclass(frozen=True)
class Loop:
    """What the closed loop works with: a workspace's services, its policies, how to train.

    Training is injected (``train_fn``, a workspace's ``train``) because lifecycle sits
    below the workspace; so is how a ``monitor`` job reads the prediction log
    (``read_fn``, as :func:`~modelcycle.monitoring.read_predictions`; a workspace with a
    Dask cluster reads it there).
    """

    services: Services
    policies: PolicyStore
    train_fn: TrainFn | None = None
    read_fn: Callable[..., pd.DataFrame] | None = None


class Defer(Exception):
    """Raised by a handler with nothing to do yet: run the job again after ``delay_s``.

    The attempt is not counted; ``payload`` (when given) replaces the job's payload.
    """

    def __init__(self, delay_s: float, reason: str, payload: Mapping[str, Any] | None = None):
        super().__init__(reason)
        self.delay_s = delay_s
        self.reason = reason
        self.payload = payload


class LeaseLost(Conflict):
    """The worker's lease on a job expired and another worker may have taken it."""


@dataclass(frozen=True)
class JobContext:
    """One running job with the services it may use."""

    job: Job
    loop: Loop
    lease_lost: threading.Event

    @property
    def services(self) -> Services:
        """The workspace's services."""
        return self.loop.services

    @property
    def model(self) -> str:
        """The job's model (a job kind that needs one refuses a job without it)."""
        if not self.job.model:
            raise ValidationError(f"{self.job.kind} job {self.job.job_id} names no model")
        return self.job.model

    def policy(self) -> Policy:
        """The stored policy of the job's model.

        Raises
        ------
        NotFound
            The model has no policy.
        """
        found = self.loop.policies.get(self.model)
        if found is None:
            raise NotFound(
                f"model {self.model!r} has no policy; set one with "
                "'modelcycle policy set <file.toml>'"
            )
        return found

    def retraining(self) -> RetrainingPolicy:
        """The ``[retraining]`` part of the model's policy (required for retraining)."""
        retraining = self.policy().retraining
        if retraining is None:
            raise ValidationError(
                f"the policy of model {self.model!r} has no retraining section; add one with "
                "'source' (the training data) to retrain it"
            )
        return retraining

    def check_lease(self) -> None:
        """Raise :class:`LeaseLost` when the heartbeat could not renew the lease."""
        if self.lease_lost.is_set():
            raise LeaseLost(
                f"job {self.job.job_id} ({self.job.kind}) lost its lease; another worker may be "
                "running it, so this one stops before changing anything"
            )

    def audit(self, action: str, target: str, after: Mapping[str, Any]) -> None:
        """Append one audit event by the worker, naming this job in ``after``."""
        event = {**after, "job_id": self.job.job_id}
        self.services.db.transaction(
            lambda connection: append(
                connection, actor=WORKER_ACTOR, action=action, target=target, after=event
            )
        )


Handler = Callable[[JobContext], Any]


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and tuples as lists (for stored results).

    Examples
    --------
    >>> json_safe({"a": float("nan"), "b": (1, 2.5)})
    {'a': None, 'b': [1, 2.5]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return json_safe(value.item())
    return value
