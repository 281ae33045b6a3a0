"""What the gateway is given by the composition root (server.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from faas.auth.keys import KeyRing
from faas.auth.roles import RoleBook
from faas.backup.snapshot import NodeBackup
from faas.billing import Prices, Usage
from faas.config import BillingSettings
from faas.domain import (
    BucketTrigger,
    Limits,
    LogEvent,
    LogGroupInfo,
    LogPage,
    LogQuery,
    LogStreamInfo,
    Record,
    RecordStats,
    ScheduleTrigger,
)
from faas.gateway.audit import AuditSink
from faas.gateway.auth import GatewayAuth
from faas.invoker import Invoker
from faas.queue.configs import EventConfigs
from faas.queue.dead_letters import DeadLetters
from faas.queue.service import AsyncInvocations
from faas.registry.buckets import BucketRegistry
from faas.registry.function_urls import FunctionUrls
from faas.registry.functions import Registry
from faas.registry.layers import LayerRegistry
from faas.registry.policies import ResourcePolicies
from faas.registry.tags import FunctionTags


class RecordSource(Protocol):
    """Reads invocation records."""

    async def drained(self) -> None:
        """Return once every record answered so far can be read."""

    def recent(self, function_name: str | None, limit: int) -> list[Record]:
        """Newest first (blocking; the gateway calls it from a thread)."""

    def stats(self, function_name: str, since_ms: int) -> RecordStats:
        """The function's records since `since_ms`, summed (blocking)."""

    def month_usage(self, month: str, now_ms: int) -> dict[str, Usage]:
        """Function -> its use in a UTC month, provisioned concurrency allocated until
        `now_ms` included (blocking)."""

    def month_usage_by_tag(self, month: str, tag_key: str) -> dict[tuple[str, str], Usage]:
        """(function, tag value) -> its invocations in the month while it had the tag."""


class LogSource(Protocol):
    """Function logs (faas.store.logs.LogStore): the reads are blocking (from a thread)."""

    async def flushed(self) -> None:
        """Return once the logs of every invocation answered so far can be read."""

    async def written(self, timeout_s: float) -> bool:
        """Return after the next write of logs, or after `timeout_s`; False once the
        server is stopping (a live tail then ends)."""

    def group(self, name: str) -> LogGroupInfo | None: ...

    def groups(self, prefix: str, after: str | None, limit: int) -> list[LogGroupInfo]: ...

    def streams(
        self,
        group: str,
        *,
        prefix: str,
        by_last_event: bool,
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[LogStreamInfo]: ...

    def stream_exists(self, group: str, stream: str) -> bool: ...

    def filter(self, query: LogQuery, position: tuple[int, int, int] | None) -> LogPage: ...

    def stream_events(
        self,
        group: str,
        stream: str,
        *,
        start_ms: int | None,
        end_ms: int | None,
        position: tuple[int, int] | None,
        forward: bool,
        limit: int,
    ) -> list[LogEvent]: ...

    def newer(
        self, group: str, after_id: int, request_id: str | None, limit: int
    ) -> list[LogEvent]: ...

    def last_chunk_id(self, group: str) -> int: ...

    def put_retention(self, group: str, days: int | None) -> None: ...

    def delete_group(self, group: str) -> None: ...


class TriggerManager(Protocol):
    """Adds and removes bucket triggers, and reports their state (faas/triggers/filewatch)."""

    async def add_trigger(
        self,
        function_name: str,
        bucket: str,
        *,
        prefix: str = "",
        suffix: str = "",
        events: Iterable[str] = ("created",),
    ) -> BucketTrigger: ...

    async def remove_trigger(self, trigger_id: str) -> BucketTrigger: ...

    def report(self) -> list[dict[str, object]]: ...


class MetricsSource(Protocol):
    async def render(self) -> bytes:
        """The metrics in Prometheus's text format."""


class ScheduleManager(Protocol):
    """Adds and removes schedule triggers, and reports them (faas/triggers/schedule)."""

    async def add_schedule(self, function_name: str, expression: str) -> ScheduleTrigger: ...

    async def remove_schedule(self, schedule_id: str) -> ScheduleTrigger: ...

    def owns(self, trigger_id: str) -> bool: ...

    def report(self) -> list[dict[str, object]]: ...


@dataclass(frozen=True, slots=True)
class Services:
    registry: Registry
    invoker: Invoker
    records: RecordSource
    health: Callable[[], Mapping[str, object]]
    limits: Limits
    max_request_bytes: int
    auth: GatewayAuth
    keys: KeyRing
    roles: RoleBook
    audit: AuditSink
    account_id: str
    # How long GetFunction's Code.Location stays valid.
    code_url_expiry_s: int = 600
    # Async invocations (InvocationType Event and the legacy InvokeAsync).
    async_invocations: AsyncInvocations | None = None
    # Their event invoke configurations (retries, age, destinations) and dead letters.
    event_configs: EventConfigs | None = None
    dead_letters: DeadLetters | None = None
    # Buckets and their triggers (file-watch events).
    buckets: BucketRegistry | None = None
    triggers: TriggerManager | None = None
    schedules: ScheduleManager | None = None
    # GET /metrics (faas/metrics.py), and the bearer token Prometheus may scrape it with.
    metrics: MetricsSource | None = None
    metrics_token: str = ""
    # The prices `faas stats` (and bills) use.
    prices: Prices = field(default_factory=lambda: BillingSettings().prices())
    # Function URLs (CreateFunctionUrlConfig and the requests served under /urls/).
    function_urls: FunctionUrls | None = None
    # Function tags (TagResource, ListTags; CreateFunction's Tags; the bill's group-by).
    tags: FunctionTags | None = None
    # Functions' resource policies (AddPermission; consulted when an Invoke is denied).
    policies: ResourcePolicies | None = None
    # Function logs: the CloudWatch Logs API and `faas logs`.
    logs: LogSource | None = None
    # Lambda layers (PublishLayerVersion ...; a function's Layers).
    layers: LayerRegistry | None = None
    # Backups of this node (POST /faas/v1/backup).
    backups: NodeBackup | None = None
