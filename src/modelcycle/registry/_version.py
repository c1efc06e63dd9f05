"""Registry value objects: model versions, registered models and alias events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelcycle.core import ALIAS, MODEL_NAME, ms_to_datetime
from modelcycle.packaging import Signature

READY = "READY"
ARCHIVED = "ARCHIVED"
#: A registered model's name as one anchored pattern (:data:`modelcycle.core.MODEL_NAME`).
MODEL_NAME_PATTERN = MODEL_NAME.pattern


def check_model_name(name: object) -> str:
    """Return ``name`` if it is a valid model name (:data:`~modelcycle.core.MODEL_NAME`)."""
    return MODEL_NAME.check(name)


def check_alias(alias: object) -> str:
    """Return ``alias`` if it is a valid alias (:data:`~modelcycle.core.ALIAS`)."""
    return ALIAS.check(alias)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: what it is, where it came from, how to load it."""

    name: str
    version: int
    status: str
    flavor: str
    run_id: str | None
    manifest_sha256: str
    manifest_size: int
    signature: Signature
    metrics: Mapping[str, float]
    train_dataset: str | None
    test_dataset: str | None
    package_versions: Mapping[str, str]
    git_commit: str | None
    creator: str | None
    description: str | None
    trusted: bool
    created_at: datetime
    aliases: tuple[str, ...] = field(default=())

    @property
    def ref(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "aliases": list(self.aliases),
            "flavor": self.flavor,
            "run_id": self.run_id,
            "manifest_sha256": self.manifest_sha256,
            "signature": self.signature.to_dict(),
            "metrics": dict(self.metrics),
            "train_dataset": self.train_dataset,
            "test_dataset": self.test_dataset,
            "package_versions": dict(self.package_versions),
            "git_commit": self.git_commit,
            "creator": self.creator,
            "description": self.description,
            "trusted": self.trusted,
            "created_at": self.created_at.isoformat(),
        }


def version_from_row(row: Mapping[str, Any], name: str, aliases: tuple[str, ...]) -> ModelVersion:
    """Build a :class:`ModelVersion` from a ``model_versions`` row."""
    created = ms_to_datetime(row["created_at"])
    assert created is not None
    return ModelVersion(
        name=name,
        version=int(row["version"]),
        status=row["status"],
        flavor=row["flavor"],
        run_id=row["run_id"],
        manifest_sha256=row["manifest_sha256"],
        manifest_size=int(row["manifest_size"]),
        signature=Signature.from_dict(json.loads(row["signature"])),
        metrics=json.loads(row["metrics"]),
        train_dataset=row["train_dataset"],
        test_dataset=row["test_dataset"],
        package_versions=json.loads(row["package_versions"]),
        git_commit=row["git_commit"],
        creator=row["creator"],
        description=row["description"],
        trusted=bool(row["trusted"]),
        created_at=created,
        aliases=aliases,
    )


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias: promotion, rollback or removal."""

    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    actor: str | None
    forced: bool
    reasons: tuple[str, ...]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "alias": self.alias,
            "action": self.action,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "actor": self.actor,
            "forced": self.forced,
            "reasons": list(self.reasons),
            "created_at": self.created_at.isoformat(),
        }
