"""Resource policies of functions (AddPermission), one statement a row.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "function_policies",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("statement_id", sa.String(100), primary_key=True),
        sa.Column("statement", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("function_policies")
