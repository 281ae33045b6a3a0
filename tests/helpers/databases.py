"""Databases for the schema migration tests: data directories as releases before migrations
left them (tests/fixtures/*.sql), and how a database's schema compares with tables.py."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData

from faas.domain import CodeInfo, Limits
from faas.registry.codestore import CodeStore
from faas.store.schema import SCRIPT_DIRECTORY
from faas.store.tables import metadata
from tests.helpers.server import make_zip

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Dumps of databases made by the last release before migrations, and by the first release.
DUMPS = ("previous_release.sql", "first_release.sql")
GREETER_SOURCE = FIXTURES / "greeter" / "app.py"
# Every revision this faas knows, oldest first.
ALL_REVISIONS = [
    script.revision
    for script in reversed(list(ScriptDirectory(str(SCRIPT_DIRECTORY)).walk_revisions()))
]
HEAD = ALL_REVISIONS[-1]


def schema_differences(engine: Engine, target: MetaData = metadata) -> list[Any]:
    """What alembic's autogenerate would change to make the database's schema `target`:
    tables, columns, types, nullability, indexes and server defaults."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target))


def current_revisions(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_heads()


def make_old_data_dir(data_dir: Path, dump: str) -> CodeInfo:
    """`data_dir` with the greeter's code bundle in its code store and `faas.db` loaded from
    `dump`, pointing at that bundle."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    code = CodeStore(data_dir / "code", Limits()).put(
        make_zip({"app.py": GREETER_SOURCE.read_bytes()})
    )
    sql = (FIXTURES / dump).read_text()
    sql = sql.replace("@CODE_SHA256@", code.sha256).replace("@CODE_SIZE@", str(code.size))
    with contextlib.closing(sqlite3.connect(data_dir / "faas.db")) as raw:
        raw.executescript(sql)
    return code


def sqlite_rows(path: Path, table: str) -> list[dict[str, Any]]:
    """Every row of `table`, as column -> value, in primary key order."""
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.row_factory = sqlite3.Row
        rows = raw.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    return [dict(row) for row in rows]


def sqlite_dump(path: Path) -> str:
    """The whole database as SQL text: equal dumps, equal schema and rows."""
    with contextlib.closing(sqlite3.connect(path)) as raw:
        return "\n".join(raw.iterdump())
