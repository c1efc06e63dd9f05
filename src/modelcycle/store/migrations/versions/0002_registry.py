"""Registry: registered models, versions, aliases and alias history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _model_fk() -> sa.ForeignKey:
    return sa.ForeignKey("registered_models.model_id")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("model_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("gates", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", sa.Integer, _model_fk(), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("manifest_size", sa.BigInteger, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("train_dataset", sa.String(64), nullable=True),
        sa.Column("test_dataset", sa.String(64), nullable=True),
        sa.Column("package_versions", sa.Text, nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("creator", sa.String(250), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("trusted", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_train_dataset", "model_versions", ["train_dataset"])
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.Integer, _model_fk(), primary_key=True),
        sa.Column("alias", sa.String(50), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alias_history",
        sa.Column("event_id", _big_id, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, _model_fk(), nullable=False),
        sa.Column("alias", sa.String(50), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(250), nullable=True),
        sa.Column("forced", sa.Integer, nullable=False),
        sa.Column("reasons", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_alias_history_model_alias", "alias_history", ["model_id", "alias", "event_id"]
    )


def downgrade() -> None:
    for name in ("alias_history", "model_aliases", "model_versions", "registered_models"):
        op.drop_table(name)
