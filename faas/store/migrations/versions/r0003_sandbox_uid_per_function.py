"""A uid per function, kept in the store: unique, and the same after a restart.

Existing functions get theirs in name order (until now each server numbered them in the
order they were first started, so no earlier numbering is worth keeping).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_functions = sa.table(
    "functions", sa.column("name", sa.String), sa.column("sandbox_uid", sa.Integer)
)


def upgrade() -> None:
    op.add_column("functions", sa.Column("sandbox_uid", sa.Integer(), nullable=True))
    bind = op.get_bind()
    names = bind.execute(sa.select(_functions.c.name).order_by(_functions.c.name)).scalars()
    for offset, name in enumerate(list(names)):
        bind.execute(
            sa.update(_functions).where(_functions.c.name == name).values(sandbox_uid=offset)
        )
    op.create_index("ix_functions_sandbox_uid", "functions", ["sandbox_uid"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_functions_sandbox_uid", table_name="functions")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("sandbox_uid")
