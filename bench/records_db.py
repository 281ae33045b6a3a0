"""Databases of invocation records for (o) and (p): made, filled and measured the way the
server does it, so what the bench times is what production would.

The schema comes from faas's own migrations, and records go in through the records
ingester's own statements (the journal's row format, one JSON array per INSERT, the monthly
rollups added from the stored id range in the same transaction), so `billing_rollups` holds
exactly what a server that had taken those invocations would hold.
"""

from __future__ import annotations

import itertools
import math
import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from faas import billing
from faas.config import StoreSettings
from faas.config import load as load_settings
from faas.domain import InvocationStatus, Record
from faas.store import rollups
from faas.store.engine import checkpoint, make_engine
from faas.store.ingester import SQLITE_STATEMENT_ROWS
from faas.store.repos import RecordRepo, record_row
from faas.store.schema import migrate

# Rows per transaction while filling: the ingester commits what one pass found (at most
# store.max_batch_rows); a month made at once is larger commits of the same statements.
FILL_BATCH_ROWS = 20_000
FUNCTIONS = 50
MEMORY_MIN_MB, MEMORY_MAX_MB = 128, 3008
# What a record of a sandboxed worker carries (faas.pool.sandbox.isolation_tag): it sets the
# row's size on disk as much as the numbers do.
ISOLATION = "cgroup-v2 mountns tmp-ext4 uid landlock-7 seccomp nnp"
SEED = 20_250_101

_LARGEST_ID = "SELECT coalesce(max(id), 0) FROM invocations"
# What a bill would cost without rollups: the month's rows summed per function.
_PLAIN_MONTH_TOTALS = (
    "SELECT function_name, count(*), sum(billed_ms), sum(billed_ms * memory_mb) "
    "FROM invocations WHERE started_at_ms >= ? AND started_at_ms < ? GROUP BY function_name"
)
_ROW_STATS = "SELECT count(*), coalesce(min(id), 0) FROM invocations"

Usage = dict[str, tuple[int, int, int]]


def database_path(data_dir: Path) -> Path:
    """Where a server on `data_dir` keeps its SQLite database (the default store.url)."""
    url = load_settings(overrides={"server.data_dir": str(data_dir)}).store_url
    return Path(url.removeprefix("sqlite:///"))


def create_database(data_dir: Path) -> Engine:
    """The database a server's first start would make on `data_dir`: faas's engine (WAL and
    its pragmas) and every schema migration. (The server adds its master key, credentials
    and admin key at its own start: nothing sealed is needed before.)"""
    engine = make_engine(f"sqlite:///{database_path(data_dir)}")
    migrate(engine)
    return engine


# -- a month of records -----------------------------------------------------------------------


def function_name(index: int) -> str:
    return f"fn-{index:02d}"


def memory_mb(index: int) -> int:
    """The functions' memory sizes, spread evenly over Lambda's usual range."""
    step = (MEMORY_MAX_MB - MEMORY_MIN_MB) / (FUNCTIONS - 1)
    return MEMORY_MIN_MB + round(index * step)


def request_id(started_at_ms: int, sequence: int) -> str:
    """A UUID v7 as the gateway makes them (faas.request_ids), for a past moment: time
    ordered, so the unique index grows at its right edge as it does in production."""
    digits = f"{started_at_ms:012x}7{sequence & 0xFFF:03x}{(0b10 << 62) | sequence:016x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:32]}"


def month_payloads(month: str, records: int, start: int, count: int) -> list[bytes]:
    """Rows `start`..`start + count` of `records` spread evenly over the UTC `month`, as the
    journal holds them (orjson of `record_row`). A few functions take most calls (Zipf-like
    weights); durations vary per call around each function's own typical duration."""
    first_ms, end_ms = billing.month_range_ms(month)
    spacing = (end_ms - first_ms) / records
    rng = random.Random(SEED + start)
    weights = list(itertools.accumulate(1 / (k + 1) for k in range(FUNCTIONS)))
    picks = rng.choices(range(FUNCTIONS), cum_weights=weights, k=count)
    payloads = []
    for offset, index in enumerate(picks):
        sequence = start + offset
        started_at_ms = first_ms + int(sequence * spacing)
        typical_ms = 5 + (index * 37) % 900
        duration_ms = round(typical_ms * (0.3 + 1.4 * rng.random()), 3)
        failed = sequence % 100 == 99
        record = Record(
            request_id=request_id(started_at_ms, sequence),
            function_name=function_name(index),
            function_version="$LATEST",
            started_at_ms=started_at_ms,
            duration_ms=duration_ms,
            billed_ms=max(1, math.ceil(duration_ms)),
            memory_mb=memory_mb(index),
            max_memory_used_mb=14 + index % 40,
            init_duration_ms=round(40 + 60 * rng.random(), 3) if sequence % 1000 == 0 else None,
            status=InvocationStatus.UNHANDLED if failed else InvocationStatus.SUCCESS,
            error_type="ValueError" if failed else None,
            isolation=ISOLATION,
            invocation_type="Event" if sequence % 10 == 0 else "RequestResponse",
        )
        payloads.append(orjson.dumps(record_row(record)))
    return payloads


