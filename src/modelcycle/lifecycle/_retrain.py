"""The ``retrain`` job: train a challenger, compare it with the champion, promote or keep.

1. Training data: the policy's ``source`` plus (``include_feedback``) the labelled logged
   rows, except the most recent ``holdout_share`` of them, which are held out.
2. ``train_fn`` trains and registers a new version; it becomes ``@challenger``.
3. Champion and challenger score the held-out rows; a paired bootstrap of the
   challenger's gain gives an interval (:func:`~modelcycle.lifecycle.paired_bootstrap`).
4. ``promote`` when the whole interval lies above ``min_improvement``, else ``keep``.
   In ``promote`` mode the challenger is then promoted (the registry's gates apply; a
   refusal is the outcome, not a failure), and a ``check`` job watches it on new labels.

The comparison is stored with the job and in the audit log (``lifecycle.compare``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from modelcycle.core import NotFound, ValidationError, now_ms
from modelcycle.data import check_target, read_table
from modelcycle.lifecycle._context import WORKER_ACTOR, JobContext
from modelcycle.lifecycle._labelled import (
    compare_versions,
    labelled_rows,
    split_recent,
    training_rows,
)
from modelcycle.lifecycle._policy import RetrainingPolicy
from modelcycle.records import TrainingRecord
from modelcycle.registry import CHAMPION, ModelVersion, PromotionRefused

CHALLENGER = "challenger"


def run_retrain(context: JobContext) -> dict[str, Any]:
    """Handler of ``retrain`` jobs (see the module docs)."""
    policy = context.retraining()
    champion = current_champion(context, context.model)
    target = _target(context, policy, champion)
    recent, extra = _labelled_parts(context, policy, champion)
    frame = _training_frame(policy, target, extra, champion)
    context.check_lease()
    challenger = _train(context, frame, target, policy)
    context.check_lease()
    registry = context.services.registry
    registry.promote(context.model, challenger.version, CHALLENGER, actor=WORKER_ACTOR)
    result: dict[str, Any] = {
        "trigger": context.job.payload.get("trigger", "manual"),
        "version": challenger.version,
        "champion": champion.version if champion else None,
        "training_rows": len(frame),
        "feedback_rows": len(extra),
        "holdout_rows": len(recent),
    }
    result |= _judge(context, policy, champion, challenger, recent)
    result |= _act(context, policy, champion, challenger, result["decision"])
    audited = ("trigger", "champion", "decision", "outcome", "reason", "comparison")
    context.audit("lifecycle.compare", challenger.ref, {key: result.get(key) for key in audited})
    return result


def current_champion(context: JobContext, model: str) -> ModelVersion | None:
    """The model's ``@champion``, or ``None`` when it has none (or no versions yet)."""
    try:
        return context.services.registry.resolve(f"{model}@{CHAMPION}")
    except NotFound:
        return None


def _target(context: JobContext, policy: RetrainingPolicy, champion: ModelVersion | None) -> str:
    if policy.target:
        return policy.target
    if champion is not None and champion.run_id is not None:
        target = TrainingRecord(context.services.tracker.get_run(champion.run_id)).target
        if target is not None:
            return target
    raise ValidationError(
        f"the target column of model {context.model!r} is not known (its champion was not "
        "trained by modelcycle train); set 'target' in the policy's retraining section"
    )


