"""File-watch buckets: files that land in (or leave) a bucket's directory become S3 events,
queued as async invocations of the functions whose triggers match, once per version.

When a file is complete (docs/buckets.md):
- closed after writing, then unchanged for `filewatch.quiet_period_ms` (a writer that opens
  it again, or keeps writing, restarts the wait), or
- renamed into the bucket (or to a real name from an ignored temporary one).
A file created but not yet closed is being written and is never delivered half-written.

Exactly once: every delivery is committed with its ledger row (faas/queue/file_deliveries.py);
the watcher, a comparison of the directory with the ledger (at start, when a trigger is added,
when the kernel dropped events, and every `filewatch.rescan_interval_s`) and a restart may
all offer the same version, and only the first one queues an event.

Watching uses watchdog (inotify on Linux) in its own thread; everything else runs on the
event loop, and disk work (scans, eTags) in worker threads. The operations on one key run
in order, so a quick create-then-delete reaches the ledger in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    EventsLostEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import ObservedWatch
from watchdog.observers.inotify import InotifyObserver

from faas.config import FileWatchSettings
from faas.domain import (
    Bucket,
    BucketTrigger,
    FileDelivery,
    FileEventKind,
    FileVersion,
    QueuedEvent,
)
from faas.queue.file_deliveries import FileDeliveries
from faas.registry.buckets import BucketRegistry
from faas.triggers.bucket_files import (
    FoundFile,
    Scan,
    etag_of,
    key_of,
    open_for_writing,
    scan,
    stat_file,
)
from faas.triggers.recursion import RecursionGuard
from faas.triggers.s3_event import ObjectEvent, Sequencer, s3_event

log = logging.getLogger(__name__)

# watchdog's events that matter here (opens and reads, e.g. by functions, do not).
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
    EventsLostEvent,
]
# A burst of directory events (a tree moved in) leads to one comparison, this long after.
RESCAN_DEBOUNCE_S = 0.05
# After a failed delivery transaction, the bucket is compared with the ledger this much later.
RETRY_AFTER_S = 2.0


@dataclass
class TriggerStats:
    delivered: int = 0
    last_delivery_ms: int | None = None
    errors: int = 0
    last_error: str | None = None
    loops_stopped: int = 0


@dataclass
class _Pending:
    """A file being written: delivered once it settles after its last close."""

    timer: asyncio.TimerHandle | None = None


@dataclass
class _BucketWatch:
    bucket: Bucket
    watch: ObservedWatch | None = None
    error: str | None = None
    pending: dict[str, _Pending] = field(default_factory=dict)
    rescan: asyncio.TimerHandle | None = None
    retry: asyncio.TimerHandle | None = None


class _Forwarder(FileSystemEventHandler):
    """watchdog's thread -> the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[str, FileSystemEvent], None],
        name: str,
    ) -> None:
        self._loop = loop
        self._on_event = on_event
        self._name = name

    def on_any_event(self, event: FileSystemEvent) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(self._on_event, self._name, event)


