"""Settings: the only home of defaults.

`load()` layers, lowest first: the dataclass defaults below, a TOML file (`config.toml`),
`FAAS_<SECTION>_<KEY>` environment variables, then explicit overrides (CLI flags). The
environment is a parameter, never read at import time.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import shutil
import sys
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from faas.billing import Prices, Tier
from faas.domain import Bucket
from faas.runtimes import CUSTOM_RUNTIMES, WORKER_PATH

ENV_PREFIX = "FAAS_"


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key and the problem."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = ".faas"
    # How long SIGTERM waits for in-flight invocations before stopping workers anyway.
    shutdown_grace_s: float = 30.0
    # Largest HTTP request body: a 50 MB zip grows to ~67 MB under base64 in JSON.
    max_request_mb: int = 70
    region: str = "us-east-1"
    account_id: str = "000000000000"
    log_level: str = "INFO"
    # HTTPS: a PEM certificate chain and its private key; both empty serves plain HTTP.
    tls_cert: str = ""
    tls_key: str = ""
    # Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed when
    # the audit log names a caller's address; empty: the address of the connection, always.
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("server.tls_cert and server.tls_key go together: set both or neither")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    f"server.trusted_proxies: {proxy!r} is not an IP address or network"
                ) from exc


@dataclass(frozen=True, slots=True)
class StoreSettings:
    # SQLAlchemy URL; empty means sqlite:///<data_dir>/faas.db.
    url: str = ""
    # The WAL is checkpointed on this timer by the records ingester, never inside a request.
    checkpoint_interval_s: float = 1.0
    # Past this size the WAL is started over (under steady load it would otherwise keep
    # growing).
    wal_limit_mb: int = 64
    # Upper bound on rows per transaction of the records ingester.
    max_batch_rows: int = 2000
    # Benchmark-only switch: false skips invocation records entirely, to measure their cost.
    # Never turn it off in production: unrecorded invocations are unbilled and untraceable.
    write_records: bool = True
    # "write": a record is in the journal (one write()) before its answer leaves: it survives
    # a crash or SIGKILL of the server, not a power cut. "fsync": answers also wait for a
    # group fsync of the journal (power-loss safe; each answer waits for a disk flush).
    durability: str = "write"
    # The journal starts a new segment file past this size; a segment is deleted once its
    # records are all in the database.
    journal_segment_kb: int = 16 * 1024
    # Seconds between passes of the ingester moving the journal into the database (a query
    # does not wait for it: it asks for a pass at once). Tests make it large to hold records
    # in the journal.
    ingest_interval_s: float = 0.1
    # Invocation records older than this many days are deleted (0: kept forever). Bills stay
    # exact: the monthly rollups they were summed into are kept. Fractions of a day are
    # allowed (tests).
    records_retention_days: float = 30.0
    # Seconds between sweeps for records past their retention, and the most deleted in one
    # transaction (small, so that a sweep never holds the database for long).
    retention_interval_s: float = 3600.0
    retention_batch_rows: int = 5000

    def __post_init__(self) -> None:
        if self.records_retention_days < 0 or self.retention_interval_s <= 0:
            raise ConfigError(
                "store.records_retention_days must not be negative and "
                "store.retention_interval_s must be more than 0"
            )
        if self.retention_batch_rows < 1:
            raise ConfigError("store.retention_batch_rows must be at least 1")
        if self.checkpoint_interval_s <= 0:
            raise ConfigError("store.checkpoint_interval_s must be more than 0")
        if self.wal_limit_mb < 1:
            raise ConfigError("store.wal_limit_mb must be at least 1")
        if self.max_batch_rows < 1 or self.journal_segment_kb < 1:
            raise ConfigError(
                "store.max_batch_rows and store.journal_segment_kb must be at least 1"
            )
        if self.durability not in ("write", "fsync"):
            raise ConfigError("store.durability must be write or fsync")
        if self.ingest_interval_s <= 0:
            raise ConfigError("store.ingest_interval_s must be more than 0")


@dataclass(frozen=True, slots=True)
class LogSettings:
    # Days a log group keeps its events unless PutRetentionPolicy says otherwise (0: kept
    # until the size cap needs the room). Fractions of a day are allowed (tests).
    retention_days: float = 30.0
    # All log groups together are kept under this size: past it, the oldest events go first.
    max_total_mb: int = 1024
    # Seconds between writes of the logs waiting in memory to the database (one transaction).
    flush_interval_s: float = 0.1
    # Logs waiting to be written are capped: past this, an invocation's logs are dropped (and
    # counted) rather than growing the server's memory when the database falls behind.
    max_pending_mb: int = 64
    # Seconds between retention sweeps, and the most events rows deleted per transaction.
    retention_interval_s: float = 300.0
    retention_batch_rows: int = 2000

    def __post_init__(self) -> None:
        if self.retention_days < 0:
            raise ConfigError("logs.retention_days must not be negative (0: no age limit)")
        if self.max_total_mb < 1 or self.max_pending_mb < 1 or self.retention_batch_rows < 1:
            raise ConfigError(
                "logs.max_total_mb, logs.max_pending_mb and logs.retention_batch_rows must be "
                "at least 1"
            )
        if self.flush_interval_s <= 0 or self.retention_interval_s <= 0:
            raise ConfigError(
                "logs.flush_interval_s and logs.retention_interval_s must be more than 0"
            )


@dataclass(frozen=True, slots=True)
class PoolSettings:
    # A warm worker idle this long is stopped (scale to zero).
    idle_ttl_s: float = 300.0
    # How often idle workers are looked for.
    reap_interval_s: float = 5.0
    # Lambda's init phase limit: interpreter start + handler import must finish in this time.
    init_timeout_s: float = 10.0
    # Bytes of stdout/stderr kept per invocation; the rest is dropped with a marker.
    max_log_bytes: int = 1024 * 1024
    # Processes per runtime forked ahead of demand, already in their own cgroup: a cold start
    # takes one and only loads the function (joining a cgroup alone costs ~10 ms).
    spare_workers: int = 2
    # Sum of the MemorySize of all live workers, in MB; 0 means 80% of this host's RAM. To
    # start a worker beyond it, least recently used idle workers are stopped; if that is not
    # enough the request gets 429.
    memory_budget_mb: int = 0
    # A worker idle this long (ms) is frozen with its cgroup's freezer, as Lambda freezes an
    # environment between invocations, and thawed when it is handed one; 0 never freezes.
    freeze_after_ms: int = 100
    # When the memory budget has no room for another worker: how long a request waits for a
    # worker of its function to come free, or for room, before its 429.
    memory_wait_ms: int = 1000
    # Most workers of one function version starting at once for waiting callers; the rest
    # start as these finish. 0: as many as this host has CPUs (a start is mostly CPU: more at
    # once only slow the workers already serving; bench/RESULTS.md, (k)).
    max_parallel_starts: int = 0

    def __post_init__(self) -> None:
        if self.max_parallel_starts < 0:
            raise ConfigError("pool.max_parallel_starts must not be negative (0: one per CPU)")
        if self.memory_wait_ms < 0:
            raise ConfigError("pool.memory_wait_ms must not be negative (0: 429 at once)")
        if self.freeze_after_ms < 0:
            raise ConfigError("pool.freeze_after_ms must not be negative (0: never freeze)")


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    # Functions run as uids first_uid, first_uid+1, ... (one per function) when root.
    first_uid: int = 200000
    # ext4 /tmp images formatted and mounted at startup, so early cold starts skip mkfs.
    prepared_tmp_slots: int = 2
    # Without a memory cgroup: how often a busy worker's RSS (and /tmp use) is checked.
    poll_interval_s: float = 0.05
    # What FaasNetwork "default" means: egress (a network namespace of the worker's own, the
    # world beyond the host through NAT, nothing of the host), none, or host (unsafe).
    default_network: str = "egress"
    # Network namespaces kept ready per kind (egress, egress with the platform's API), so a
    # cold start only joins one.
    prepared_net_slots: int = 2
    # "auto": on root hosts with ip and nft, faas makes its workers' namespaces, veth pairs
    # and an nftables table of its own; "off": faas never touches the host's network
    # configuration (egress then falls back to the host's network, with a warning).
    network_layer: str = "auto"
    # Where the workers' DNS forwarder sends queries: IPv4 addresses ("" / empty: the
    # nameservers of /etc/resolv.conf).
    dns_servers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.default_network not in ("egress", "none", "host"):
            raise ConfigError("sandbox.default_network must be egress, none or host")
        if self.network_layer not in ("auto", "off"):
            raise ConfigError("sandbox.network_layer must be auto or off")
        if self.prepared_net_slots < 0:
            raise ConfigError("sandbox.prepared_net_slots must not be negative")


@dataclass(frozen=True, slots=True)
class BillingSettings:
    """Prices and rules of the bill (faas/billing.py); Lambda's x86 list prices (us-east-1),
    in USD, by default."""

    price_per_request: Decimal = Decimal("0.0000002")
    # Duration per GB-second: the first tier, then beyond tier2_from / tier3_from GB-seconds
    # of the month (Lambda: 6 and 15 billion).
    price_per_gb_second: Decimal = Decimal("0.0000166667")
    tier2_from_gb_seconds: int = 6_000_000_000
    price_per_gb_second_tier2: Decimal = Decimal("0.000015")
    tier3_from_gb_seconds: int = 15_000_000_000
    price_per_gb_second_tier3: Decimal = Decimal("0.0000133334")
    # Ephemeral storage above 512 MB, per GB-second.
    price_per_ephemeral_gb_second: Decimal = Decimal("0.0000000309")
    # Provisioned concurrency: per GB-second allocated (5-minute increments), and the duration
    # of the invocations its workers serve.
    price_per_provisioned_gb_second: Decimal = Decimal("0.0000041667")
    price_per_provisioned_duration_gb_second: Decimal = Decimal("0.0000097222")
    # The monthly free tier, account-wide (not for provisioned concurrency).
    free_tier: bool = True
    free_requests: int = 1_000_000
    free_gb_seconds: int = 400_000
    # A cold start's init phase is billed with its invocation (Lambda since August 2025).
    bill_init: bool = True
    currency: str = "USD"

    def __post_init__(self) -> None:
        prices = [value for value in dataclasses.astuple(self) if isinstance(value, Decimal)]
        if any(price < 0 for price in prices):
            raise ConfigError("billing: prices must not be negative")
        if not 0 < self.tier2_from_gb_seconds < self.tier3_from_gb_seconds:
            raise ConfigError("billing: tier2_from_gb_seconds must be above 0 and below tier3's")
        if self.free_requests < 0 or self.free_gb_seconds < 0:
            raise ConfigError("billing: the free tier's amounts must not be negative")

    def prices(self) -> Prices:
        return Prices(
            per_request=self.price_per_request,
            per_gb_second=self.price_per_gb_second,
            tiers=(
                Tier(self.tier2_from_gb_seconds, self.price_per_gb_second_tier2),
                Tier(self.tier3_from_gb_seconds, self.price_per_gb_second_tier3),
            ),
            per_ephemeral_gb_second=self.price_per_ephemeral_gb_second,
            per_provisioned_gb_second=self.price_per_provisioned_gb_second,
            per_provisioned_duration_gb_second=self.price_per_provisioned_duration_gb_second,
            free_tier=self.free_tier,
            free_requests=self.free_requests,
            free_gb_seconds=self.free_gb_seconds,
            bill_init=self.bill_init,
            currency=self.currency,
        )


@dataclass(frozen=True, slots=True)
class ConcurrencySettings:
    # Most invocations running at once across all functions (Lambda's account quota).
    account_limit: int = 1000
    # Reservations may never shrink the shared pool below this (Lambda keeps 100 unreserved).
    unreserved_minimum: int = 100
    # How long an invocation over the limit may wait for a slot; 0 answers 429 at once.
    max_wait_ms: int = 0
    # Most invocations waiting at once (all functions); beyond it, 429 at once.
    max_waiting: int = 1000

    def __post_init__(self) -> None:
        if self.account_limit < 1:
            raise ConfigError("concurrency.account_limit must be at least 1")
        if not 0 <= self.unreserved_minimum <= self.account_limit:
            raise ConfigError(
                "concurrency.unreserved_minimum must be between 0 and concurrency.account_limit"
            )
        if self.max_wait_ms < 0 or self.max_waiting < 0:
            raise ConfigError("concurrency.max_wait_ms and max_waiting must not be negative")


@dataclass(frozen=True, slots=True)
class FileWatchSettings:
    """File-watch buckets (faas/triggers/filewatch.py): timings are settings so that tests
    run in seconds."""

    # A file closed after writing is complete once it stayed unchanged this long (a writer
    # that reopens it within this time is still writing).
    quiet_period_ms: int = 200
    # Seconds between full comparisons of each watched directory with the delivery ledger: a
    # safety net for events the kernel dropped; 0 turns it off (a comparison still runs at
    # start, when a trigger is added, and when the kernel reports lost events).
    rescan_interval_s: float = 300.0
    # Most file events committed (ledger rows with their queued events) in one transaction.
    max_delivery_batch: int = 500
    # The group a writable bucket's directory is given to; workers that mount a writable
    # bucket get it as a supplementary group (their own uids differ per function).
    bucket_gid: int = 199999

    def __post_init__(self) -> None:
        if self.quiet_period_ms < 0 or self.rescan_interval_s < 0:
            raise ConfigError(
                "filewatch.quiet_period_ms and rescan_interval_s must not be negative"
            )
        if self.max_delivery_batch < 1:
            raise ConfigError("filewatch.max_delivery_batch must be at least 1")
        if self.bucket_gid < 1:
            raise ConfigError("filewatch.bucket_gid must be a group id above 0")


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """Schedule triggers (faas/triggers/schedule.py)."""

    # For tests only: the schedules' clock runs this many times faster than real time from
    # `clock_origin_s` (a Unix time) on, so that `rate(1 minute)` ticks every second at 60.
    clock_speedup: float = 1.0
    clock_origin_s: float = 0.0
    # Longest the scheduler sleeps between looks at its schedules (new ones, removed ones).
    max_sleep_s: float = 1.0

    def __post_init__(self) -> None:
        if self.clock_speedup <= 0 or self.max_sleep_s <= 0:
            raise ConfigError("schedules.clock_speedup and max_sleep_s must be more than 0")


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """Async invocations (faas/queue): timings are settings so that tests run in seconds."""

    # false: events are accepted (and kept) but not run, e.g. while the database is maintained.
    dispatch: bool = True
    # Seconds between looks for due events when none was waiting (a new event wakes it).
    poll_interval_s: float = 0.5
    # A claimed event is someone else's to run again once its lease lapses unrenewed.
    lease_s: float = 60.0
    # Lambda retries a failed event after about 1 minute, then 2: base x 1, then base x 2.
    retry_backoff_base_s: float = 60.0
    # A throttled event (concurrency, memory) is tried again after this long.
    throttle_backoff_s: float = 1.0
    # Most of the account's concurrency async events may use, so that they never starve
    # synchronous callers.
    max_concurrency_share: float = 0.5
    # Most events waiting in the queue; beyond it an async call gets 429.
    max_events: int = 100_000
    # Lambda keeps events at most 6 hours (MaximumEventAgeInSeconds 60..21600); the floor is a
    # setting so that tests can age events in seconds.
    min_event_age_s: int = 60
    # Days a dead letter is kept.
    dead_letter_retention_days: int = 14
    # Seconds between sweeps that delete dead letters past their retention.
    dead_letter_sweep_interval_s: float = 3600.0
    # Most async events enqueued in one transaction (the group commit behind the 202s).
    max_enqueue_batch: int = 500

    def __post_init__(self) -> None:
        if min(self.poll_interval_s, self.lease_s, self.retry_backoff_base_s) <= 0:
            raise ConfigError(
                "queue.poll_interval_s, lease_s and retry_backoff_base_s must be more than 0"
            )
        if self.throttle_backoff_s < 0:
            raise ConfigError("queue.throttle_backoff_s must not be negative")
        if not 0 < self.max_concurrency_share <= 1:
            raise ConfigError("queue.max_concurrency_share must be more than 0 and at most 1")
        if self.max_events < 1 or self.max_enqueue_batch < 1:
            raise ConfigError("queue.max_events and max_enqueue_batch must be at least 1")
        if not 1 <= self.min_event_age_s <= 60:
            raise ConfigError("queue.min_event_age_s must be between 1 and 60")
        if self.dead_letter_retention_days < 1:
            raise ConfigError("queue.dead_letter_retention_days must be at least 1")
        if self.dead_letter_sweep_interval_s <= 0:
            raise ConfigError("queue.dead_letter_sweep_interval_s must be more than 0")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    # Every API call must be signed (SigV4) by a key whose policy allows it. false is for
    # throwaway local use only: allowed on a loopback address alone, and loudly reported.
    enabled: bool = True
    # The key that encrypts secrets at rest; empty: <data_dir>/master.key, made at first start.
    master_key_file: str = ""
    # Where the first start writes the admin key; empty: <data_dir>/credentials.
    credentials_file: str = ""
    # A signed request's time may differ from the server's by this much (Lambda: 5 minutes).
    max_skew_s: int = 300
    # A bearer token Prometheus may scrape /metrics with (Authorization: Bearer ...); empty:
    # only requests signed by a key allowed faas:GetMetrics.
    metrics_token: str = ""
    # How long GetFunction's Code.Location (a presigned download URL) stays valid.
    code_url_expiry_s: int = 600
    # Lifetime of a worker's execution credentials (a function with an execution role);
    # workers are replaced before theirs run out.
    execution_credentials_ttl_s: float = 21600.0
    # Audit events older than this many days are deleted; 0 keeps them forever.
    audit_retention_days: int = 90
    # How often the events past their retention are looked for and deleted.
    audit_retention_interval_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_skew_s < 1 or self.code_url_expiry_s < 1:
            raise ConfigError("auth.max_skew_s and auth.code_url_expiry_s must be at least 1")
        if self.execution_credentials_ttl_s < 2:
            raise ConfigError("auth.execution_credentials_ttl_s must be at least 2")
        if self.audit_retention_days < 0:
            raise ConfigError("auth.audit_retention_days must not be negative (0 keeps forever)")
        if self.audit_retention_interval_s <= 0:
            raise ConfigError("auth.audit_retention_interval_s must be more than 0")


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Token buckets per access key: `*_per_s` is the sustained rate, `*_burst` how many calls
    may come at once after a quiet spell. A rate of 0 means unlimited; a burst of 0 means one
    second's worth (the rate, at least 1)."""

    # lambda:InvokeFunction. Unlimited: Lambda limits invocations by concurrency (the
    # [concurrency] section), not per caller.
    invoke_per_s: float = 0.0
    invoke_burst: int = 0
    # Every other API call (deploys, reads, keys, records, the audit log).
    management_per_s: float = 100.0
    management_burst: int = 1000

    def __post_init__(self) -> None:
        for name in ("invoke_per_s", "invoke_burst", "management_per_s", "management_burst"):
            if getattr(self, name) < 0:
                raise ConfigError(f"rate_limits.{name} must not be negative (0: unlimited)")


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """What one HTTP client may hold of the gateway: connections, time and header space.
    Past a limit the gateway answers (503, 408, 431) and closes that connection; every other
    client is served as usual."""

    # Open connections at once (every listener together); past it a new one is answered 503
    # and closed. Below the process's open-file limit, which faas raises to its maximum.
    max_connections: int = 4096
    # From a connection's first byte (or a keep-alive connection's next request's first
    # byte) to the end of the request's headers; slower clients (slow loris) get 408.
    header_timeout_s: float = 10.0
    # From the end of the headers to the end of the body (70 MB at ~1.2 MB/s); then 408.
    body_timeout_s: float = 60.0
    # An idle keep-alive connection is closed after this long.
    keepalive_timeout_s: float = 75.0
    # A request's line and headers together, and the number of headers; past either, 431.
    max_header_bytes: int = 65536
    max_headers: int = 100

    def __post_init__(self) -> None:
        for name in (
            "max_connections",
            "header_timeout_s",
            "body_timeout_s",
            "keepalive_timeout_s",
            "max_header_bytes",
            "max_headers",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"http.{name} must be greater than 0")


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    billing: BillingSettings = field(default_factory=BillingSettings)
    concurrency: ConcurrencySettings = field(default_factory=ConcurrencySettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    filewatch: FileWatchSettings = field(default_factory=FileWatchSettings)
    schedules: ScheduleSettings = field(default_factory=ScheduleSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    # Runtime name -> interpreter path. The interpreter faas runs on is always offered as
    # python3.X; entries here add others (e.g. python3.12 = "/usr/bin/python3.12").
    runtimes: Mapping[str, str] = field(default_factory=dict)
    # [buckets]: name -> directory (`photos = "/srv/photos"`), or a table with `path` and
    # `writable` (`thumbs = { path = "/srv/thumbs", writable = true }`).
    buckets: Mapping[str, Bucket] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir).resolve()

    @property
    def master_key_path(self) -> Path:
        return Path(self.auth.master_key_file or self.data_dir / "master.key").resolve()

    @property
    def credentials_path(self) -> Path:
        return Path(self.auth.credentials_file or self.data_dir / "credentials").resolve()

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_dir / 'faas.db'}"

    def available_runtimes(self) -> dict[str, str]:
        """Runtime name -> interpreter, the serving interpreter first. A custom runtime
        (faas.runtimes) is hosted by the serving interpreter's zygote (its workers are
        supervisors written in Python), and offered where its program is installed."""
        own = f"python{sys.version_info.major}.{sys.version_info.minor}"
        found = {own: sys.executable}
        found.update(self.runtimes)
        for custom in CUSTOM_RUNTIMES:
            if custom.program is None or shutil.which(custom.program, path=WORKER_PATH):
                found.setdefault(custom.name, sys.executable)
        return found


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "http": HttpSettings,
    "store": StoreSettings,
    "logs": LogSettings,
    "pool": PoolSettings,
    "sandbox": SandboxSettings,
    "billing": BillingSettings,
    "concurrency": ConcurrencySettings,
    "queue": QueueSettings,
    "filewatch": FileWatchSettings,
    "schedules": ScheduleSettings,
    "auth": AuthSettings,
    "rate_limits": RateLimitSettings,
}


