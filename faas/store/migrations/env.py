"""Alembic's entry point, run by every alembic command that `faas.store.schema` issues.

There is no alembic.ini and no URL here: the caller passes its connection, already inside
the transaction that holds the migration lock, through `config.attributes["connection"]`,
so a whole start (stamp and upgrade) commits or rolls back as one. Each revision applied is
appended to `config.attributes["applied"]` for the caller to log.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection

from faas.store.tables import metadata


def _note_applied(
    ctx: MigrationContext,
    step: MigrationInfo,
    heads: Collection[Any],
    run_args: Mapping[str, Any],
) -> None:
    if step.is_upgrade and not step.is_stamp:
        context.config.attributes.setdefault("applied", []).extend(step.up_revision_ids)


def run_migrations() -> None:
    if context.is_offline_mode():
        raise RuntimeError("faas runs its migrations online only, at server start")
    connection = context.config.attributes["connection"]
    if not isinstance(connection, Connection):
        raise TypeError("config.attributes['connection'] must be a SQLAlchemy Connection")
    context.configure(
        connection=connection,
        # What autogenerate compares a database at head with; a test passes its own.
        target_metadata=context.config.attributes.get("target_metadata", metadata),
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=True,
        on_version_apply=_note_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
