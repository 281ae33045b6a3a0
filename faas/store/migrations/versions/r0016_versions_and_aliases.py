"""Published versions and aliases of functions, and each function's version counter.

Functions stored before this revision have published nothing: their counter starts at 0.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "functions", sa.Column("last_version", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("functions", sa.Column("last_published_revision", sa.String(64), nullable=True))
    op.create_table(
        "function_versions",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("runtime", sa.String(64), nullable=False),
        sa.Column("handler", sa.String(128), nullable=False),
        sa.Column("role", sa.String(2048), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("ephemeral_storage_mb", sa.Integer(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger(), nullable=False),
        sa.Column("revision_id", sa.String(64), nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("network_allow", sa.Text(), nullable=False),
        sa.Column("snap_start", sa.Boolean(), nullable=False),
        sa.Column("sandbox_uid", sa.Integer(), nullable=True),
        sa.Column("kms_key_arn", sa.String(2048), nullable=True),
        sa.Column("role_passed", sa.Boolean(), nullable=False),
        sa.Column("file_system_configs", sa.Text(), nullable=False),
        sa.Column("recursive_loop", sa.String(16), nullable=False),
        sa.Column("logging_config", sa.Text(), nullable=False),
    )
    op.create_index("ix_function_versions_code_sha256", "function_versions", ["code_sha256"])
    op.create_table(
        "function_aliases",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("function_version", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("revision_id", sa.String(64), nullable=False),
        sa.Column("additional_version", sa.String(32), nullable=True),
        sa.Column("additional_weight", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("function_aliases")
    op.drop_index("ix_function_versions_code_sha256", table_name="function_versions")
    op.drop_table("function_versions")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("last_published_revision")
        batch.drop_column("last_version")
