"""Monthly billing rollups per function (`billing_rollups`), and the summary of what a
commit of the records ingester stored (for the metrics).

Both are computed by the database from the rows the commit really stored (a record replayed
after a crash is not stored twice, so it is not counted twice either), in the same
transaction for the rollups: the rollups and the records cannot drift apart, and the rollups
are never deleted with old records. The stored rows are named by an id range (SQLite's fast
path: one writer, so the rows a transaction inserts are the ids above the largest before it)
or by the ids an INSERT ... RETURNING gave (any database). Grouping and sums run in SQL, not
per row in Python: the ingester shares its process (and GIL) with the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from faas import billing
from faas.domain import DURATION_BUCKETS_S, StoredSummary
from faas.store.tables import billing_rollups, billing_tag_rollups, function_tags, invocations

_C = invocations.c


def stored_ids(ids: Sequence[int]) -> ColumnElement[bool]:
    return _C.id.in_(list(ids))


def add_to_rollups(connection: Connection, stored: ColumnElement[bool]) -> None:
    """Add the stored rows to their months' rollups (per function and per tag), in the
    caller's transaction."""
    dialect = connection.dialect.name
    connection.execute(_rollup_upsert(dialect, stored))
    connection.execute(_tag_rollup_upsert(dialect, stored))


def add_to_rollups_sqlite(dbapi_connection: Any, after_id: int, up_to_id: int) -> None:
    """The same through a SQLite driver connection (the ingester's fast path), for the rows
    with ids in (after_id, up_to_id]."""
    statements = _sqlite_statements()
    statements.rollup.run(dbapi_connection, after_id, up_to_id)
    statements.tag_rollup.run(dbapi_connection, after_id, up_to_id)


def summary(connection: Connection, stored: ColumnElement[bool]) -> StoredSummary:
    def run(statement: Any) -> Any:
        return connection.execute(statement).all()

    return StoredSummary(
        counts=_counts(run(_counts_query(stored))),
        durations=_buckets(run(_histogram(_C.duration_ms, stored))),
        inits=_buckets(run(_histogram(_C.init_duration_ms, _with_init(stored)))),
    )


def summary_sqlite(dbapi_connection: Any, after_id: int, up_to_id: int) -> StoredSummary:
    statements = _sqlite_statements()
    return StoredSummary(
        counts=_counts(statements.counts.run(dbapi_connection, after_id, up_to_id)),
        durations=_buckets(statements.durations.run(dbapi_connection, after_id, up_to_id)),
        inits=_buckets(statements.inits.run(dbapi_connection, after_id, up_to_id)),
    )


def _counts(rows: Any) -> tuple[tuple[str, str, str, str | None, int, int, int], ...]:
    return tuple(
        (str(f), str(t), str(s), e, int(n), int(cold), int(mb_ms or 0))
        for f, t, s, e, n, cold, mb_ms in rows
    )


def _counts_query(stored: ColumnElement[bool]) -> Select[Any]:
    return (
        select(
            _C.function_name,
            _C.invocation_type,
            _C.status,
            _C.error_type,
            func.count(),
            func.count(_C.init_duration_ms),
            func.sum(_C.billed_ms * _C.memory_mb),
        )
        .where(stored)
        .group_by(_C.function_name, _C.invocation_type, _C.status, _C.error_type)
    )