def _labelled_parts(
    context: JobContext, policy: RetrainingPolicy, champion: ModelVersion | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(held-out recent rows, older rows as training rows)`` of the labelled log."""
    if champion is None:
        return pd.DataFrame(), pd.DataFrame()
    rows = labelled_rows(context.services.layout, context.model, champion.signature)
    older, recent = split_recent(rows, policy.holdout_share)
    if not policy.include_feedback or older.empty:
        return recent, pd.DataFrame()
    return recent, older


def _training_frame(
    policy: RetrainingPolicy, target: str, older: pd.DataFrame, champion: ModelVersion | None
) -> pd.DataFrame:
    base = read_table(policy.source, sql=policy.query)
    check_target(base, target, source=f"the retraining source {policy.source!r}")
    if older.empty or champion is None:
        return base
    rows = _feedback(training_rows(older, champion.signature, target), base, target)
    return pd.concat([base, rows], ignore_index=True)


def _feedback(rows: pd.DataFrame, base: pd.DataFrame, target: str) -> pd.DataFrame:
    """Labelled logged rows shaped like the source: its columns, its target type."""
    rows = rows.reindex(columns=list(base.columns))
    kind = base[target].dtype
    if pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind):
        rows[target] = pd.to_numeric(rows[target], errors="coerce")
    return rows.dropna(subset=[target])


def _train(
    context: JobContext, frame: pd.DataFrame, target: str, policy: RetrainingPolicy
) -> ModelVersion:
    train_fn = context.loop.train_fn
    if train_fn is None:
        raise ValidationError(
            "this worker has no train function; start it from a workspace "
            "(Workspace.worker or 'modelcycle worker') to run retrain jobs"
        )
    result = train_fn(frame, target=target, name=context.model, budget=policy.budget)
    version = getattr(result, "version", None)
    if not isinstance(version, ModelVersion):
        raise ValidationError(
            f"the train function returned {type(result).__name__} without a registered "
            "version; it must register the model under the policy's model name"
        )
    return version


def _judge(
    context: JobContext,
    policy: RetrainingPolicy,
    champion: ModelVersion | None,
    challenger: ModelVersion,
    recent: pd.DataFrame,
) -> dict[str, Any]:
    """The decision and the comparison behind it."""
    if champion is None:
        return {"decision": "promote", "reason": "the model has no champion yet"}
    if len(recent) < 2:
        reason = f"{len(recent)} recent labelled row(s) held out; a comparison needs at least 2"
        return {"decision": "keep", "reason": reason, "comparison": None}
    comparison, facts = compare_versions(
        context.services.registry,
        (champion, challenger),
        recent,
        metric=policy.metric,
        confidence=policy.confidence,
        n_resamples=policy.resamples,
        seed=policy.seed,
    )
    decision = comparison.decide(policy.min_improvement)
    reason = (
        f"{comparison.metric}: challenger gains {comparison.improvement:+.4g} over the champion "
        f"on {comparison.n} recent labelled rows, {comparison.confidence:.0%} interval "
        f"[{comparison.low:+.4g}, {comparison.high:+.4g}]; needed > {policy.min_improvement:g}"
    )
    return {"decision": decision, "reason": reason, "comparison": comparison.to_dict(), **facts}


def _act(
    context: JobContext,
    policy: RetrainingPolicy,
    champion: ModelVersion | None,
    challenger: ModelVersion,
    decision: str,
) -> dict[str, Any]:
    """Carry out the decision in the policy's mode; a refused promotion is an outcome."""
    if decision != "promote":
        return {"outcome": "kept"}
    if policy.mode == "propose":
        return {"outcome": "proposed"}
    context.check_lease()
    try:
        context.services.registry.promote(
            context.model, challenger.version, CHAMPION, actor=WORKER_ACTOR
        )
    except PromotionRefused as refused:
        return {"outcome": "refused", "refused": refused.reasons}
    check = _watch(context, champion, challenger)
    return {"outcome": "promoted", "check_job": check}


def _watch(
    context: JobContext, champion: ModelVersion | None, challenger: ModelVersion
) -> str | None:
    """Enqueue the ``check`` job that judges the new champion on labels still to come."""
    policy = context.policy()
    if not policy.rollback.enabled or champion is None:
        return None
    payload = {
        "version": challenger.version,
        "previous": champion.version,
        "promoted_at": now_ms(),
    }
    job = context.services.jobs.enqueue(
        "check",
        context.model,
        payload,
        dedupe_key=f"check:{context.model}/{challenger.version}",
    )
    return None if job is None else job.job_id
