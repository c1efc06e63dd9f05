"""Table definitions of the workspace database (SQLAlchemy Core).

The Alembic migrations in ``migrations/versions`` create these tables; a test
checks that the migrated database and this metadata agree, so the two cannot drift.
Times are integer milliseconds since the epoch (UTC) on every backend.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    literal_column,
)

metadata = MetaData()

#: An auto-increment big integer key that SQLite also treats as ROWID.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id"),
        nullable=False,
        index=True,
    ),
    Column("parent_run_id", String(32), ForeignKey("runs.run_id"), nullable=True, index=True),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False, index=True),
    Column("end_time", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("source", Text, nullable=True),
    Column("user_name", String(250), nullable=True),
    # Last sign of life of the process that owns a RUNNING run (ms since the epoch).
    Column("heartbeat_at", BigInteger, nullable=True),
    Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Characters of a param or tag value kept in the ``(key, value prefix, run_id)`` indexes.
#: A whole value (up to ``max_param_length``) could pass PostgreSQL's btree row limit
#: (about 2,700 bytes); a filter ``params.k = 'v'`` also compares the prefix, which the
#: index answers, then the whole value.
VALUE_PREFIX = 200


def value_prefix(column: Any) -> Any:
    """The indexed prefix of a param or tag value (the same SQL as the index's)."""
    return func.substr(column, literal_column("1"), literal_column(str(VALUE_PREFIX)))


Index("ix_params_key_value_run", params.c.key, value_prefix(params.c.value), params.c.run_id)
Index("ix_tags_key_value_run", tags.c.key, value_prefix(tags.c.value), tags.c.run_id)

metrics = Table(
    "metrics",
    metadata,
    Column("metric_id", _BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.run_id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Double, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Double, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    # Covering (run_id last): a filter or a sort on one metric reads the index alone.
    Index("ix_latest_metrics_key_value_run", "key", "value", "run_id"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_hash", String(64), primary_key=True),
    Column("rows", BigInteger, nullable=False),
    Column("columns", Text, nullable=False),
    Column("dtypes", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id"), primary_key=True),
    Column("dataset_hash", String(64), ForeignKey("datasets.dataset_hash"), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("name", String(250), nullable=True),
    Index("ix_run_datasets_hash", "dataset_hash"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# -- registry (migration 0002) ------------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("model_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("gates", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.model_id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.run_id"), nullable=True, index=True),
    Column("status", String(16), nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("manifest_size", BigInteger, nullable=False),
    Column("signature", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("train_dataset", String(64), nullable=True, index=True),
    Column("test_dataset", String(64), nullable=True),
    Column("package_versions", Text, nullable=False),
    Column("git_commit", String(64), nullable=True),
    Column("creator", String(250), nullable=True),
    Column("description", Text, nullable=True),
    Column("trusted", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.model_id"), primary_key=True),
    Column("alias", String(50), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("event_id", _BigId, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.model_id"), nullable=False),
    Column("alias", String(50), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("action", String(16), nullable=False),
    Column("actor", String(250), nullable=True),
    Column("forced", Integer, nullable=False),
    Column("reasons", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_alias_history_model_alias", "model_id", "alias", "event_id"),
)

# -- security (migration 0003) ------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled", Integer, nullable=False),
    # An argon2id hash (migration 0007); NULL: the user signs in with API keys only.
    Column("password_hash", Text, nullable=True),
)

#: Dashboard sessions (migration 0007): only the SHA-256 of a session id is stored.
#: ``key_prefix`` names the API key a session was opened with (``NULL``: a password).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.user_id"), nullable=False, index=True),
    Column("key_prefix", String(16), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
)

#: ``scope`` is a registered model name, or ``''`` for a workspace-wide grant.
role_grants = Table(
    "role_grants",
    metadata,
    Column("user_id", Integer, ForeignKey("users.user_id"), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("scope", String(100), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

#: Only the SHA-256 of a key is stored; ``prefix`` (its first 8 characters) names it.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.user_id"), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("model", String(100), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
)

#: The chain: each event's ``hash`` (an HMAC-SHA256 under the workspace's audit key
#: since migration 0006) covers its fields and the previous event's ``hash``.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("created_at", BigInteger, nullable=False, index=True),
    Column("actor", String(250), nullable=False, index=True),
    Column("action", String(64), nullable=False),
    Column("target", String(500), nullable=False, index=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("request_id", String(100), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

#: How the audit chain is sealed (migration 0006): one row naming the MAC algorithm and
#: the public id of the key, so a chain rewritten without the key is told from a good one.
audit_seal = Table(
    "audit_seal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("algorithm", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("sealed_at", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="ck_audit_seal_one_row"),
)

# -- operation (migration 0004) -----------------------------------------------------

#: One monitoring and retraining policy per registered model, as validated JSON.
policies = Table(
    "policies",
    metadata,
    Column("model", String(100), primary_key=True),
    Column("policy", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
)

#: The worker's queue. A job is claimed by writing ``lease_owner`` and
#: ``lease_expires_at`` in one conditional update; a worker that dies stops renewing
#: its lease, and the job becomes claimable again once the lease expires.
#: ``dedupe_key`` keeps one queued-or-running job per key (e.g. one retrain per model).
jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("model", String(100), nullable=True),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", BigInteger, nullable=False),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("dedupe_key", String(200), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_jobs_state_run_after", "state", "run_after"),
    Index("ix_jobs_dedupe_key", "dedupe_key"),
)

#: Alerts fired by monitoring rules, with where each was delivered.
alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", _BigId, primary_key=True, autoincrement=True),
    Column("model", String(100), nullable=False),
    Column("version", Integer, nullable=True),
    Column("rule", String(100), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("value", Double, nullable=True),
    Column("threshold", Double, nullable=True),
    Column("message", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered", Text, nullable=True),
    Column("acknowledged_at", BigInteger, nullable=True),
    Column("acknowledged_by", String(250), nullable=True),
    Index("ix_alerts_model_created_at", "model", "created_at"),
)
