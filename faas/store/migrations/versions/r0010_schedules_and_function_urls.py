"""Schedules (EventBridge rate/cron triggers, the last fired tick claimed in a transaction)
and function URLs (CreateFunctionUrlConfig).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("expression", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_tick_ms", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "function_urls",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("url_id", sa.String(64), nullable=False),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("cors", sa.Text(), nullable=True),
        sa.Column("invoke_mode", sa.String(32), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
    )
    op.create_index("ix_function_urls_url_id", "function_urls", ["url_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_function_urls_url_id", table_name="function_urls")
    op.drop_table("function_urls")
    op.drop_table("schedules")
