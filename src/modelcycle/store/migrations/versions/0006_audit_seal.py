"""The audit chain is keyed: a table records how it is sealed (algorithm and key id).

The re-seal itself (verify the unkeyed SHA-256 chain, then recompute every event's
HMAC-SHA256 under the workspace's key) needs that key, which never enters the
database or Alembic; :func:`modelcycle.security.open_audit_chain` does it right after
the migrations, in one transaction, and refuses a chain that does not verify.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_seal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("sealed_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_seal_one_row"),
    )


def downgrade() -> None:
    # A chain sealed with a key stays keyed: modelcycle before 0006 cannot verify it.
    op.drop_table("audit_seal")
