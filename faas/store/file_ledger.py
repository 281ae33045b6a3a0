"""The file delivery ledger: which version of each file a trigger delivered.

A delivery changes its ledger row and inserts its queued event in one transaction, and only
when the row really changed (a new version, or a removal of a delivered file): delivering the
same version twice, from the watcher and a rescan or after a restart, changes nothing. One
code path for SQLite and PostgreSQL (ON CONFLICT DO NOTHING exists in both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, not_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from faas.domain import FileDelivery, FileEventKind, FileVersion
from faas.store.queue import event_row
from faas.store.tables import bucket_ledger, event_queue


class FileLedgerRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialects: dict[str, Any] = {"postgresql": postgresql, "sqlite": sqlite}
        self._insert = dialects[engine.dialect.name].insert

    def versions(self, trigger_id: str) -> dict[str, FileVersion]:
        """Every key the trigger delivered (and did not see removed), with its version."""
        query = select(
            bucket_ledger.c.key,
            bucket_ledger.c.inode,
            bucket_ledger.c.size,
            bucket_ledger.c.mtime_ns,
        ).where(bucket_ledger.c.trigger_id == trigger_id)
        with self._engine.connect() as connection:
            return {
                key: FileVersion(inode, size, mtime_ns)
                for key, inode, size, mtime_ns in connection.execute(query)
            }

    def baseline(
        self, trigger_id: str, files: Iterable[tuple[str, FileVersion]], now_ms: int
    ) -> None:
        """Files already there when the trigger was made: known, but not announced (S3 sends
        no event for objects that existed before a notification was configured)."""
        rows = [
            {
                "trigger_id": trigger_id,
                "key": key,
                "inode": version.inode,
                "size": version.size,
                "mtime_ns": version.mtime_ns,
                "depth": 1,
                "request_id": "",
                "delivered_ms": now_ms,
            }
            for key, version in files
        ]
        if not rows:
            return
        with self._engine.begin() as connection:
            connection.execute(self._insert(bucket_ledger).on_conflict_do_nothing(), rows)

    def deliver_many(self, deliveries: Sequence[FileDelivery], now_ms: int) -> list[bool]:
        """Commit each delivery whose ledger row changes, with its event; which ones did."""
        if not deliveries:
            return []
        with self._engine.begin() as connection:
            done = [self._record(connection, delivery, now_ms) for delivery in deliveries]
            events = [
                event_row(d.event)
                for d, did in zip(deliveries, done, strict=True)
                if did and d.event is not None
            ]
            if events:
                connection.execute(insert(event_queue), events)
        return done

    def _record(self, connection: Connection, delivery: FileDelivery, now_ms: int) -> bool:
        row = and_(
            bucket_ledger.c.trigger_id == delivery.trigger_id,
            bucket_ledger.c.key == delivery.key,
        )
        if delivery.kind is FileEventKind.REMOVED or delivery.version is None:
            return bool(connection.execute(delete(bucket_ledger).where(row)).rowcount)
        version = delivery.version
        values = {
            "inode": version.inode,
            "size": version.size,
            "mtime_ns": version.mtime_ns,
            "depth": delivery.depth,
            "request_id": delivery.event.request_id if delivery.event else "",
            "delivered_ms": now_ms,
        }
        same = and_(
            bucket_ledger.c.inode == version.inode,
            bucket_ledger.c.size == version.size,
            bucket_ledger.c.mtime_ns == version.mtime_ns,
        )
        changed = connection.execute(update(bucket_ledger).where(row, not_(same)).values(values))
        if changed.rowcount:
            return True
        # RETURNING, not rowcount: PostgreSQL's driver reports -1 for an INSERT ... ON
        # CONFLICT DO NOTHING, whether it inserted or not.
        inserted = connection.execute(
            self._insert(bucket_ledger)
            .values(trigger_id=delivery.trigger_id, key=delivery.key, **values)
            .on_conflict_do_nothing()
            .returning(bucket_ledger.c.key)
        )
        return inserted.first() is not None
