"""Monthly billing rollups per function, filled from the records already stored.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_CHUNK = 10_000


def upgrade() -> None:
    rollups = op.create_table(
        "billing_rollups",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("billed_ms", sa.BigInteger(), nullable=False),
        sa.Column("billed_mb_ms", sa.BigInteger(), nullable=False),
    )
    invocations = sa.table(
        "invocations",
        sa.column("id", sa.BigInteger()),
        sa.column("function_name", sa.String()),
        sa.column("started_at_ms", sa.BigInteger()),
        sa.column("billed_ms", sa.Integer()),
        sa.column("memory_mb", sa.Integer()),
    )
    connection = op.get_bind()
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    last = -1
    while True:
        chunk = connection.execute(
            sa.select(
                invocations.c.id,
                invocations.c.function_name,
                invocations.c.started_at_ms,
                invocations.c.billed_ms,
                invocations.c.memory_mb,
            )
            .where(invocations.c.id > last)
            .order_by(invocations.c.id)
            .limit(_CHUNK)
        ).all()
        if not chunk:
            break
        for row_id, name, started_ms, billed, memory in chunk:
            month = dt.datetime.fromtimestamp(started_ms / 1000, tz=dt.UTC).strftime("%Y-%m")
            total = totals[(month, name)]
            total[0] += 1
            total[1] += billed
            total[2] += billed * memory
            last = row_id
    if totals:
        op.bulk_insert(
            rollups,
            [
                {
                    "month": month,
                    "function_name": name,
                    "requests": requests,
                    "billed_ms": billed,
                    "billed_mb_ms": billed_mb,
                }
                for (month, name), (requests, billed, billed_mb) in totals.items()
            ],
        )


def downgrade() -> None:
    op.drop_table("billing_rollups")
