"""Where policies live: one row per model in the ``policies`` table, every change audited.

Thread-safety: a :class:`PolicyStore` may be shared by threads and processes; each
change runs in one write transaction together with its audit event. Returned
:class:`Policy` objects are immutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import NotFound, ms_to_datetime, now_ms
from modelcycle.lifecycle._policy import Policy
from modelcycle.records import lock_key
from modelcycle.security._audit import append
from modelcycle.security._roles import default_actor
from modelcycle.store import Database, tables

_policies = tables.policies


@dataclass(frozen=True)
class StoredPolicy:
    """A policy with who stored it and when."""

    policy: Policy
    updated_at: datetime
    updated_by: str


class PolicyStore:
    """Set, read and delete the policies of a workspace.

    Examples
    --------
    >>> store = PolicyStore(workspace.db)  # doctest: +SKIP
    >>> store.set(Policy.from_toml("churn.toml"), actor="alice")  # doctest: +SKIP
    >>> store.get("churn").monitoring.every  # doctest: +SKIP
    '5m'
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, policy: Policy | Mapping[str, Any], *, actor: str | None = None) -> Policy:
        """Store ``policy`` for its model (replacing any), audited as ``policy.set``.

        Raises
        ------
        NotFound
            The policy names a model that is not registered, or a retraining ``source``
            file that does not exist.
        """
        if not isinstance(policy, Policy):
            policy = Policy.from_mapping(policy)
        _check_source(policy)
        actor = actor or default_actor()
        row = {
            "model": policy.model,
            "policy": policy.to_json(),
            "updated_at": now_ms(),
            "updated_by": actor,
        }

        def work(connection: Connection) -> None:
            _check_model(connection, policy.model)
            lock_key(connection, f"policy:{policy.model}")
            before = _read(connection, policy.model)
            if before is None:
                connection.execute(sa.insert(_policies).values(**row))
            else:
                where = _policies.c.model == policy.model
                connection.execute(sa.update(_policies).where(where).values(**row))
            old = before.to_dict() if before is not None else None
            target = f"{policy.model}:policy"
            append(
                connection,
                actor=actor,
                action="policy.set",
                target=target,
                before=old,
                after=policy.to_dict(),
            )

        self.db.transaction(work)
        return policy

    def get(self, model: str) -> Policy | None:
        """The policy of ``model``, or ``None`` when it has none."""
        with self.db.read() as connection:
            return _read(connection, model)

    def info(self, model: str) -> StoredPolicy:
        """The policy of ``model`` with who stored it and when.

        Raises
        ------
        NotFound
            ``model`` has no policy.
        """
        query = sa.select(_policies).where(_policies.c.model == model)
        with self.db.read() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            raise _missing(model)
        updated = ms_to_datetime(row["updated_at"])
        assert updated is not None
        return StoredPolicy(Policy.from_json(row["policy"]), updated, row["updated_by"])

    def list(self) -> list[Policy]:
        """Every stored policy, by model name."""
        query = sa.select(_policies.c.policy).order_by(_policies.c.model)
        with self.db.read() as connection:
            return [Policy.from_json(text) for text in connection.execute(query).scalars()]

    def delete(self, model: str, *, actor: str | None = None) -> None:
        """Remove the policy of ``model`` (audited as ``policy.delete``).

        Raises
        ------
        NotFound
            ``model`` has no policy.
        """
        actor = actor or default_actor()

        def work(connection: Connection) -> None:
            lock_key(connection, f"policy:{model}")
            before = _read(connection, model)
            if before is None:
                raise _missing(model)
            connection.execute(sa.delete(_policies).where(_policies.c.model == model))
            append(
                connection,
                actor=actor,
                action="policy.delete",
                target=f"{model}:policy",
                before=before.to_dict(),
            )

        self.db.transaction(work)


def _check_model(connection: Connection, name: str) -> None:
    models = tables.registered_models
    found = connection.execute(sa.select(models.c.model_id).where(models.c.name == name)).first()
    if found is None:
        raise NotFound(
            f"cannot set a policy for model {name!r}: no model of that name is registered; "
            "check the name ('modelcycle models list') or train it first",
            details={"model": name},
        )


def _check_source(policy: Policy) -> None:
    """A retraining source that is a file must exist (a database URL is checked when used)."""
    source = policy.retraining.source if policy.retraining is not None else None
    if source is None or "://" in source or Path(source).exists():
        return
    raise NotFound(
        f"policy for {policy.model!r}: retraining.source {source!r} does not exist; expected "
        "a CSV or Parquet file (a relative path counts from the policy file's folder) or a "
        "database URL with 'query'",
        details={"field": "retraining.source", "value": source},
    )


def _read(connection: Connection, model: str) -> Policy | None:
    query = sa.select(_policies.c.policy).where(_policies.c.model == model)
    text = connection.execute(query).scalar_one_or_none()
    return None if text is None else Policy.from_json(text)


def _missing(model: str) -> NotFound:
    return NotFound(
        f"model {model!r} has no policy; set one with 'modelcycle policy set <file.toml>'"
    )
