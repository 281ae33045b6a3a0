"""Provisioned concurrency and function URLs for published versions and aliases.

`function_urls` is keyed by (function, qualifier) from here on: the existing URLs are their
functions' $LATEST URLs. `provisioned_configs` keeps the provisioned concurrency asked for a
version or an alias ($LATEST keeps its own on the function's row), and each provisioned
allocation says which qualifier it was for (existing ones: $LATEST).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None

_URL_COLUMNS = "url_id, auth_type, cors, invoke_mode, created, last_modified"


def _url_table(name: str, *, qualified: bool) -> None:
    keys = [sa.Column("function_name", sa.String(64), primary_key=True)]
    if qualified:
        keys.append(sa.Column("qualifier", sa.String(128), primary_key=True))
    op.create_table(
        name,
        *keys,
        sa.Column("url_id", sa.String(64), nullable=False),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("cors", sa.Text(), nullable=True),
        sa.Column("invoke_mode", sa.String(32), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
    )


def upgrade() -> None:
    # A new primary key: copy into a table made with it (works alike on SQLite and Postgres).
    _url_table("function_urls_next", qualified=True)
    op.execute(
        f"INSERT INTO function_urls_next (function_name, qualifier, {_URL_COLUMNS}) "
        f"SELECT function_name, '$LATEST', {_URL_COLUMNS} FROM function_urls"
    )
    op.drop_index("ix_function_urls_url_id", table_name="function_urls")
    op.drop_table("function_urls")
    op.rename_table("function_urls_next", "function_urls")
    op.create_index("ix_function_urls_url_id", "function_urls", ["url_id"], unique=True)
    op.create_table(
        "provisioned_configs",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
    )
    op.add_column(
        "provisioned_allocations",
        sa.Column("qualifier", sa.String(128), server_default="$LATEST", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("provisioned_allocations") as batch:
        batch.drop_column("qualifier")
    op.drop_table("provisioned_configs")
    # Only the $LATEST URLs fit the older table.
    _url_table("function_urls_previous", qualified=False)
    op.execute(
        f"INSERT INTO function_urls_previous (function_name, {_URL_COLUMNS}) "
        f"SELECT function_name, {_URL_COLUMNS} FROM function_urls WHERE qualifier = '$LATEST'"
    )
    op.drop_index("ix_function_urls_url_id", table_name="function_urls")
    op.drop_table("function_urls")
    op.rename_table("function_urls_previous", "function_urls")
    op.create_index("ix_function_urls_url_id", "function_urls", ["url_id"], unique=True)
