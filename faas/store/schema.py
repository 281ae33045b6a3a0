"""Schema migrations, run at every start: the database is brought to the newest revision.

The schema changes only through the alembic revisions in `faas/store/migrations/versions/`.
Three kinds of database reach `migrate`:
- empty: every revision runs, from the baseline on;
- made by a release before migrations (faas tables, no revision stamped): it is first brought
  to the baseline (tables and columns those releases lacked are added, rows are kept), stamped
  with it, then upgraded like any other;
- at a revision this code does not know: a newer faas wrote it, and running older code on it
  could lose data, so it is refused, untouched.
All of it happens in one transaction that holds the database's schema lock, so cluster nodes
starting at once migrate one after the other, and a failed start leaves nothing half done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.schema import CreateColumn

from faas.errors import FaasError
from faas.store.engine import compact, lock_schema
from faas.store.migrations import baseline
from faas.store.sealing import SEALED_PREFIX, Sealer

log = logging.getLogger(__name__)

SCRIPT_DIRECTORY = Path(__file__).with_name("migrations")


class DatabaseTooNew(FaasError):
    """The database is at a schema revision this faas does not know: a newer faas wrote it."""


def migrate(
    engine: Engine, script_directory: Path = SCRIPT_DIRECTORY, *, sealer: Sealer | None = None
) -> list[str]:
    """Bring the database to the newest schema revision this faas knows, keeping every row.

    Returns the revisions applied, oldest first (none when it was already there). Raises
    DatabaseTooNew, and changes nothing, when a newer faas has migrated the database.
    (`script_directory` is for tests of revisions that are not part of faas.) `sealer` (the
    master key) is what revisions that seal secrets seal them with."""
    with engine.connect() as connection, connection.begin():
        lock_schema(connection)
        config = alembic_config(connection, script_directory)
        config.attributes["sealer"] = sealer
        adopted, applied = _migrate_locked(config)
    if config.attributes.get("compact_after_commit"):
        # A revision rewrote secrets: their old plaintext must not survive in free pages.
        compact(engine)
    # Logged once committed, so the log never claims what a failed start rolled back.
    if adopted:
        log.info(
            "database from a release before schema migrations: brought to the baseline "
            "revision %s, every row kept",
            baseline.REVISION,
        )
    if applied:
        log.info("database schema upgraded to %s (applied: %s)", applied[-1], ", ".join(applied))
    return applied


def alembic_config(connection: Connection, script_directory: Path = SCRIPT_DIRECTORY) -> Config:
    """An alembic Config for the script directory that runs on `connection` (no alembic.ini)."""
    config = _scripts_config(script_directory)
    config.attributes["connection"] = connection
    config.attributes["applied"] = []
    return config


def _migrate_locked(config: Config) -> tuple[bool, list[str]]:
    """(whether a database from before migrations was brought to the baseline, the revisions
    applied); runs inside the transaction that holds the schema lock."""
    connection: Connection = config.attributes["connection"]
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(connection).get_current_heads()
    _refuse_unknown_revisions(current, script, connection.engine.url)
    if set(current) == set(script.get_heads()):
        return False, []
    adopted = not current and _has_tables_of_a_previous_release(connection)
    if adopted:
        _bring_to_baseline(connection)
        command.stamp(config, baseline.REVISION)
    command.upgrade(config, "heads")
    return adopted, list(config.attributes["applied"])


def _refuse_unknown_revisions(current: Sequence[str], script: ScriptDirectory, url: URL) -> None:
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        raise DatabaseTooNew(
            f"the database at {_printable(url)} has schema revision {', '.join(unknown)}, "
            f"newer than this faas knows ({', '.join(script.get_heads())}): "
            "upgrade faas, or restore a backup made with this version"
        )


def schema_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (one, unless branches were merged), sorted."""
    with engine.connect() as connection:
        return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def known_revisions(script_directory: Path = SCRIPT_DIRECTORY) -> frozenset[str]:
    """Every schema revision this faas can start from (and migrate on)."""
    script = ScriptDirectory.from_config(_scripts_config(script_directory))
    return frozenset(revision.revision for revision in script.walk_revisions())


def _scripts_config(script_directory: Path) -> Config:
    """An alembic Config naming the script directory (no alembic.ini)."""
    config = Config()
    # ConfigParser interpolates '%'; a directory name may contain one.
    config.set_main_option("script_location", str(script_directory).replace("%", "%%"))
    return config


def _printable(url: URL) -> str:
    """The URL without its password, which may sit in the URL itself or in its query."""
    # URL.set() ignores None, so the password goes through NamedTuple's own _replace.
    bare = url._replace(password=None).difference_update_query(["password"])
    return bare.render_as_string(hide_password=False)


def sealed_secrets_exist(engine: Engine) -> bool:
    """Whether the database holds anything sealed under a master key (access keys, sealed
    environments), whatever revision it is at; False for an empty database."""
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        keys = (
            "access_keys" in tables
            and connection.execute(text("SELECT 1 FROM access_keys LIMIT 1")).first()
        )
        if keys:
            return True
        if "functions" in tables:
            found = connection.execute(
                text("SELECT 1 FROM functions WHERE environment LIKE :sealed LIMIT 1"),
                {"sealed": SEALED_PREFIX + "%"},
            )
            if found.first():
                return True
    return False


def _has_tables_of_a_previous_release(connection: Connection) -> bool:
    return not set(baseline.metadata.tables).isdisjoint(inspect(connection).get_table_names())


def _bring_to_baseline(connection: Connection) -> None:
    """Make a previous release's schema the baseline's: a missing table is created, and the
    columns that releases added one by one since the first are added where missing."""
    baseline.metadata.create_all(connection, checkfirst=True)
    present = inspect(connection)
    for table in baseline.metadata.sorted_tables:
        names = {column["name"] for column in present.get_columns(table.name)}
        for column in table.columns:
            if column.name not in names:
                # Every such column is nullable or has a server default, so adding it to a
                # table with rows is legal on SQLite and PostgreSQL alike.
                ddl = CreateColumn(column).compile(dialect=connection.dialect)
                connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
