"""Each function's LoggingConfig (log format, levels, log group).

Functions stored before this revision read as Lambda's default: Text, in their own log group.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "functions",
        sa.Column("logging_config", sa.Text(), server_default="{}", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("logging_config")