class FileWatch:
    def __init__(
        self,
        buckets: BucketRegistry,
        deliveries: FileDeliveries,
        guard: RecursionGuard,
        *,
        settings: FileWatchSettings,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._buckets = buckets
        self._deliveries = deliveries
        self._guard = guard
        self._quiet_s = settings.quiet_period_ms / 1000
        self._rescan_interval_s = settings.rescan_interval_s
        self._region = region
        self._clock = clock
        self._sequencer = Sequencer(clock)
        self._observer: InotifyObserver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: dict[str, _BucketWatch] = {}
        self._stats: dict[str, TriggerStats] = {}
        # The last operation queued per (bucket, key): the next one waits for it.
        self._tails: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._periodic: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Watch every bucket that has triggers, then deliver what changed while nobody
        watched (files created, changed or removed while the server was down)."""
        self._loop = asyncio.get_running_loop()
        for name in sorted({t.bucket for t in self._buckets.triggers()}):
            self._watch(name)
        await asyncio.gather(*(self._reconcile(name) for name in list(self._watches)))
        if self._rescan_interval_s > 0:
            self._periodic = self._loop.create_task(self._rescan_forever())

    async def stop(self) -> None:
        if self._periodic is not None:
            self._periodic.cancel()
        for state in self._watches.values():
            for pending in state.pending.values():
                if pending.timer is not None:
                    pending.timer.cancel()
            for timer in (state.rescan, state.retry):
                if timer is not None:
                    timer.cancel()
        if self._observer is not None:
            observer, self._observer = self._observer, None
            observer.stop()
            await asyncio.to_thread(observer.join, 5)
        # Deliveries under way finish (each is one transaction); what is cut short here is
        # found again by the comparison at the next start.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    # -- management (the gateway) -------------------------------------------------------------

    async def add_trigger(
        self,
        function_name: str,
        bucket: str,
        *,
        prefix: str = "",
        suffix: str = "",
        events: Iterable[str] = ("created",),
    ) -> BucketTrigger:
        """Store the trigger, take note of the files already there (not announced: S3 does
        not announce objects that existed before a notification), then watch the bucket."""
        trigger = await asyncio.to_thread(
            self._buckets.add_trigger,
            function_name,
            bucket,
            prefix=prefix,
            suffix=suffix,
            events=list(events),
        )
        root = self._buckets.bucket(bucket).path
        try:
            found = await asyncio.to_thread(_scan_or_empty, root)
            await self._deliveries.baseline(
                trigger.id,
                [(key, f.version) for key, f in found.items() if _in_scope(trigger, key)],
            )
        except Exception:
            # Not half made: a trigger without its baseline would announce every old file.
            await asyncio.to_thread(self._buckets.remove_trigger, trigger.id)
            raise
        self._watch(bucket)
        return trigger

    async def remove_trigger(self, trigger_id: str) -> BucketTrigger:
        trigger = await asyncio.to_thread(self._buckets.remove_trigger, trigger_id)
        self._stats.pop(trigger_id, None)
        self._unwatch_if_unused(trigger.bucket)
        return trigger

    def report(self) -> list[dict[str, object]]:
        """Each trigger's state, for /health and `faas trigger ls`."""
        rows: list[dict[str, object]] = []
        for trigger in self._buckets.triggers():
            state = self._watches.get(trigger.bucket)
            stats = self._stats.get(trigger.id, TriggerStats())
            rows.append(
                {
                    "Id": trigger.id,
                    "Type": "bucket",
                    "FunctionName": trigger.function_name,
                    "Bucket": trigger.bucket,
                    "Prefix": trigger.prefix,
                    "Suffix": trigger.suffix,
                    "Events": [f"s3:{kind}:*" for kind in trigger.events],
                    "State": _state_word(state),
                    "StateReason": state.error if state is not None else None,
                    "Backlog": len(state.pending) if state is not None else 0,
                    "Delivered": stats.delivered,
                    "LastDelivery": stats.last_delivery_ms,
                    "Errors": stats.errors,
                    "LastError": stats.last_error,
                    "LoopsStopped": stats.loops_stopped,
                }
            )
        return rows

    # -- watching ----------------------------------------------------------------------------

    def _watch(self, name: str) -> None:
        state = self._watches.get(name)
        if state is None:
            state = self._watches[name] = _BucketWatch(self._buckets.bucket(name))
        if state.watch is not None or self._loop is None:
            return
        if self._observer is None:
            # Started with the first watch: a server without bucket triggers runs no
            # watcher threads.
            self._observer = InotifyObserver(generate_full_events=True)
            self._observer.start()
        try:
            state.watch = self._observer.schedule(
                _Forwarder(self._loop, self._on_event, name),
                state.bucket.path,
                recursive=True,
                event_filter=WATCHED_EVENTS,
            )
            state.error = None
        except OSError as exc:
            state.error = f"cannot watch {state.bucket.path}: {exc.strerror or exc}"
            log.error("bucket %s: %s", name, state.error)

    def _unwatch_if_unused(self, name: str) -> None:
        if any(t.bucket == name for t in self._buckets.triggers()):
            return
        state = self._watches.pop(name, None)
        if state is None:
            return
        for pending in state.pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        if state.watch is not None and self._observer is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(state.watch)

    def _on_event(self, name: str, event: FileSystemEvent) -> None:
        state = self._watches.get(name)
        if state is None:
            return
        if isinstance(event, EventsLostEvent):
            log.warning("bucket %s: the kernel dropped file events; comparing again", name)
            self._schedule_rescan(state)
        elif isinstance(event, DirDeletedEvent) and _same_path(event.src_path, state.bucket.path):
            self._lost_root(state)
        elif isinstance(event, DirMovedEvent | DirDeletedEvent | DirCreatedEvent):
            # A tree moved in or out, or a new directory whose first files may have landed
            # before its watch: compare the bucket with the ledger.
            self._schedule_rescan(state)
        elif isinstance(event, FileMovedEvent):
            self._on_moved(state, event)
        elif not event.is_directory:
            self._on_file_event(state, event)

    def _on_file_event(self, state: _BucketWatch, event: FileSystemEvent) -> None:
        name = state.bucket.name
        key = key_of(state.bucket.path, os.fsdecode(event.src_path))
        if key is None:
            return
        if isinstance(event, FileDeletedEvent):
            self._forget_pending(state, key)
            self._in_order(name, key, lambda: self._removed(name, key))
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
            pending = state.pending.setdefault(key, _Pending())
            if pending.timer is not None:  # written again after a close: wait again
                pending.timer.cancel()
                pending.timer = None
        elif isinstance(event, FileClosedEvent):
            self._arm(state, key)

    def _lost_root(self, state: _BucketWatch) -> None:
        """The bucket's directory itself went away: its watch ended with it. The periodic
        look watches it again once it is back (and compares it with the ledger)."""
        state.error = f"{state.bucket.path} was removed"
        log.error("bucket %s: %s", state.bucket.name, state.error)
        if state.watch is not None and self._observer is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(state.watch)
        state.watch = None
        for key in list(state.pending):
            self._forget_pending(state, key)

    def _on_moved(self, state: _BucketWatch, event: FileMovedEvent) -> None:
        """Renamed: the old key (if it was one) is removed; the new one is complete now (a
        rename into the bucket, or from an ignored temporary name)."""
        root, name = state.bucket.path, state.bucket.name
        source = key_of(root, os.fsdecode(event.src_path)) if event.src_path else None
        target = key_of(root, os.fsdecode(event.dest_path)) if event.dest_path else None
        if source is not None:
            self._forget_pending(state, source)
            self._in_order(name, source, lambda: self._removed(name, source))
        if target is not None:
            self._forget_pending(state, target)
            self._in_order(name, target, lambda: self._created(name, target))

    def _arm(self, state: _BucketWatch, key: str) -> None:
        """Closed after writing: complete if it stays as it is now for the quiet period."""
        assert self._loop is not None
        pending = state.pending.setdefault(key, _Pending())
        if pending.timer is not None:
            pending.timer.cancel()
        seen = stat_file(state.bucket.path, key)
        if seen is None:
            state.pending.pop(key, None)
            return
        pending.timer = self._loop.call_later(self._quiet_s, self._settle, state, key, seen)

    def _settle(self, state: _BucketWatch, key: str, at_close: FoundFile) -> None:
        pending = state.pending.get(key)
        if pending is None:
            return
        pending.timer = None
        now = stat_file(state.bucket.path, key)
        if now is None:
            state.pending.pop(key, None)
            return
        if now.version != at_close.version:
            # Changed without a new close (say, through a descriptor kept open or mmap):
            # wait another quiet period from this version.
            assert self._loop is not None
            pending.timer = self._loop.call_later(self._quiet_s, self._settle, state, key, now)
            return
        state.pending.pop(key, None)
        name = state.bucket.name
        self._in_order(name, key, lambda: self._created(name, key, now.version))

    def _forget_pending(self, state: _BucketWatch, key: str) -> None:
        pending = state.pending.pop(key, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()

    def _in_order(self, bucket: str, key: str, operation: Callable[[], Awaitable[None]]) -> None:
        """Run `operation` after the operations queued before it for the same key."""
        assert self._loop is not None
        slot = (bucket, key)
        before = self._tails.get(slot)
        done: asyncio.Future[None] = self._loop.create_future()
        self._tails[slot] = done

        async def run() -> None:
            try:
                if before is not None:
                    await asyncio.shield(before)
                await operation()
            except Exception:
                log.exception("bucket %s: delivering %r failed", bucket, key)
            finally:
                done.set_result(None)
                if self._tails.get(slot) is done:
                    del self._tails[slot]

        task = self._loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- comparing a directory with the ledger --------------------------------------------------

    def _schedule_rescan(self, state: _BucketWatch) -> None:
        assert self._loop is not None
        if state.rescan is not None:
            return

        def fire() -> None:
            state.rescan = None
            task = asyncio.ensure_future(self._reconcile(state.bucket.name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        state.rescan = self._loop.call_later(RESCAN_DEBOUNCE_S, fire)

    async def _rescan_forever(self) -> None:
        while True:
            await asyncio.sleep(self._rescan_interval_s)
            for name in list(self._watches):
                self._watch(name)  # a bucket whose directory was missing may be back
                try:
                    await self._reconcile(name)
                except Exception:
                    log.exception("bucket %s: periodic comparison failed", name)

    async def _reconcile(self, name: str) -> None:
        """Deliver every file that differs from the ledger and stayed unchanged for a quiet
        period, and every removal of a delivered file. Files being written are left to their
        close."""
        state = self._watches.get(name)
        if state is None or state.watch is None:
            return
        triggers = [t for t in self._buckets.triggers() if t.bucket == name]
        if not triggers:
            return
        root = state.bucket.path
        ledgers = [await self._deliveries.versions(t.id) for t in triggers]
        try:
            walked = await asyncio.to_thread(scan, root)
        except OSError as exc:
            # Never read as "every file was removed": a directory that went away (an
            # unmounted disk) announces nothing until it is back.
            state.error = f"cannot read {root}: {exc.strerror or exc}"
            log.error("bucket %s: %s", name, state.error)
            return
        state.error = None
        changed, removed = _differences(triggers, ledgers, walked)
        complete = await self._complete(state, walked.files, changed)
        for key, version in sorted(complete.items()):
            self._in_order(name, key, lambda k=key, v=version: self._created(name, k, v))  # type: ignore[misc]
        for key in sorted(removed):
            self._in_order(name, key, lambda key=key: self._removed(name, key))  # type: ignore[misc]

    async def _complete(
        self, state: _BucketWatch, found: dict[str, FoundFile], changed: set[str]
    ) -> dict[str, FileVersion]:
        """Of the changed files, those complete: unchanged for a quiet period and open for
        writing by nobody. A file nobody has open was closed, whether or not the watcher saw
        its close (written in a new directory before its watch existed, or while the server
        was down); one still open is being written and waits for its close. Files the
        watcher times already are left to their timers."""
        changed = {key for key in changed if not _armed(state, key)}
        if not changed:
            return {}
        await asyncio.sleep(self._quiet_s)
        again = (await asyncio.to_thread(scan, state.bucket.path)).files
        stable = [
            again[key]
            for key in changed
            if key in again and again[key].version == found[key].version and not _armed(state, key)
        ]
        writing = await asyncio.to_thread(open_for_writing, [f.identity for f in stable])
        complete = {f.key: f.version for f in stable if f.identity not in writing}
        for key in complete:
            self._forget_pending(state, key)
        return complete

    # -- deliveries -----------------------------------------------------------------------------

    async def _created(self, bucket: str, key: str, expected: FileVersion | None = None) -> None:
        """Deliver the file at `key` if it is complete: the version the caller saw complete
        (`expected`; None for a rename, complete as it is), not being written since."""
        state = self._watches.get(bucket)
        if state is None:
            return
        pending = state.pending.get(key)
        if pending is not None and pending.timer is None:
            return  # written again since it was seen complete: its close comes next
        root = state.bucket.path
        triggers = [t for t in self._buckets.triggers() if t.bucket == bucket and _in_scope(t, key)]
        if not triggers:
            return
        seen = await asyncio.to_thread(stat_file, root, key)
        if seen is None or (expected is not None and seen.version != expected):
            return  # gone, or changed since it was seen complete: its own events follow
        etag = await asyncio.to_thread(etag_of, root, seen)
        if etag is None or await asyncio.to_thread(stat_file, root, key) != seen:
            return  # replaced or changed while it was read: its own events follow
        writer = self._guard.writer(seen.uid)
        deliveries = []
        for trigger in triggers:
            wanted = FileEventKind.CREATED in trigger.events
            depth = self._guard.depth_for(writer)
            event = None
            if wanted:
                if self._guard.stops(trigger.function_name, depth):
                    self._stats_for(trigger).loops_stopped += 1
                    log.warning(
                        "recursive loop stopped: %s was invoked %d times in a chain through "
                        "bucket %s (key %s); PutFunctionRecursionConfig Allow lets it run",
                        trigger.function_name,
                        depth - 1,
                        bucket,
                        key,
                    )
                else:
                    event = self._event(
                        trigger,
                        ObjectEvent(
                            bucket,
                            key,
                            FileEventKind.CREATED,
                            size=seen.version.size,
                            etag=etag,
                            principal=writer or _host_principal(seen.uid),
                            configuration_id=trigger.id,
                        ),
                    )
            deliveries.append(
                FileDelivery(trigger.id, key, FileEventKind.CREATED, seen.version, event, depth)
            )
        await self._commit(triggers, deliveries)

    async def _removed(self, bucket: str, key: str) -> None:
        state = self._watches.get(bucket)
        if state is None:
            return
        if await asyncio.to_thread(stat_file, state.bucket.path, key) is not None:
            return  # there again (made anew since it was seen gone): not a removal
        triggers = [t for t in self._buckets.triggers() if t.bucket == bucket and _in_scope(t, key)]
        deliveries = []
        for trigger in triggers:
            event = None
            if FileEventKind.REMOVED in trigger.events:
                event = self._event(
                    trigger,
                    ObjectEvent(bucket, key, FileEventKind.REMOVED, configuration_id=trigger.id),
                )
            deliveries.append(FileDelivery(trigger.id, key, FileEventKind.REMOVED, None, event))
        await self._commit(triggers, deliveries)

    async def _commit(self, triggers: list[BucketTrigger], deliveries: list[FileDelivery]) -> None:
        outcomes = await asyncio.gather(
            *(self._deliveries.deliver(d) for d in deliveries), return_exceptions=True
        )
        now_ms = int(self._clock() * 1000)
        for trigger, delivery, outcome in zip(triggers, deliveries, outcomes, strict=True):
            stats = self._stats_for(trigger)
            if isinstance(outcome, BaseException):
                stats.errors += 1
                stats.last_error = f"{type(outcome).__name__}: {outcome}"[:500]
                log.error("trigger %s: %s not delivered: %s", trigger.id, delivery.key, outcome)
                self._retry_later(trigger.bucket)
            elif outcome and delivery.event is not None:
                stats.delivered += 1
                stats.last_delivery_ms = now_ms
                if delivery.kind is FileEventKind.CREATED:
                    self._guard.delivered(trigger.function_name, delivery.depth)

    def _retry_later(self, bucket: str) -> None:
        """A delivery's transaction failed (a lock held too long, the database away): the
        bucket is compared with the ledger again after a pause, which offers it again."""
        state = self._watches.get(bucket)
        if state is None or state.retry is not None or self._loop is None:
            return

        def compare() -> None:
            state.retry = None
            self._schedule_rescan(state)

        state.retry = self._loop.call_later(RETRY_AFTER_S, compare)

    def _event(self, trigger: BucketTrigger, event: ObjectEvent) -> QueuedEvent:
        now_ms = int(self._clock() * 1000)
        request_id = str(uuid.uuid4())
        payload = s3_event(
            event,
            region=self._region,
            event_time_ms=now_ms,
            sequencer=self._sequencer.next(),
            request_id=request_id,
        )
        return QueuedEvent(
            request_id=request_id,
            function_name=trigger.function_name,
            qualifier=None,
            payload=_dumps(payload),
            client_context=None,
            enqueued_at_ms=now_ms,
            not_before_ms=now_ms,
        )

    def _stats_for(self, trigger: BucketTrigger) -> TriggerStats:
        return self._stats.setdefault(trigger.id, TriggerStats())


def _differences(
    triggers: list[BucketTrigger], ledgers: list[dict[str, FileVersion]], walked: Scan
) -> tuple[set[str], set[str]]:
    """Keys whose file differs from some trigger's ledger, and delivered keys now gone (not
    those under a directory the walk could not read: unknown is not gone)."""
    changed: set[str] = set()
    removed: set[str] = set()
    found = walked.files
    for trigger, ledger in zip(triggers, ledgers, strict=True):
        for key, seen in found.items():
            if _in_scope(trigger, key) and ledger.get(key) != seen.version:
                changed.add(key)
        removed.update(key for key in ledger if key not in found and walked.covers(key))
    return changed, removed


def _armed(state: _BucketWatch, key: str) -> bool:
    pending = state.pending.get(key)
    return pending is not None and pending.timer is not None


def _in_scope(trigger: BucketTrigger, key: str) -> bool:
    """The trigger's filters match the key (whatever the event type: the ledger keeps every
    key in scope, so that a removal can be told from a key never seen)."""
    return key.startswith(trigger.prefix) and key.endswith(trigger.suffix)


def _scan_or_empty(root: str) -> dict[str, FoundFile]:
    """What a new trigger takes as already there (nothing, if the directory is unreadable)."""
    try:
        return scan(root).files
    except OSError:
        return {}


def _same_path(path: bytes | str, root: str) -> bool:
    return os.path.normpath(os.fsdecode(path)) == os.path.normpath(root)


def _state_word(state: _BucketWatch | None) -> str:
    if state is None:
        return "Idle"
    if state.error is not None:
        return "Error"
    return "Watching" if state.watch is not None else "Starting"


def _host_principal(uid: int) -> str:
    return f"uid:{uid}"


def _dumps(document: object) -> bytes:
    return orjson.dumps(document)
