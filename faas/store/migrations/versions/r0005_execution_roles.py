"""Execution roles: a name and the policy the temporary credentials of its functions carry;
and whether each function's Role was passed to it by someone allowed to (iam:PassRole).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("created", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.add_column(
        "functions",
        sa.Column("role_passed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("role_passed")
    op.drop_table("roles")
