"""FaasNetworkAllow: the destinations of a function whose FaasNetwork is allowlist.

(The meaning of FaasNetwork "default" changes with this release: the server's
sandbox.default_network, egress unless configured otherwise, instead of the host's network.)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "functions", sa.Column("network_allow", sa.Text(), server_default="[]", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("network_allow")
