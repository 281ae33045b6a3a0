"""Lambda layers: layers (their version counter), layer versions, their permissions, and the
ordered layers of every function ($LATEST) and published version.

Functions stored before this revision have no layers.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "layers",
        sa.Column("name", sa.String(140), primary_key=True),
        sa.Column("last_version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "layer_versions",
        sa.Column("layer_name", sa.String(140), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("compatible_runtimes", sa.Text(), nullable=False),
        sa.Column("compatible_architectures", sa.Text(), nullable=False),
        sa.Column("license_info", sa.Text(), nullable=True),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger(), nullable=False),
        sa.Column("unzipped_size", sa.BigInteger(), nullable=False),
        sa.Column("policy_revision", sa.String(64), nullable=False),
    )
    op.create_index("ix_layer_versions_code_sha256", "layer_versions", ["code_sha256"])
    op.create_table(
        "layer_version_permissions",
        sa.Column("layer_name", sa.String(140), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("statement_id", sa.String(100), primary_key=True),
        sa.Column("statement", sa.Text(), nullable=False),
    )
    op.create_table(
        "function_layers",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("layer_arn", sa.String(2048), nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger(), nullable=False),
        sa.Column("unzipped_size", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_function_layers_code_sha256", "function_layers", ["code_sha256"])


def downgrade() -> None:
    op.drop_index("ix_function_layers_code_sha256", table_name="function_layers")
    op.drop_table("function_layers")
    op.drop_table("layer_version_permissions")
    op.drop_index("ix_layer_versions_code_sha256", table_name="layer_versions")
    op.drop_table("layer_versions")
    op.drop_table("layers")