def _with_init(stored: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(stored, _C.init_duration_ms.is_not(None))


def _histogram(column: Any, where: ColumnElement[bool]) -> Select[Any]:
    bucket = case(
        *((column <= bound * 1000, index) for index, bound in enumerate(DURATION_BUCKETS_S)),
        else_=len(DURATION_BUCKETS_S),
    ).label("bucket")
    return (
        select(_C.function_name, bucket, func.count(), func.sum(column))
        .where(where)
        .group_by(_C.function_name, bucket)
    )


def _buckets(rows: Any) -> tuple[tuple[str, int, int, float], ...]:
    return tuple((str(f), int(b), int(n), float(total or 0) / 1000) for f, b, n, total in rows)


_SUMS = ("requests", "billed_ms", "billed_mb_ms", "provisioned_mb_ms", "ephemeral_mb_ms")


def usage_sums() -> list[Any]:
    """What a bill needs of a set of records, summed: (requests, billed ms, billed MB-ms,
    provisioned MB-ms, storage above 512 MB x ms), the rollups' columns (_SUMS)."""
    extra_storage = _C.ephemeral_storage_mb - billing.FREE_STORAGE_MB
    return [
        func.count(),
        func.sum(_C.billed_ms),
        func.sum(_C.billed_ms * _C.memory_mb),
        func.sum(case((_C.provisioned, _C.billed_ms * _C.memory_mb), else_=0)),
        func.sum(case((extra_storage > 0, _C.billed_ms * extra_storage), else_=0)),
    ]


def _rollup_upsert(dialect: str, stored: ColumnElement[bool]) -> Any:
    month = _month(dialect)
    rows = (
        select(month, _C.function_name, *usage_sums())
        .where(stored)
        .group_by(month, _C.function_name)
    )
    return _add_up(dialect, billing_rollups, ["month", "function_name"], rows)


def _tag_rollup_upsert(dialect: str, stored: ColumnElement[bool]) -> Any:
    """The same per tag the function has now (at ingest, moments after the invocation)."""
    month = _month(dialect)
    tags = function_tags.c
    rows = (
        select(month, tags.tag_key, tags.tag_value, _C.function_name, *usage_sums())
        .select_from(invocations.join(function_tags, tags.function_name == _C.function_name))
        .where(stored)
        .group_by(month, tags.tag_key, tags.tag_value, _C.function_name)
    )
    keys = ["month", "tag_key", "tag_value", "function_name"]
    return _add_up(dialect, billing_tag_rollups, keys, rows)


def _add_up(dialect: str, table: Table, keys: list[str], rows: Select[Any]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).from_select([*keys, *_SUMS], rows)
    return statement.on_conflict_do_update(
        index_elements=[table.c[key] for key in keys],
        set_={name: table.c[name] + statement.excluded[name] for name in _SUMS},
    )


def _month(dialect: str) -> ColumnElement[str]:
    """The UTC month (YYYY-MM) an invocation started in, in the database's own words."""
    if dialect == "postgresql":
        return literal_column(
            "to_char(to_timestamp(invocations.started_at_ms / 1000.0) AT TIME ZONE 'UTC', "
            "'YYYY-MM')"
        ).label("month")
    return literal_column("strftime('%Y-%m', invocations.started_at_ms / 1000, 'unixepoch')").label(
        "month"
    )


class _Compiled:
    """A statement over the rows with ids in (after_id, up_to_id], compiled once for SQLite's
    driver (compiling one per commit would cost the event loop the GIL while it runs)."""

    def __init__(self, build: Any) -> None:
        stored = and_(_C.id > bindparam("after_id"), _C.id <= bindparam("up_to_id"))
        compiled = build(stored).compile(dialect=sqlite.dialect())
        self._sql = str(compiled)
        self._order = list(compiled.positiontup or ())
        self._fixed = dict(compiled.params)

    def run(self, dbapi_connection: Any, after_id: int, up_to_id: int) -> list[Any]:
        values = {**self._fixed, "after_id": after_id, "up_to_id": up_to_id}
        cursor = dbapi_connection.execute(self._sql, tuple(values[name] for name in self._order))
        return list(cursor.fetchall())


@dataclass(frozen=True, slots=True)
class _SqliteStatements:
    rollup: _Compiled
    tag_rollup: _Compiled
    counts: _Compiled
    durations: _Compiled
    inits: _Compiled


@functools.cache
def _sqlite_statements() -> _SqliteStatements:
    return _SqliteStatements(
        rollup=_Compiled(lambda stored: _rollup_upsert("sqlite", stored)),
        tag_rollup=_Compiled(lambda stored: _tag_rollup_upsert("sqlite", stored)),
        counts=_Compiled(_counts_query),
        durations=_Compiled(lambda stored: _histogram(_C.duration_ms, stored)),
        inits=_Compiled(lambda stored: _histogram(_C.init_duration_ms, _with_init(stored))),
    )


class RollupRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def month(self, month: str, function_name: str | None = None) -> dict[str, billing.Usage]:
        """Function -> its use in the month."""
        table = billing_rollups.c
        query = select(table.function_name, *(table[name] for name in _SUMS)).where(
            table.month == month
        )
        if function_name is not None:
            query = query.where(table.function_name == function_name)
        with self._engine.connect() as connection:
            return {
                name: billing.usage_from_sums(*(int(value) for value in sums))
                for name, *sums in connection.execute(query)
            }

    def month_by_tag(self, month: str, tag_key: str) -> dict[tuple[str, str], billing.Usage]:
        """(function, tag value) -> the function's use in the month while it had the tag."""
        table = billing_tag_rollups.c
        query = select(
            table.function_name, table.tag_value, *(table[name] for name in _SUMS)
        ).where(table.month == month, table.tag_key == tag_key)
        with self._engine.connect() as connection:
            return {
                (name, value): billing.usage_from_sums(*(int(v) for v in sums))
                for name, value, *sums in connection.execute(query)
            }
