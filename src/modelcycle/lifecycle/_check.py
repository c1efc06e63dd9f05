"""The ``check`` job: after a promotion, judge the new champion on labels it earned itself.

Once ``rollback.min_labelled_rows`` rows answered by the new champion have labels, the
previous champion re-scores the same rows and a paired bootstrap compares them. If the
new champion is worse with confidence (the whole interval of its gain lies below 0), the
champion alias is rolled back; otherwise the promotion is confirmed. Until enough labels
exist the job defers itself (not counted as a failed attempt). Each verdict is audited
as ``lifecycle.check``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from modelcycle.lifecycle._compare import Comparison
from modelcycle.lifecycle._context import WORKER_ACTOR, Defer, JobContext
from modelcycle.lifecycle._labelled import compare_versions, labelled_rows
from modelcycle.lifecycle._policy import Policy, RetrainingPolicy
from modelcycle.lifecycle._retrain import current_champion
from modelcycle.registry import CHAMPION, ModelVersion


def run_check(context: JobContext) -> dict[str, Any]:
    """Handler of ``check`` jobs (see the module docs)."""
    payload = context.job.payload
    version, previous = int(payload["version"]), int(payload["previous"])
    champion = current_champion(context, context.model)
    if champion is None or champion.version != version:
        now = champion.version if champion else None
        return {"outcome": "superseded", "version": version, "champion": now}
    policy = context.policy()
    if not policy.rollback.enabled:
        return {"outcome": "skipped", "version": version, "reason": "rollback is disabled"}
    since = int(payload.get("promoted_at", 0)) or None
    layout, model = context.services.layout, context.model
    rows = labelled_rows(layout, model, champion.signature, versions=[version], since_ms=since)
    needed = policy.rollback.min_labelled_rows
    if len(rows) < needed:
        raise Defer(
            policy.rollback.check_every_s,
            f"{len(rows)} of {needed} labelled rows answered by version {version} so far",
        )
    comparison, facts = _compare(context, policy, (previous, champion), rows)
    outcome = _roll_back(context) if comparison.high < 0 else "confirmed"
    result = {
        "outcome": outcome,
        "version": version,
        "previous": previous,
        "comparison": comparison.to_dict(),
        **facts,
    }
    context.audit("lifecycle.check", champion.ref, result)
    return result


def _compare(
    context: JobContext,
    policy: Policy,
    versions: tuple[int, ModelVersion],
    rows: pd.DataFrame,
) -> tuple[Comparison, dict[str, Any]]:
    """The previous champion (A) against the new one (B), with the retraining settings."""
    registry = context.services.registry
    retraining = policy.retraining or RetrainingPolicy(source="-")  # its defaults
    previous, champion = versions
    return compare_versions(
        registry,
        (registry.get_version(context.model, previous), champion),
        rows,
        metric=retraining.metric,
        confidence=retraining.confidence,
        n_resamples=retraining.resamples,
        seed=retraining.seed,
    )


def _roll_back(context: JobContext) -> str:
    context.check_lease()
    context.services.registry.rollback(context.model, CHAMPION, actor=WORKER_ACTOR)
    return "rolled_back"