def load(
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from defaults < file < environment < overrides ("section.key": value)."""
    layered: dict[str, dict[str, Any]] = {name: {} for name in [*_SECTIONS, "runtimes", "buckets"]}
    if file is not None:
        _merge(layered, _read_file(file), source=str(file))
    _merge(layered, _from_environ(environ or {}), source="environment")
    _merge(layered, _nest(overrides or {}), source="command line")
    sections = {name: _build_section(cls, layered[name], name) for name, cls in _SECTIONS.items()}
    runtimes = {str(k): str(v) for k, v in layered["runtimes"].items()}
    buckets = {name: _bucket(name, value) for name, value in layered["buckets"].items()}
    return Settings(runtimes=runtimes, buckets=buckets, **sections)


def _bucket(name: str, value: Any) -> Bucket:
    """One [buckets] entry; the registry checks the name and the directory at start."""
    if isinstance(value, str):
        return Bucket(str(name), value, origin="config")
    if isinstance(value, Mapping) and isinstance(value.get("path"), str):
        unknown = sorted(set(value) - {"path", "writable"})
        writable = value.get("writable", False)
        if unknown or not isinstance(writable, bool):
            raise ConfigError(
                f"[buckets] {name}: a table takes `path` (a string) and `writable` (true/false)"
            )
        return Bucket(str(name), value["path"], writable=writable, origin="config")
    raise ConfigError(
        f'[buckets] {name}: give a directory ("/srv/{name}") or a table '
        f'{{ path = "/srv/{name}", writable = true }}'
    )


def default_config_file(environ: Mapping[str, str], cwd: Path) -> Path | None:
    """FAAS_CONFIG if set, else ./config.toml when present."""
    if environ.get("FAAS_CONFIG"):
        return Path(environ["FAAS_CONFIG"])
    candidate = cwd / "config.toml"
    return candidate if candidate.is_file() else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _from_environ(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in {"FAAS_CONFIG", "FAAS_URL"}:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                found.setdefault(section, {})[rest[len(section) + 1 :]] = value
                break
    return found


def _nest(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        nested.setdefault(section, {})[key] = value
    return nested


def _merge(into: dict[str, dict[str, Any]], layer: Mapping[str, Any], source: str) -> None:
    for section, values in layer.items():
        if section not in into:
            raise ConfigError(f"{source}: unknown section [{section}]")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table")
        into[section].update(values)


def _build_section(cls: type[Any], values: Mapping[str, Any], section: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key {section}.{unknown[0]} (known: {', '.join(sorted(known))})")
    return cls(**{k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()})


def _coerce(value: Any, kind: Any, key: str) -> Any:
    if isinstance(kind, types.UnionType):
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if typing.get_origin(kind) is tuple:
        return _to_strings(value, key)
    try:
        if kind is bool:
            return _to_bool(value)
        if kind is Decimal:
            return Decimal(str(value))
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError("a boolean")
        return kind(value)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise ConfigError(f"{key}: cannot use {value!r} as {kind.__name__}") from exc


def _to_strings(value: Any, key: str) -> tuple[str, ...]:
    """A TOML list of strings, or (from the environment) one comma-separated string."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(item.strip() for item in value)
    raise ConfigError(f"{key}: cannot use {value!r}: give a list of strings")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)
