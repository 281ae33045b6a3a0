"""Async invocations as the gateway (and later the triggers) use them: accept an event, and
what /health shows of the queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from faas.domain import FunctionConfig, InvocationRequest, QueuedEvent
from faas.errors import RequestTooLarge
from faas.queue.dispatcher import Dispatcher
from faas.queue.enqueuer import Enqueuer
from faas.registry.names import split_function_name
from faas.store.queue import EventQueueRepo


class AsyncInvocations:
    def __init__(
        self,
        repo: EventQueueRepo,
        enqueuer: Enqueuer,
        dispatcher: Dispatcher | None,
        resolve: Callable[[str, str | None], FunctionConfig],
        *,
        max_payload_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._enqueuer = enqueuer
        self._dispatcher = dispatcher
        self._resolve = resolve
        self._max_payload = max_payload_bytes
        self._clock = clock

    async def enqueue(self, request: InvocationRequest) -> None:
        """Queue the event; return once it is committed (then the caller answers 202).
        ResourceNotFound for a function that does not exist, RequestTooLarge over 1 MB,
        TooManyRequests when the queue is full."""
        config = self._resolve(request.function_name, request.qualifier)
        # A version or alias named in the function's name is kept: the event runs it.
        _, in_name = split_function_name(request.function_name)
        qualifier = request.qualifier if in_name is None else in_name
        if len(request.payload) > self._max_payload:
            raise RequestTooLarge(
                f"Request must be smaller than {self._max_payload} bytes for the "
                "InvokeFunction operation with InvocationType Event"
            )
        now_ms = int(self._clock() * 1000)
        await self._enqueuer.enqueue(
            QueuedEvent(
                request_id=request.request_id,
                function_name=config.name,
                qualifier=qualifier,
                payload=request.payload,
                client_context=request.client_context,
                enqueued_at_ms=now_ms,
                not_before_ms=now_ms,
            )
        )

    async def report(self) -> dict[str, object]:
        """Queue depth and the oldest event's age per function, for /health."""
        depths = await asyncio.to_thread(self._repo.depths)
        now_ms = int(self._clock() * 1000)
        return {
            "events": sum(d.events for d in depths),
            "running": 0 if self._dispatcher is None else self._dispatcher.running,
            "dispatching": self._dispatcher is not None,
            "functions": {
                d.function_name: {
                    "events": d.events,
                    "oldest_age_s": round(max(0, now_ms - d.oldest_enqueued_ms) / 1000, 1),
                }
                for d in depths
            },
        }
