"""Invocation records: journaled before the answer, ingested into the database behind it.

The promise: an answered invocation is always on the books. `append` writes the record to the
journal (`faas.store.journal`) with one write() before the response leaves, which survives a
SIGKILL of the server (with durability "fsync" the response also waits for a group fsync, for
power loss). No request waits for the database: the ingester thread (`faas.store.ingester`)
moves the records there in batches. A start first replays what a previous run left in the
journal; a query first waits until everything appended so far is ingested (`drained`), so it
sees every record this server has answered.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from sqlalchemy import Engine

from faas.billing import Usage
from faas.domain import Record, RecordStats, StoredSummary
from faas.errors import ServiceError
from faas.store.ingester import Ingester
from faas.store.journal import SegmentWriter, segment_seqs
from faas.store.provisioned_allocations import ProvisionedAllocationRepo
from faas.store.record_stats import record_stats
from faas.store.repos import RecordRepo, record_row
from faas.store.rollups import RollupRepo

DURABILITY_MODES = ("write", "fsync")


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class RecordLog:
    """The records of one server: journal + ingester + queries; see the module doc.

    `enabled=False` (the benchmark switch store.write_records) keeps no records at all."""

    def __init__(
        self,
        engine: Engine,
        directory: Path,
        *,
        enabled: bool = True,
        durability: str = "write",
        segment_bytes: int = 16 * 1024 * 1024,
        max_batch_rows: int = 2000,
        ingest_interval_s: float = 0.1,
        checkpoint_interval_s: float = 1.0,
        wal_limit_bytes: int = 64 * 1024 * 1024,
        on_stored: Callable[[StoredSummary], None] | None = None,
    ) -> None:
        if durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be one of {DURABILITY_MODES}")
        self._directory = directory
        self._enabled = enabled
        self._fsync = durability == "fsync"
        self._segment_bytes = segment_bytes
        self._engine = engine
        self._repo = RecordRepo(engine)
        self._ingester = Ingester(
            engine,
            directory,
            max_batch_rows=max_batch_rows,
            interval_s=ingest_interval_s,
            checkpoint_interval_s=checkpoint_interval_s,
            wal_limit_bytes=wal_limit_bytes,
            on_stored=on_stored,
        )
        self._writer: SegmentWriter | None = None
        self._state = _State.NEW

    @property
    def rows_ingested(self) -> int:
        """Journal entries inserted since start (replayed ones and duplicates included)."""
        return self._ingester.rows_ingested

    async def start(self) -> int:
        """Replay what an earlier run left in the journal, then take appends. Returns how
        many entries were replayed."""
        if self._state is not _State.NEW:
            raise RuntimeError("a RecordLog can be started only once")
        replayed = await asyncio.to_thread(self._ingester.replay)
        self._state = _State.RUNNING
        if not self._enabled:
            return replayed
        seqs = await asyncio.to_thread(self._prepare_directory)
        writer = self._writer = SegmentWriter(
            self._directory,
            (seqs[-1] + 1) if seqs else 1,
            segment_bytes=self._segment_bytes,
            fsync=self._fsync,
        )
        self._ingester.start(asyncio.get_running_loop(), lambda: writer.position, writer.position)
        return replayed

    def _prepare_directory(self) -> list[int]:
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Replay deleted the segments it read; a new one is numbered past any left over.
        return segment_seqs(self._directory)

    def append(self, record: Record) -> Awaitable[None] | None:
        """Journal `record` (on the loop thread). In "write" mode it is done on return (None);
        in "fsync" mode, await the result before answering. ServiceError if not written."""
        if self._state is not _State.RUNNING:
            raise ServiceError("the invocation records journal is not running")
        writer = self._writer
        if writer is None:  # records switched off
            return None
        writer.append(orjson.dumps(record_row(record)))
        return writer.synced() if self._fsync else None

    async def drained(self) -> None:
        """Return once every record appended before this call is in the database."""
        if self._writer is not None and self._state is _State.RUNNING:
            await self._ingester.drained(self._writer.position)

    def recent(self, function_name: str | None, limit: int) -> list[Record]:
        """Newest first (blocking; `drained` first to include the latest answers)."""
        return self._repo.recent(function_name, limit)

    def journal_segments(self) -> int:
        """Segment files in the journal (blocking): more than one or two is ingest lag."""
        return len(segment_seqs(self._directory)) if self._directory.is_dir() else 0

    def month_usage(self, month: str, now_ms: int) -> dict[str, Usage]:
        """Function -> its use in a UTC month: the rollups kept with the records, and the
        provisioned concurrency allocated until `now_ms` (blocking; `drained` first)."""
        usage = RollupRepo(self._engine).month(month)
        for name, allocated in ProvisionedAllocationRepo(self._engine).month(month, now_ms).items():
            usage[name] = usage.get(name, Usage()) + allocated
        return usage

    def month_usage_by_tag(self, month: str, tag_key: str) -> dict[tuple[str, str], Usage]:
        """(function, value of the tag) -> the function's invocations in the month while it
        had that tag (blocking; `drained` first)."""
        return RollupRepo(self._engine).month_by_tag(month, tag_key)

    def stats(self, function_name: str, since_ms: int) -> RecordStats:
        """The function's records since `since_ms`, summed (blocking; `drained` first)."""
        return record_stats(self._engine, function_name, since_ms)

    async def stop(self) -> None:
        """Ingest everything appended, then stop (appends are refused from now on)."""
        if self._state is not _State.RUNNING:
            self._state = _State.STOPPED
            return
        self._state = _State.STOPPED
        if self._writer is not None:
            await self._writer.close()
        await self._ingester.stop()
