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
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from faas.domain import DURATION_BUCKETS_S, StoredSummary
from faas.store.tables import billing_rollups, invocations

_C = invocations.c


def stored_ids(ids: Sequence[int]) -> ColumnElement[bool]:
    return _C.id.in_(list(ids))


def add_to_rollups(connection: Connection, stored: ColumnElement[bool]) -> None:
    """Add the stored rows to their months' rollups, in the caller's transaction."""
    connection.execute(_rollup_upsert(connection.dialect.name, stored))


def add_to_rollups_sqlite(dbapi_connection: Any, after_id: int, up_to_id: int) -> None:
    """The same through a SQLite driver connection (the ingester's fast path), for the rows
    with ids in (after_id, up_to_id]."""
    _sqlite_statements().rollup.run(dbapi_connection, after_id, up_to_id)


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


def _rollup_upsert(dialect: str, stored: ColumnElement[bool]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    month = _month(dialect)
    rows = (
        select(
            month,
            _C.function_name,
            func.count(),
            func.sum(_C.billed_ms),
            func.sum(_C.billed_ms * _C.memory_mb),
        )
        .where(stored)
        .group_by(month, _C.function_name)
    )
    statement = module.insert(billing_rollups).from_select(
        ["month", "function_name", "requests", "billed_ms", "billed_mb_ms"], rows
    )
    return statement.on_conflict_do_update(
        index_elements=[billing_rollups.c.month, billing_rollups.c.function_name],
        set_={
            "requests": billing_rollups.c.requests + statement.excluded.requests,
            "billed_ms": billing_rollups.c.billed_ms + statement.excluded.billed_ms,
            "billed_mb_ms": billing_rollups.c.billed_mb_ms + statement.excluded.billed_mb_ms,
        },
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
    counts: _Compiled
    durations: _Compiled
    inits: _Compiled


@functools.cache
def _sqlite_statements() -> _SqliteStatements:
    return _SqliteStatements(
        rollup=_Compiled(lambda stored: _rollup_upsert("sqlite", stored)),
        counts=_Compiled(_counts_query),
        durations=_Compiled(lambda stored: _histogram(_C.duration_ms, stored)),
        inits=_Compiled(lambda stored: _histogram(_C.init_duration_ms, _with_init(stored))),
    )


class RollupRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def month(
        self, month: str, function_name: str | None = None
    ) -> dict[str, tuple[int, int, int]]:
        """Function -> (requests, billed ms, billed MB-ms) of the month."""
        query = select(
            billing_rollups.c.function_name,
            billing_rollups.c.requests,
            billing_rollups.c.billed_ms,
            billing_rollups.c.billed_mb_ms,
        ).where(billing_rollups.c.month == month)
        if function_name is not None:
            query = query.where(billing_rollups.c.function_name == function_name)
        with self._engine.connect() as connection:
            return {
                name: (int(requests), int(billed), int(billed_mb))
                for name, requests, billed, billed_mb in connection.execute(query)
            }
