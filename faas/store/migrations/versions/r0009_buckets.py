"""File-watch buckets: buckets made through the API, triggers, the delivery ledger; each
function's FileSystemConfigs and recursion configuration.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "functions",
        sa.Column("file_system_configs", sa.Text(), server_default="[]", nullable=False),
    )
    op.add_column(
        "functions",
        sa.Column("recursive_loop", sa.String(16), server_default="Terminate", nullable=False),
    )
    op.create_table(
        "buckets",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("writable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "bucket_triggers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("suffix", sa.Text(), nullable=False),
        sa.Column("events", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_bucket_triggers_bucket", "bucket_triggers", ["bucket"])
    op.create_table(
        "bucket_ledger",
        sa.Column("trigger_id", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("depth", sa.Integer(), server_default="1", nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("delivered_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bucket_ledger")
    op.drop_table("bucket_triggers")
    op.drop_table("buckets")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("recursive_loop")
        batch.drop_column("file_system_configs")
