"""The file delivery ledger (faas/store/file_ledger.py), on SQLite and PostgreSQL alike: a
version is delivered once, with its event in the same transaction; a removal only of a
delivered file; files there before a trigger are known but never announced."""

from __future__ import annotations

from sqlalchemy import Engine

from faas.domain import FileDelivery, FileEventKind, FileVersion, QueuedEvent
from faas.store.file_ledger import FileLedgerRepo
from faas.store.queue import EventQueueRepo

V1 = FileVersion(inode=10, size=5, mtime_ns=1_000)
V2 = FileVersion(inode=10, size=7, mtime_ns=2_000)


def event(n: int) -> QueuedEvent:
    return QueuedEvent(
        request_id=f"00000000-0000-7000-8000-{n:012d}",
        function_name="thumbs",
        qualifier=None,
        payload=b'{"Records": []}',
        client_context=None,
        enqueued_at_ms=1_000,
        not_before_ms=1_000,
    )


def created(n: int, key: str, version: FileVersion, trigger: str = "t1") -> FileDelivery:
    return FileDelivery(trigger, key, FileEventKind.CREATED, version, event(n))


def removed(n: int, key: str, trigger: str = "t1") -> FileDelivery:
    return FileDelivery(trigger, key, FileEventKind.REMOVED, None, event(n))


def test_each_version_is_delivered_once_with_its_event(store_engine: Engine) -> None:
    ledger, queue = FileLedgerRepo(store_engine), EventQueueRepo(store_engine)
    assert ledger.deliver_many([created(1, "a.jpg", V1)], now_ms=5) == [True]
    # The same version again (a rescan, a restart, the watcher and a rescan at once).
    assert ledger.deliver_many([created(2, "a.jpg", V1), created(3, "a.jpg", V1)], 6) == [
        False,
        False,
    ]
    assert ledger.deliver_many([created(4, "a.jpg", V2)], now_ms=7) == [True]
    assert ledger.versions("t1") == {"a.jpg": V2}
    assert queue.count() == 2
    # Another trigger keeps its own ledger.
    assert ledger.deliver_many([created(5, "a.jpg", V1, trigger="t2")], now_ms=8) == [True]


def test_a_removal_is_delivered_only_for_a_delivered_file(store_engine: Engine) -> None:
    ledger, queue = FileLedgerRepo(store_engine), EventQueueRepo(store_engine)
    assert ledger.deliver_many([removed(1, "never.jpg")], now_ms=5) == [False]
    ledger.deliver_many([created(2, "a.jpg", V1)], now_ms=5)
    assert ledger.deliver_many([removed(3, "a.jpg"), removed(4, "a.jpg")], now_ms=6) == [
        True,
        False,
    ]
    assert ledger.versions("t1") == {}
    assert queue.count() == 2
    # Created again after the removal: a new delivery.
    assert ledger.deliver_many([created(5, "a.jpg", V1)], now_ms=7) == [True]


def test_a_stopped_delivery_is_recorded_without_an_event(store_engine: Engine) -> None:
    ledger, queue = FileLedgerRepo(store_engine), EventQueueRepo(store_engine)
    stopped = FileDelivery("t1", "loop.txt", FileEventKind.CREATED, V1, None, depth=17)
    assert ledger.deliver_many([stopped], now_ms=5) == [True]
    assert ledger.versions("t1") == {"loop.txt": V1}
    assert queue.count() == 0


def test_files_there_before_the_trigger_are_known_but_not_announced(
    store_engine: Engine,
) -> None:
    ledger, queue = FileLedgerRepo(store_engine), EventQueueRepo(store_engine)
    ledger.baseline("t1", [("old.jpg", V1), ("older.jpg", V2)], now_ms=5)
    ledger.baseline("t1", [("old.jpg", V1)], now_ms=6)  # twice: no error, no change
    assert ledger.versions("t1") == {"old.jpg": V1, "older.jpg": V2}
    assert ledger.deliver_many([created(1, "old.jpg", V1)], now_ms=7) == [False]
    assert queue.count() == 0


def test_deliveries_of_one_key_in_one_batch_apply_in_order(store_engine: Engine) -> None:
    ledger, queue = FileLedgerRepo(store_engine), EventQueueRepo(store_engine)
    batch = [
        created(1, "k", V1),
        created(2, "k", V1),
        removed(3, "k"),
        removed(4, "k"),
        created(5, "k", V2),
        created(6, "other", V1),
    ]
    assert ledger.deliver_many(batch, now_ms=5) == [True, False, True, False, True, True]
    assert ledger.versions("t1") == {"k": V2, "other": V1}
    assert queue.count() == 4
    # Stored rows changed by a later batch: updated, removed, the rest left alone.
    later = [created(7, "k", V1), removed(8, "other"), created(9, "new", V2)]
    assert ledger.deliver_many(later, now_ms=6) == [True, True, True]
    assert ledger.versions("t1") == {"k": V1, "new": V2}
