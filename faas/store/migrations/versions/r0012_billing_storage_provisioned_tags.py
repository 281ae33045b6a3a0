"""What else a bill needs: each record's ephemeral storage and whether a provisioned worker
served it, their sums in the rollups, function tags and the rollups per tag, and the
intervals provisioned concurrency was allocated.

Records stored before this revision had the default storage (512 MB, the free part) unless
the function said otherwise; they are read as 512 MB and on-demand, as they were billed.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "invocations",
        sa.Column("ephemeral_storage_mb", sa.Integer(), server_default="512", nullable=False),
    )
    op.add_column(
        "invocations",
        sa.Column("provisioned", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    for column in ("provisioned_mb_ms", "ephemeral_mb_ms"):
        op.add_column(
            "billing_rollups",
            sa.Column(column, sa.BigInteger(), server_default="0", nullable=False),
        )
    op.create_table(
        "billing_tag_rollups",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("tag_key", sa.String(128), primary_key=True),
        sa.Column("tag_value", sa.String(256), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("billed_ms", sa.BigInteger(), nullable=False),
        sa.Column("billed_mb_ms", sa.BigInteger(), nullable=False),
        sa.Column("provisioned_mb_ms", sa.BigInteger(), nullable=False),
        sa.Column("ephemeral_mb_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "function_tags",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("tag_key", sa.String(128), primary_key=True),
        sa.Column("tag_value", sa.String(256), nullable=False),
    )
    op.create_table(
        "provisioned_allocations",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_at_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index(
        "ix_provisioned_allocations_function_name", "provisioned_allocations", ["function_name"]
    )
    # Functions with provisioned concurrency already configured are allocated from now on.
    connection = op.get_bind()
    functions = sa.table(
        "functions",
        sa.column("name", sa.String()),
        sa.column("memory_mb", sa.Integer()),
        sa.column("provisioned_concurrency", sa.Integer()),
    )
    configured = connection.execute(
        sa.select(
            functions.c.name, functions.c.memory_mb, functions.c.provisioned_concurrency
        ).where(functions.c.provisioned_concurrency > 0)
    ).all()
    if configured:
        now_ms = int(time.time() * 1000)
        allocations = sa.table(
            "provisioned_allocations",
            sa.column("function_name", sa.String()),
            sa.column("workers", sa.Integer()),
            sa.column("memory_mb", sa.Integer()),
            sa.column("started_at_ms", sa.BigInteger()),
        )
        op.bulk_insert(
            allocations,
            [
                {"function_name": n, "workers": w, "memory_mb": m, "started_at_ms": now_ms}
                for n, m, w in configured
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_provisioned_allocations_function_name", "provisioned_allocations")
    op.drop_table("provisioned_allocations")
    op.drop_table("function_tags")
    op.drop_table("billing_tag_rollups")
    with op.batch_alter_table("billing_rollups") as batch:
        batch.drop_column("ephemeral_mb_ms")
        batch.drop_column("provisioned_mb_ms")
    with op.batch_alter_table("invocations") as batch:
        batch.drop_column("provisioned")
        batch.drop_column("ephemeral_storage_mb")