@dataclass(frozen=True, slots=True)
class Filled:
    records: int
    seconds: float  # making the rows and storing them
    ingest_seconds: float  # of which in the ingester's statements and commits


def fill_month(engine: Engine, month: str, records: int) -> Filled:
    """Store `records` invocations of `month` through the ingester's SQLite fast path, one
    transaction per FILL_BATCH_ROWS, checkpointing the WAL between transactions as the
    ingester does between passes (blocking)."""
    repo = RecordRepo(engine)
    wal_limit = StoreSettings().wal_limit_mb * 1024 * 1024
    raw = engine.raw_connection()
    started = time.perf_counter()
    ingest_s = 0.0
    try:
        raw.execute(f"PRAGMA journal_size_limit={wal_limit}")
        if not repo.sqlite_reads_json(raw):
            raise RuntimeError("this SQLite has no JSON functions: the ingester's fast path is off")
        for start in range(0, records, FILL_BATCH_ROWS):
            payloads = month_payloads(month, records, start, min(FILL_BATCH_ROWS, records - start))
            began = time.perf_counter()
            commit_batch(raw, repo, payloads)
            checkpoint(engine, restart_above_bytes=wal_limit)
            ingest_s += time.perf_counter() - began
    finally:
        raw.close()
    return Filled(records, time.perf_counter() - started, ingest_s)


def commit_batch(raw: Any, repo: RecordRepo, payloads: Sequence[bytes]) -> None:
    """One transaction of the records ingester's SQLite path (Ingester._commit_sqlite): the
    rows as JSON arrays of SQLITE_STATEMENT_ROWS, then the rollups of the ids they took."""
    try:
        before = raw.execute(_LARGEST_ID).fetchone()[0]
        for start in range(0, len(payloads), SQLITE_STATEMENT_ROWS):
            part = payloads[start : start + SQLITE_STATEMENT_ROWS]
            repo.insert_json_rows_once_sqlite(b"[" + b",".join(part) + b"]", raw)
        after = raw.execute(_LARGEST_ID).fetchone()[0]
        if after - before != len(payloads):
            raise RuntimeError(f"stored {after - before} of {len(payloads)} rows")
        rollups.add_to_rollups_sqlite(raw, before, after)
        raw.commit()
    except BaseException:
        raw.rollback()
        raise


# -- reading it back --------------------------------------------------------------------------


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that can change nothing (the server owns the file meanwhile)."""
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5.0)


def plain_month_totals(path: Path, month: str) -> tuple[Usage, float]:
    """Function -> (requests, billed ms, billed MB-ms) of `month` summed over its rows, as a
    bill without rollups would have to; and the seconds that took."""
    first_ms, end_ms = billing.month_range_ms(month)
    connection = _read_only(path)
    try:
        started = time.perf_counter()
        rows = connection.execute(_PLAIN_MONTH_TOTALS, (first_ms, end_ms)).fetchall()
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    return {str(name): (int(n), int(ms), int(mb_ms)) for name, n, ms, mb_ms in rows}, elapsed


def row_stats(path: Path) -> tuple[int, int]:
    """(rows in `invocations`, smallest id): the smallest id moves once old rows are gone."""
    connection = _read_only(path)
    try:
        count, smallest = connection.execute(_ROW_STATS).fetchone()
    finally:
        connection.close()
    return int(count), int(smallest)


@dataclass(frozen=True, slots=True)
class SizeOnDisk:
    main_bytes: int
    wal_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.main_bytes + self.wal_bytes


def size_on_disk(path: Path) -> SizeOnDisk:
    """The database file and its WAL (the -shm index is a few KB and not data)."""
    wal = path.with_name(path.name + "-wal")
    return SizeOnDisk(_size(path), _size(wal))


def journal_size(data_dir: Path) -> tuple[int, int]:
    """(segments, bytes) of the records journal, where answered invocations wait for the
    ingester (faas.server keeps it in <data_dir>/journal): a segment is deleted once stored,
    so more than one or two means the ingester is behind."""
    segments = sorted((data_dir / "journal").glob("*"))
    return len(segments), sum(_size(segment) for segment in segments)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
