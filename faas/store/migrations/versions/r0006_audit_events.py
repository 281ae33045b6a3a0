"""The audit log: one row per management call and per refused call.

Only a new table, so it depends on nothing earlier revisions did to other tables.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        # SQLite autoincrements only an INTEGER PRIMARY KEY.
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("key_name", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("resource", sa.String(length=2048), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_time_ms", "audit_events", ["time_ms"])
    op.create_index("ix_audit_events_key_name", "audit_events", ["key_name", "time_ms"])
    op.create_index("ix_audit_events_key_id", "audit_events", ["key_id", "time_ms"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_key_id", table_name="audit_events")
    op.drop_index("ix_audit_events_key_name", table_name="audit_events")
    op.drop_index("ix_audit_events_time_ms", table_name="audit_events")
    op.drop_table("audit_events")
