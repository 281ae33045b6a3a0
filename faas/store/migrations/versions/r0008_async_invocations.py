"""Async invocations: how each record was invoked and its attempt; the event queue; the
event invoke configurations (retries, event age, destinations); the dead-letter store.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "invocations",
        sa.Column(
            "invocation_type", sa.String(16), server_default="RequestResponse", nullable=False
        ),
    )
    op.add_column(
        "invocations", sa.Column("attempt", sa.Integer(), server_default="1", nullable=False)
    )
    # A record is one attempt of one request (an async event's retries keep its request id).
    op.create_index(
        "ix_invocations_request_id_attempt",
        "invocations",
        ["request_id", "attempt"],
        unique=True,
    )
    op.drop_index("ix_invocations_request_id", table_name="invocations")
    op.create_table(
        "event_queue",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("client_context", sa.Text(), nullable=True),
        sa.Column("enqueued_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("not_before_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_event_queue_request_id", "event_queue", ["request_id"], unique=True)
    op.create_index("ix_event_queue_not_before_ms", "event_queue", ["not_before_ms"])
    op.create_index("ix_event_queue_function_name", "event_queue", ["function_name"])
    op.create_table(
        "event_invoke_configs",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("maximum_retry_attempts", sa.Integer(), nullable=True),
        sa.Column("maximum_event_age_s", sa.Integer(), nullable=True),
        sa.Column("on_success", sa.String(2048), nullable=True),
        sa.Column("on_failure", sa.String(2048), nullable=True),
        sa.Column("last_modified_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("client_context", sa.Text(), nullable=True),
        sa.Column("enqueued_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("failed_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(32), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_dead_letters_request_id", "dead_letters", ["request_id"], unique=True)
    op.create_index("ix_dead_letters_function_name", "dead_letters", ["function_name", "id"])
    op.create_index("ix_dead_letters_failed_at_ms", "dead_letters", ["failed_at_ms"])


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("event_invoke_configs")
    op.drop_table("event_queue")
    op.create_index("ix_invocations_request_id", "invocations", ["request_id"], unique=True)
    op.drop_index("ix_invocations_request_id_attempt", table_name="invocations")
    with op.batch_alter_table("invocations") as batch:
        batch.drop_column("attempt")
        batch.drop_column("invocation_type")
