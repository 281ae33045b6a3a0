"""Monthly billing rollups per function (the `billing_rollups` table).

The ingester adds to them in the same transaction as the records it inserts, from the rows
the insert really stored (RETURNING): a record replayed after a crash is not stored twice,
so it is not counted twice either; the rollups and the records cannot drift apart. They are
never deleted with old records, so a month bills the same after retention.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from faas.store.tables import billing_rollups

# What an insert of records returns of each row it stored, in this order: the rollups use the
# first four, the metrics (faas/metrics.py) all of them.
ROLLUP_RETURNING = (
    "function_name",
    "started_at_ms",
    "billed_ms",
    "memory_mb",
    "duration_ms",
    "init_duration_ms",
    "status",
    "error_type",
    "invocation_type",
)
_Key = tuple[str, str]
_Totals = dict[_Key, list[int]]

SQLITE_UPSERT = (
    "INSERT INTO billing_rollups (month, function_name, requests, billed_ms, billed_mb_ms) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (month, function_name) DO UPDATE SET "
    "requests = requests + excluded.requests, billed_ms = billed_ms + excluded.billed_ms, "
    "billed_mb_ms = billed_mb_ms + excluded.billed_mb_ms"
)


def totals_of(rows: Iterable[Sequence[Any]]) -> _Totals:
    """(function, started_at_ms, billed_ms, memory_mb) rows summed per (month, function)."""
    totals: _Totals = defaultdict(lambda: [0, 0, 0])
    for name, started_ms, billed, memory, *_ in rows:
        month = dt.datetime.fromtimestamp(int(started_ms) / 1000, tz=dt.UTC).strftime("%Y-%m")
        total = totals[(month, str(name))]
        total[0] += 1
        total[1] += int(billed)
        total[2] += int(billed) * int(memory)
    return totals


def add_sqlite(dbapi_connection: Any, totals: _Totals) -> None:
    """Add to the rollups through a SQLite driver connection (the ingester's fast path), in
    the caller's transaction."""
    if totals:
        dbapi_connection.executemany(
            SQLITE_UPSERT,
            [(month, name, *values) for (month, name), values in totals.items()],
        )


def add(connection: Connection, totals: _Totals) -> None:
    """Add to the rollups in the caller's transaction (SQLite or PostgreSQL)."""
    if not totals:
        return
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = module.insert(billing_rollups)
    columns = statement.excluded
    upsert = statement.on_conflict_do_update(
        index_elements=[billing_rollups.c.month, billing_rollups.c.function_name],
        set_={
            "requests": billing_rollups.c.requests + columns.requests,
            "billed_ms": billing_rollups.c.billed_ms + columns.billed_ms,
            "billed_mb_ms": billing_rollups.c.billed_mb_ms + columns.billed_mb_ms,
        },
    )
    connection.execute(
        upsert,
        [
            {
                "month": month,
                "function_name": name,
                "requests": values[0],
                "billed_ms": values[1],
                "billed_mb_ms": values[2],
            }
            for (month, name), values in totals.items()
        ],
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
