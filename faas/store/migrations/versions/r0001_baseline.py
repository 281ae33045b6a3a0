"""Baseline: the functions and invocations tables as the last release before migrations had them.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from faas.store.migrations import baseline

revision = baseline.REVISION
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # The frozen copy, not tables.py: later revisions build on exactly this schema. No
    # checkfirst: a table already there means the database is not what this revision assumes.
    baseline.metadata.create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    baseline.metadata.drop_all(op.get_bind(), checkfirst=False)
