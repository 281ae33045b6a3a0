"""Running async events: claim under a lease, run through the invoker, then the way out.

One loop on the event loop claims due events (in a thread: it is a database transaction) up
to the async share of the account's concurrency, and runs each as a task through the same
invoker, admission, pool and records as a synchronous call. After an attempt:
- success: the event leaves the queue (with its OnSuccess destination's event, if any, in the
  same transaction);
- a function error, timeout or out-of-memory: tried again after Lambda's backoff (base x 1,
  then x 2) while attempts and age allow, else the failure path: the OnFailure destination's
  event, or the dead-letter store (condition RetriesExhausted or EventAgeExceeded);
- throttled (concurrency or memory): given back uncounted, due again after
  `queue.throttle_backoff_s`; never dropped before its maximum age;
- a platform error: tried again later, like a function error.
Leases of running events are renewed; a server that dies leaves them to lapse, and the next
claim (here after a restart, or another node) runs the event again as a new attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from faas.domain import (
    EventInvokeConfig,
    InvocationRequest,
    InvocationResult,
    InvocationType,
    QueuedEvent,
)
from faas.errors import FaasError, ResourceNotFound, TooManyRequests
from faas.queue.batching import GroupCommit
from faas.queue.enqueuer import Enqueuer
from faas.store.queue import EventQueueRepo, Lease

log = logging.getLogger(__name__)

SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"
COMPLETIONS_PER_COMMIT = 500
CLAIM_COALESCE_S = 0.005
CONFIG_RELOAD_S = 1.0

Clock = Callable[[], float]


class EventRunner(Protocol):
    """The invoker, as the dispatcher uses it."""

    async def run_event(self, request: InvocationRequest, attempt: int) -> InvocationResult: ...


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    max_running: int
    poll_interval_s: float
    lease_s: float
    retry_backoff_base_s: float
    throttle_backoff_s: float


class Dispatcher:
    def __init__(
        self,
        repo: EventQueueRepo,
        enqueuer: Enqueuer,
        runner: EventRunner,
        configs: Callable[[], Sequence[EventInvokeConfig]],
        function_arn: Callable[[str, str | None], str],
        *,
        settings: DispatchSettings,
        clock: Clock = time.time,
    ) -> None:
        self._repo = repo
        self._enqueuer = enqueuer
        self._runner = runner
        self._load_configs = configs
        # Event invoke configurations by (function, qualifier), reloaded in the background
        # every CONFIG_RELOAD_S: a database read per event blocked the loop for milliseconds.
        self._configs: dict[tuple[str, str], EventInvokeConfig] = {}
        self._configs_loaded_at = float("-inf")
        self._function_arn = function_arn
        self._settings = settings
        self._clock = clock
        # One owner name per server start: leases of an earlier run are never mistaken for ours.
        self.owner = f"node-{uuid.uuid4().hex[:12]}"
        self._running: dict[str, asyncio.Task[None]] = {}
        # Events whose invocation has not finished yet: what max_running bounds (an event
        # waiting for its completion to commit no longer holds a slot).
        self._invoking: set[str] = set()
        # Events leaving the queue commit together (one transaction each was the drain's cap).
        self._completions: GroupCommit[tuple[str, Lease, QueuedEvent | None], bool] = GroupCommit(
            repo.complete_many, max_batch=COMPLETIONS_PER_COMMIT
        )
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.completed = 0  # events that left the queue through this dispatcher

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._dispatch_forever())

    def wake(self) -> None:
        """New events are committed: look now instead of at the next poll."""
        self._wake.set()

    @property
    def running(self) -> int:
        return len(self._running)

    async def stop(self, grace_s: float) -> None:
        """Stop claiming; let running events finish for up to `grace_s`, then cancel them
        (their leases lapse, so they run again after a restart)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # -- the loop ----------------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        next_renewal = self._clock() + self._settings.lease_s / 3
        throttled: dict[str, float] = {}
        while not self._stopping:
            if self._invoking:
                # Let finishing events gather: a claim per finished event was one transaction
                # each and capped the drain at a few hundred events a second.
                await asyncio.sleep(CLAIM_COALESCE_S)
            now = self._clock()
            if now - self._configs_loaded_at >= CONFIG_RELOAD_S:
                await self._reload_configs(now)
            throttled = {name: until for name, until in throttled.items() if until > now}
            room = self._settings.max_running - len(self._invoking)
            claimed: list[QueuedEvent] = []
            if room > 0:
                try:
                    claimed = await asyncio.to_thread(
                        self._repo.claim,
                        self.owner,
                        _ms(now),
                        _ms(self._settings.lease_s),
                        room,
                        list(throttled),
                    )
                except Exception as exc:
                    log.error("claiming async events failed: %s (will retry)", exc)
            for event in claimed:
                task = asyncio.get_running_loop().create_task(self._run(event, throttled))
                self._running[event.request_id] = task
                self._invoking.add(event.request_id)
                task.add_done_callback(
                    lambda _, rid=event.request_id: self._finished(rid)  # type: ignore[misc]
                )
            if now >= next_renewal:
                next_renewal = now + self._settings.lease_s / 3
                await self._renew_leases()
            if claimed and len(claimed) == room:
                continue  # more may be due right now
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)

    async def _reload_configs(self, now: float) -> None:
        try:
            loaded = await asyncio.to_thread(self._load_configs)
        except Exception as exc:
            log.error("reading event invoke configurations failed: %s (will retry)", exc)
            return
        self._configs = {(c.function_name, c.qualifier): c for c in loaded}
        self._configs_loaded_at = now

    def config_changed(self) -> None:
        """An event invoke configuration changed: read them again before the next claim."""
        self._configs_loaded_at = float("-inf")
        self._wake.set()

    def _config_of(self, event: QueuedEvent) -> EventInvokeConfig | None:
        return self._configs.get((event.function_name, event.qualifier or "$LATEST"))

    def _finished(self, request_id: str) -> None:
        self._running.pop(request_id, None)
        self._invoked(request_id)

    def _invoked(self, request_id: str) -> None:
        if request_id in self._invoking:
            self._invoking.discard(request_id)
            self._wake.set()  # room for another

    async def _renew_leases(self) -> None:
        if not self._running:
            return
        until = _ms(self._clock() + self._settings.lease_s)
        try:
            await asyncio.to_thread(self._repo.extend, list(self._running), self.owner, until)
        except Exception as exc:
            log.error("renewing async event leases failed: %s", exc)

    # -- one event ---------------------------------------------------------------------------

    async def _run(self, event: QueuedEvent, throttled: dict[str, float]) -> None:
        lease = Lease(self.owner, event.attempts)
        config = self._config_of(event)
        retries = config.retry_attempts if config else EventInvokeConfig.DEFAULT_RETRY_ATTEMPTS
        max_age_s = config.event_age_s if config else EventInvokeConfig.DEFAULT_EVENT_AGE_S
        now = self._clock()
        if now * 1000 - event.enqueued_at_ms > max_age_s * 1000:
            await self._fail(
                event, lease, config, EVENT_AGE_EXCEEDED, result=None, error="event too old"
            )
            return
        request = InvocationRequest(
            request_id=event.request_id,
            function_name=event.function_name,
            qualifier=event.qualifier,
            payload=event.payload,
            invocation_type=InvocationType.EVENT,
            client_context=event.client_context,
        )
        try:
            try:
                result = await self._runner.run_event(request, event.attempts)
            finally:
                self._invoked(event.request_id)
        except TooManyRequests as throttle:
            wait_s = self._settings.throttle_backoff_s
            throttled[event.function_name] = self._clock() + wait_s
            await self._give_back(
                event, lease, wait_s, f"throttled: {throttle.message}", defer=True
            )
            return
        except ResourceNotFound as gone:
            await self._fail(
                event, lease, config, RETRIES_EXHAUSTED, result=None, error=gone.message
            )
            return
        except FaasError as error:
            await self._after_failure(
                event, lease, config, retries, result=None, error=error.message
            )
            return
        except Exception as error:
            log.exception("async event %s failed in the platform", event.request_id)
            await self._after_failure(event, lease, config, retries, result=None, error=str(error))
            return
        if result.function_error:
            await self._after_failure(
                event, lease, config, retries, result=result, error=_error_text(result.payload)
            )
            return
        follow_up = self._destination_event(event, config, SUCCESS, result)
        await self._leave(event, lease, follow_up)

    async def _after_failure(
        self,
        event: QueuedEvent,
        lease: Lease,
        config: EventInvokeConfig | None,
        retries: int,
        *,
        result: InvocationResult | None,
        error: str,
    ) -> None:
        if event.attempts <= retries:
            backoff_s = self._settings.retry_backoff_base_s * event.attempts
            max_age_s = config.event_age_s if config else EventInvokeConfig.DEFAULT_EVENT_AGE_S
            if self._clock() + backoff_s <= event.enqueued_at_ms / 1000 + max_age_s:
                await self._give_back(event, lease, backoff_s, error, defer=False)
                return
            condition = EVENT_AGE_EXCEEDED
        else:
            condition = RETRIES_EXHAUSTED
        await self._fail(event, lease, config, condition, result=result, error=error)

    async def _fail(
        self,
        event: QueuedEvent,
        lease: Lease,
        config: EventInvokeConfig | None,
        condition: str,
        *,
        result: InvocationResult | None,
        error: str,
    ) -> None:
        follow_up = self._destination_event(event, config, condition, result)
        if follow_up is not None:
            await self._leave(event, lease, follow_up)
            return
        try:
            moved = await asyncio.to_thread(
                self._repo.dead_letter, event, lease, _ms(self._clock()), condition, error
            )
        except Exception as exc:
            log.error("async event %s: dead letter not stored: %s", event.request_id, exc)
            return  # its lease lapses and it is tried again
        if moved:
            self._left()

    async def _leave(self, event: QueuedEvent, lease: Lease, follow_up: QueuedEvent | None) -> None:
        try:
            left = await self._completions.submit((event.request_id, lease, follow_up))
        except Exception as exc:
            log.error("async event %s: completion not stored: %s", event.request_id, exc)
            return  # its lease lapses and it runs again: at least once
        if left:
            self._left()
            if follow_up is not None:
                self._enqueuer.depth += 1
                self.wake()

    async def _give_back(
        self, event: QueuedEvent, lease: Lease, after_s: float, note: str, *, defer: bool
    ) -> None:
        give = self._repo.defer if defer else self._repo.retry_later
        try:
            await asyncio.to_thread(
                give, event.request_id, lease, _ms(self._clock() + after_s), note[:2000]
            )
        except Exception as exc:
            log.error("async event %s: not given back: %s", event.request_id, exc)

    def _left(self) -> None:
        self.completed += 1
        self._enqueuer.left_queue()

    def _destination_event(
        self,
        event: QueuedEvent,
        config: EventInvokeConfig | None,
        condition: str,
        result: InvocationResult | None,
    ) -> QueuedEvent | None:
        """The event for the destination of this outcome (Lambda's invocation record)."""
        if config is None:
            return None
        destination = config.on_success if condition == SUCCESS else config.on_failure
        if not destination:
            return None
        name, qualifier = _function_of_arn(destination)
        document: dict[str, Any] = {
            "version": "1.0",
            "timestamp": _iso_now(self._clock()),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": self._function_arn(
                    event.function_name, event.qualifier or "$LATEST"
                ),
                "condition": condition,
                "approximateInvokeCount": event.attempts,
            },
            "requestPayload": _json_or_text(event.payload),
        }
        if result is not None:
            response: dict[str, Any] = {
                "statusCode": 200,
                "executedVersion": result.executed_version,
            }
            if result.function_error:
                response["functionError"] = result.function_error
            document["responseContext"] = response
            document["responsePayload"] = _json_or_text(result.payload)
        now_ms = _ms(self._clock())
        return QueuedEvent(
            request_id=str(uuid.uuid4()),
            function_name=name,
            qualifier=qualifier,
            payload=orjson.dumps(document),
            client_context=None,
            enqueued_at_ms=now_ms,
            not_before_ms=now_ms,
        )


def _function_of_arn(arn: str) -> tuple[str, str | None]:
    """arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] -> (NAME, QUALIFIER)."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        return parts[6], (parts[7] if len(parts) > 7 else None)
    return arn, None


def _json_or_text(data: bytes) -> Any:
    try:
        return orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def _error_text(document: bytes) -> str:
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        return document[:2000].decode("utf-8", "replace")
    if isinstance(parsed, dict):
        return f"{parsed.get('errorType', 'Unhandled')}: {parsed.get('errorMessage', '')}"[:2000]
    return str(parsed)[:2000]


def _iso_now(now_s: float) -> str:
    moment = dt.datetime.fromtimestamp(now_s, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
