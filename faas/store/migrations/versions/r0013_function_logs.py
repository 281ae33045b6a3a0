"""Function logs: log groups and one row of framed events per invocation.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("stored_bytes", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_table(
        "log_chunks",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("log_group", sa.String(512), nullable=False),
        sa.Column("log_stream", sa.String(512), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("ingested_ms", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
    )
    op.create_index("ix_log_chunks_group_first", "log_chunks", ["log_group", "first_ms", "id"])
    op.create_index("ix_log_chunks_group_stream", "log_chunks", ["log_group", "log_stream", "id"])
    op.create_index("ix_log_chunks_group_id", "log_chunks", ["log_group", "id"])
    op.create_index("ix_log_chunks_request_id", "log_chunks", ["request_id"])


def downgrade() -> None:
    op.drop_table("log_chunks")
    op.drop_table("log_groups")
