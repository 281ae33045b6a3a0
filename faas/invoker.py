"""The single entry of every invocation: resolve -> check -> admit -> acquire -> run -> record.

The record of an answered invocation is journaled before the answer leaves (one write; with
durability "fsync", after a group fsync too), so a server killed right after answering has
lost nothing; the database gets it in the background (faas.store.records).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable

import orjson

from faas import billing
from faas.admission import AdmissionController
from faas.domain import (
    MB,
    FunctionConfig,
    InvocationRequest,
    InvocationResult,
    InvocationStatus,
    InvocationType,
    Limits,
    LogChunk,
    Record,
    WorkerResult,
)
from faas.errors import InvalidParameterValue, RequestTooLarge, ResourceNotFound, TooManyRequests
from faas.logs import framing
from faas.pool.environment import log_stream_name
from faas.pool.manager import PoolManager
from faas.pool.worker import RESPONSE_TOO_LARGE, RESPONSE_TOO_LARGE_MESSAGE, InitFailed
from faas.registry.functions import Registry
from faas.store.logs import LogStore
from faas.store.records import RecordLog


class Invoker:
    def __init__(
        self,
        registry: Registry,
        pool: PoolManager,
        records: RecordLog,
        limits: Limits,
        admission: AdmissionController,
        *,
        isolation: Callable[[str], str] | None = None,
        bill_init: bool = True,
        on_throttle: Callable[[str, str], None] | None = None,
        logs: LogStore | None = None,
    ) -> None:
        self._registry = registry
        # Every invocation's log events, framed (faas.logs.framing), off the records' path.
        self._logs = logs
        # A cold start's init phase is billed with its invocation (billing.bill_init).
        self._bill_init = bill_init
        # Told (function, Lambda's reason) of every invocation refused with 429: the metrics.
        self._on_throttle = on_throttle
        self._pool = pool
        self._records = records
        self._limits = limits
        self._admission = admission
        # FaasNetwork -> the sandbox layers recorded with each invocation (fixed once the
        # sandbox is set up, so looked up once per network setting).
        self._isolation = isolation
        self._isolation_of: dict[str, str | None] = {}

    async def invoke(self, request: InvocationRequest) -> InvocationResult:
        config, named = self._registry.resolve_invocation(request.function_name, request.qualifier)
        self._check(request)
        if request.invocation_type is InvocationType.DRY_RUN:
            return InvocationResult(request.request_id, b"", None, config.version)
        return await self._execute(config, named, request, attempt=1)

    async def run_event(self, request: InvocationRequest, attempt: int) -> InvocationResult:
        """One attempt of an async event (faas/queue), recorded as such. Throttles raise
        TooManyRequests, as for a synchronous call: the queue tries the event again later."""
        config, named = self._registry.resolve_invocation(request.function_name, request.qualifier)
        return await self._execute(config, named, request, attempt=attempt)

    def resolve(self, function_name: str, qualifier: str | None) -> FunctionConfig:
        """The function an invocation would run (ResourceNotFound if there is none)."""
        return self._registry.resolve(function_name, qualifier)

    async def _execute(
        self,
        config: FunctionConfig,
        named: str | None,
        request: InvocationRequest,
        *,
        attempt: int,
    ) -> InvocationResult:
        try:
            # Admitted before a worker is acquired, so a throttled call costs no worker.
            slot = await self._admission.admit(config.name)
            try:
                result = await self._run(config, named, request)
            finally:
                slot.release()
        except TooManyRequests as throttled:
            if self._on_throttle is not None:
                self._on_throttle(config.name, throttled.reason or throttled.code)
            raise
        record = self._record(config, request.request_id, result)
        if request.invocation_type is InvocationType.EVENT:
            record = dataclasses.replace(record, invocation_type="Event", attempt=attempt)
        events = framing.invocation_events(
            request_id=request.request_id,
            version=config.version,
            result=result,
            billed_ms=record.billed_ms,
            memory_mb=config.memory_mb,
            logging=config.logging,
        )
        if self._logs is not None:
            stream = result.log_stream or log_stream_name(config.version)
            group = config.logging.group_for(config.name)
            self._logs.append(LogChunk(group, stream, request.request_id, events))
        synced = self._records.append(record)
        if synced is not None:
            await synced
        return InvocationResult(
            request_id=request.request_id,
            payload=result.payload,
            function_error="Unhandled" if result.error_type else None,
            executed_version=config.version,
            log_tail=framing.tail(events) if request.tail_log else b"",
        )

    def provision(self, function_name: str) -> None:
        """Bring the pool of each version of the function to its provisioned concurrency.

        Called (on the loop) after every change to the function: an update gets its new
        version's workers started ahead of requests, an alias moved to another version moves
        its workers along, a removed config stops keeping any.
        """
        try:
            latest = self._registry.get(function_name)
        except ResourceNotFound:
            return  # deleted: its pool was retired with it
        targets = self._registry.provisioned_targets(function_name)
        for config in (latest, *self._registry.versions_of(function_name)):
            count = targets.get(config.version, 0)
            # A version never run nor provisioned has no pool: nothing to stop there.
            spec = (
                self._registry.worker_spec(config)
                if count
                else self._registry.cached_worker_spec(config)
            )
            if spec is not None:
                self._pool.set_provisioned(spec, count)

    def provisioned_status(self, function_name: str, qualifier: str | None) -> tuple[int, int]:
        """(requested, allocated): provisioned workers asked for the qualifier, and those of
        them initialised right now."""
        requested = 0
        allocated = 0
        for version, workers in self._registry.provisioned_shares(function_name, qualifier).items():
            config = self._registry.resolve(function_name, version)
            # A version whose spec was never built has no pool yet: none ready (and no code
            # extracted on the loop to find that out).
            spec = self._registry.cached_worker_spec(config)
            ready = 0 if spec is None else self._pool.provisioned_ready(spec)
            requested += workers
            # On-demand workers beyond the provisioned ones are not part of the allocation.
            allocated += min(ready, workers)
        return requested, allocated

    def _check(self, request: InvocationRequest) -> None:
        if request.invocation_type is InvocationType.EVENT:
            # The gateway queues Event invocations (faas/queue); they come back by run_event.
            raise InvalidParameterValue("InvocationType Event is queued, not invoked directly")
        limit = self._limits.max_sync_payload_bytes
        if len(request.payload) > limit:
            raise RequestTooLarge(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )

    async def _run(
        self, config: FunctionConfig, named: str | None, request: InvocationRequest
    ) -> WorkerResult:
        spec = self._registry.cached_worker_spec(config)
        if spec is None:  # the first call of a revision may extract its code: off the loop
            spec = await asyncio.to_thread(self._registry.worker_spec, config)
        # The ARN the caller invoked, as context.invoked_function_arn shows it on Lambda: an
        # alias's when invoked through one, `:$LATEST` when named so.
        arn = (
            spec.function_arn if named is None else self._registry.function_arn(config.name, named)
        )
        try:
            worker = await self._pool.acquire(spec)
        except InitFailed as failed:
            return _init_failure_result(failed)
        try:
            result = await worker.invoke(
                request.request_id, request.payload, arn, request.client_context
            )
        finally:
            self._pool.release(worker)
        if len(result.payload) > self._limits.max_sync_payload_bytes:
            return _response_too_large(result, request.request_id)
        return result

    def _record(self, config: FunctionConfig, request_id: str, result: WorkerResult) -> Record:
        init_ms = result.init_duration_ns
        return Record(
            request_id=request_id,
            function_name=config.name,
            function_version=config.version,
            started_at_ms=result.started_at_ms,
            # Rounded up to the microsecond, so BilledDurationMs == ceil(DurationMs) always.
            duration_ms=math.ceil(result.duration_ns / 1_000) / 1_000,
            billed_ms=self._billed_ms(result),
            memory_mb=config.memory_mb,
            max_memory_used_mb=math.ceil(result.max_memory_bytes / MB),
            init_duration_ms=None if init_ms is None else round(init_ms / 1_000_000, 3),
            status=InvocationStatus.UNHANDLED if result.error_type else InvocationStatus.SUCCESS,
            error_type=result.error_type,
            isolation=self._isolation_for(config.network),
            ephemeral_storage_mb=config.ephemeral_storage_mb,
            provisioned=result.provisioned,
        )

    def _billed_ms(self, result: WorkerResult) -> int:
        init_ns = result.init_duration_ns if self._bill_init else None
        return billing.billed_ms(result.duration_ns, init_ns or 0)

    def _isolation_for(self, network: str) -> str | None:
        tag = self._isolation_of.get(network)
        if tag is None and self._isolation is not None:
            tag = self._isolation_of[network] = self._isolation(network)
        return tag


def _response_too_large(result: WorkerResult, request_id: str) -> WorkerResult:
    """Lambda's answer to a result over 6 MB: a function error (the worker stays warm)."""
    document = orjson.dumps(
        {
            "errorMessage": RESPONSE_TOO_LARGE_MESSAGE,
            "errorType": RESPONSE_TOO_LARGE,
            "requestId": request_id,
            "stackTrace": [],
        }
    )
    return dataclasses.replace(result, payload=document, error_type=RESPONSE_TOO_LARGE)


def _init_failure_result(failed: InitFailed) -> WorkerResult:
    """An init failure answers the invocation that caused it, as on Lambda."""
    failure = failed.failure
    return WorkerResult(
        payload=failure.document,
        error_type=failure.error_type,
        logs=failure.logs,
        started_at_ms=time.time_ns() // 1_000_000,
        duration_ns=0,
        init_duration_ns=failure.init_duration_ns,
        max_memory_bytes=0,
    )
