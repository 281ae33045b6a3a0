"""API access keys: a name, its key id, its secret encrypted under the master key, a policy.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "access_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("created", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("access_key_id"),
    )


def downgrade() -> None:
    op.drop_table("access_keys")
