"""The file delivery ledger: which version of each file a trigger delivered.

A delivery changes its ledger row and inserts its queued event in one transaction, and only
when the row really changed (a new version, or a removal of a delivered file): delivering the
same version twice, from the watcher and a rescan or after a restart, changes nothing. One
code path for SQLite and PostgreSQL (ON CONFLICT DO NOTHING, for the baseline, exists in
both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, tuple_, update
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
        """Commit each delivery whose ledger row changes, with its event; which ones did.

        A batch is one transaction of a few statements, not two per file: the rows of the
        batch's keys are read (locked on PostgreSQL), the deliveries are applied in order to
        that state (a key may come twice: created, then removed), and only the rows whose
        end state differs are written, with every event of a delivery that changed one."""
        if not deliveries:
            return []
        slots = list(dict.fromkeys((d.trigger_id, d.key) for d in deliveries))
        with self._engine.begin() as connection:
            stored = self._current(connection, slots)
            state: dict[tuple[str, str], FileVersion | None] = dict(stored)
            written: dict[tuple[str, str], FileDelivery] = {}
            done = []
            for delivery in deliveries:
                slot = (delivery.trigger_id, delivery.key)
                after = None if delivery.kind is FileEventKind.REMOVED else delivery.version
                changed = state.get(slot) != after
                done.append(changed)
                if changed:
                    state[slot] = after
                    written[slot] = delivery
            self._write(connection, stored, state, written, now_ms)
            events = [
                event_row(d.event)
                for d, did in zip(deliveries, done, strict=True)
                if did and d.event is not None
            ]
            if events:
                connection.execute(insert(event_queue), events)
        return done

    def _current(
        self, connection: Connection, slots: list[tuple[str, str]]
    ) -> dict[tuple[str, str], FileVersion]:
        columns = bucket_ledger.c
        found: dict[tuple[str, str], FileVersion] = {}
        for start in range(0, len(slots), _SELECT_CHUNK):
            chunk = slots[start : start + _SELECT_CHUNK]
            query = (
                select(
                    columns.trigger_id, columns.key, columns.inode, columns.size, columns.mtime_ns
                )
                .where(tuple_(columns.trigger_id, columns.key).in_(chunk))
                .with_for_update()
            )
            for trigger_id, key, inode, size, mtime_ns in connection.execute(query):
                found[(trigger_id, key)] = FileVersion(inode, size, mtime_ns)
        return found

    @staticmethod
    def _write(
        connection: Connection,
        stored: dict[tuple[str, str], FileVersion],
        state: dict[tuple[str, str], FileVersion | None],
        written: dict[tuple[str, str], FileDelivery],
        now_ms: int,
    ) -> None:
        """The rows whose end state differs from what was stored: deleted, updated, inserted."""
        gone = [slot for slot, version in state.items() if version is None and slot in stored]
        present = [
            (slot, version)
            for slot, version in state.items()
            if version is not None and stored.get(slot) != version
        ]
        rows = [_ledger_row(slot, version, written[slot], now_ms) for slot, version in present]
        updates = [row for row, (slot, _) in zip(rows, present, strict=True) if slot in stored]
        inserts = [row for row, (slot, _) in zip(rows, present, strict=True) if slot not in stored]
        columns = bucket_ledger.c
        if gone:
            connection.execute(
                delete(bucket_ledger).where(tuple_(columns.trigger_id, columns.key).in_(gone))
            )
        if updates:
            connection.execute(
                update(bucket_ledger)
                .where(
                    columns.trigger_id == bindparam("b_trigger_id"),
                    columns.key == bindparam("b_key"),
                )
                .values({name: bindparam(f"b_{name}") for name in _VALUE_COLUMNS}),
                [{f"b_{name}": value for name, value in row.items()} for row in updates],
            )
        if inserts:
            connection.execute(insert(bucket_ledger), inserts)


# Keys looked up per SELECT (two parameters each; SQLite allows 32,766 per statement).
_SELECT_CHUNK = 1000
_VALUE_COLUMNS = ("inode", "size", "mtime_ns", "depth", "request_id", "delivered_ms")


def _ledger_row(
    slot: tuple[str, str], version: FileVersion, delivery: FileDelivery, now_ms: int
) -> dict[str, object]:
    return {
        "trigger_id": slot[0],
        "key": slot[1],
        "inode": version.inode,
        "size": version.size,
        "mtime_ns": version.mtime_ns,
        "depth": delivery.depth,
        "request_id": delivery.event.request_id if delivery.event else "",
        "delivered_ms": now_ms,
    }
