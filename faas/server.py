"""Composition root: builds every part from Settings, starts and stops them in order.

Signal handlers only set an event; the main coroutine does the work of shutting down
(stop accepting -> let in-flight invocations finish, bounded -> stop workers -> ingest the
whole records journal -> close the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import resource
import signal
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from faas import __version__
from faas.admission import AdmissionController
from faas.auth.execution import ExecutionCredentials
from faas.auth.masterkey import MasterKey
from faas.auth.rotation import rotate_master_key as rotate_master_key_in
from faas.auth.setup import (
    check_exposure,
    functions_endpoint,
    is_loopback,
    prepare_master_key,
    start_auth,
)
from faas.backup.snapshot import NodeBackup, NodeFiles
from faas.config import ConfigError, HttpSettings, Settings
from faas.datadir import DataDirLock, lock_data_dir
from faas.domain import MB, Limits, StoredSummary
from faas.errors import FaasError
from faas.gateway.app import make_app
from faas.gateway.audit import AuditTrail
from faas.gateway.auth import GatewayAuth
from faas.gateway.front import FrontDoor
from faas.gateway.invoke_api import INVOKE_HANDLER
from faas.gateway.services import Services
from faas.invoker import Invoker
from faas.metrics import (
    InvocationMetrics,
    LoopLag,
    MetricsExporter,
    PlatformCollector,
    PlatformGauges,
)
from faas.pool.launcher import ZygoteLauncher, runtime_dir
from faas.pool.manager import PoolManager
from faas.pool.network import NetworkLayer
from faas.pool.published import GatewayServices
from faas.pool.sandbox import SandboxPlanner, isolation_summary, layers, probe_host
from faas.pool.scratch import isolate_mounts
from faas.pool.sdk import prepare_sdks
from faas.queue.configs import EventConfigs
from faas.queue.dead_letters import DeadLetters
from faas.queue.dispatcher import Dispatcher, DispatchSettings
from faas.queue.enqueuer import Enqueuer
from faas.queue.file_deliveries import FileDeliveries
from faas.queue.schedule_ticks import ScheduleTicks
from faas.queue.service import AsyncInvocations
from faas.ratelimit import RateLimiter
from faas.registry.buckets import BucketRegistry
from faas.registry.codestore import CodeStore
from faas.registry.function_urls import FunctionUrls
from faas.registry.functions import Registry
from faas.registry.layer_trees import LayerTrees
from faas.registry.layers import LayerRegistry, layers_root
from faas.registry.policies import ResourcePolicies
from faas.registry.schedules import ScheduleBook
from faas.registry.tags import FunctionTags
from faas.store.audit import AuditLog
from faas.store.buckets import BucketsRepo, TriggersRepo
from faas.store.dead_letters import DeadLetterRepo
from faas.store.engine import make_engine, url_kind
from faas.store.event_configs import EventConfigRepo
from faas.store.file_ledger import FileLedgerRepo
from faas.store.function_urls import FunctionUrlRepo
from faas.store.layers import LayerRepo
from faas.store.logs import LogStore
from faas.store.policies import PolicyRepo
from faas.store.queue import EventQueueRepo
from faas.store.records import RecordLog
from faas.store.repos import FunctionRepo
from faas.store.retention import RecordRetention
from faas.store.schedules import ScheduleRepo
from faas.store.schema import migrate
from faas.store.tags import TagRepo
from faas.triggers.filewatch import FileWatch
from faas.triggers.recursion import RecursionGuard
from faas.triggers.schedule import ScheduleClock, Scheduler

try:  # uvloop: ~25% more throughput on the invoke path; asyncio's own loop works too
    from uvloop import run as run_event_loop
except ImportError:
    from asyncio import run as run_event_loop  # type: ignore[assignment]

log = logging.getLogger("faas")

CODE_SWEEP_INTERVAL_S = 30.0


class PortInUse(FaasError):
    """Another process listens on the configured address."""


@dataclass
class Platform:
    """Everything running, for an orderly stop."""

    settings: Settings
    engine: Engine
    registry: Registry
    pool: PoolManager
    records: RecordLog
    audit: AuditLog
    runner: web.AppRunner
    front: FrontDoor
    sweeper: asyncio.Task[None]
    sandbox: SandboxPlanner
    data_dir_lock: DataDirLock
    gateway_services: GatewayServices | None = None
    dispatcher: Dispatcher | None = None
    dead_letter_sweeper: asyncio.Task[None] | None = None
    filewatch: FileWatch | None = None
    scheduler: Scheduler | None = None
    # Deletes records past store.records_retention_days (runs until cancelled).
    records_sweeper: asyncio.Task[None] | None = None
    # Measures the event loop's lag for /metrics (runs until cancelled).
    metrics_lag: asyncio.Task[None] | None = None
    # The functions' logs (their writer thread and retention sweeps).
    logs: LogStore | None = None

    @property
    def urls(self) -> list[str]:
        scheme = "https" if self.settings.server.tls_cert else "http"
        return [f"{scheme}://{host}:{port}" for host, port in self.front.addresses]

    async def stop(self) -> None:
        log.info("stopping: no new requests; waiting for in-flight invocations")
        self.front.stop_listening()
        if self.logs is not None:
            self.logs.end_follows()  # live tails would hold the drain up to its grace
        grace_s = self.settings.server.shutdown_grace_s
        # Async events get the same grace as requests, at the same time; those still running
        # then are cancelled: their leases lapse and they run again (a new attempt) after a
        # restart.
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.filewatch is not None:
            # First: no new file events while the rest drains (the next start compares the
            # directories with the ledger and delivers what changed meanwhile).
            await self.filewatch.stop()
        stopping = [self.front.drain(grace_s), self.runner.cleanup()]
        if self.dispatcher is not None:
            stopping.append(self.dispatcher.stop(grace_s))
        await asyncio.gather(*stopping)
        self.sweeper.cancel()
        for task in (self.dead_letter_sweeper, self.records_sweeper, self.metrics_lag):
            if task is not None:
                task.cancel()
        await self.pool.stop()
        if self.gateway_services is not None:
            self.gateway_services.close()
        await asyncio.to_thread(self.sandbox.teardown)
        # After the runner and the pools: every answered record is in the journal by now,
        # and every invocation's logs are waiting to be written.
        await self.records.stop()
        if self.logs is not None:
            await self.logs.stop()
        # After the runner: the calls answered while it drained are audited too.
        await self.audit.stop()
        self.engine.dispose()
        self.data_dir_lock.release()
        log.info("stopped")


async def sweep_code_forever(
    registry: Registry, pool: PoolManager, interval_s: float, content_hold: asyncio.Lock
) -> None:
    """Delete replaced code once no worker runs from it any more (never while a backup holds
    `content_hold`: its database snapshot may still name that code)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            async with content_hold:
                await asyncio.to_thread(registry.sweep_unused_code, pool.code_dirs_in_use())
        except Exception:
            log.exception("sweeping unused code failed; will retry")


def health_report(
    settings: Settings,
    registry: Registry,
    pool: PoolManager,
    planner: SandboxPlanner,
    audit: AuditLog,
) -> dict[str, object]:
    stats = pool.stats()
    audit_stats = audit.stats
    return {
        "status": "ok",
        "version": __version__,
        "store": url_kind(settings.store_url),
        "functions": registry.count,
        "warm_workers": stats.warm,
        "busy_workers": stats.busy,
        # The default runtime (the serving interpreter's) first.
        "runtimes": list(settings.available_runtimes()),
        "sandbox": [layer.as_dict() for layer in layers(planner.host)],
        # The AWS SDK each runtime offers functions (`faas doctor` shows it).
        "sdk": planner.sdks.report(),
        "network": network_report(registry, planner),
        "audit": {
            "written": audit_stats.written,
            "failed": audit_stats.failed,
            "dropped": audit_stats.dropped,
            "deleted": audit_stats.deleted,
        },
    }


def network_report(registry: Registry, planner: SandboxPlanner) -> dict[str, object]:
    """What FaasNetwork "default" means here, and which functions run on the host's network
    (explicitly, or because egress fell back to it): those reach the host's loopback."""
    modes = registry.network_modes()
    layer = planner.network
    return {
        "default": planner.network_mode("default"),
        "layer": layer.description if layer is not None else None,
        "gateway": str(layer.gateway) if isinstance(layer, NetworkLayer) else None,
        "host_functions": sorted(n for n, m in modes.items() if planner.network_mode(m) == "host"),
    }


def probe_sandbox_layers() -> list[dict[str, object]]:
    """The sandbox table for this host as `faas doctor --local` prints it."""
    host = probe_host(sys.executable, runtime_dir() / "python")
    return [layer.as_dict() for layer in layers(host)]


async def start_sandbox(settings: Settings, runtimes: Mapping[str, str]) -> SandboxPlanner:
    """Probe the host, say which protections are active, and prepare cgroups and /tmp."""
    interpreter = next(iter(runtimes.values()))
    host = await asyncio.to_thread(probe_host, interpreter, runtime_dir() / "python")
    for layer in layers(host):
        log.info(
            "sandbox %-18s %-8s %s",
            layer.name,
            "active" if layer.active else "INACTIVE",
            layer.detail,
        )
    warning = isolation_summary(host)
    if warning:
        log.warning("!" * 78)
        log.warning("UNSAFE HOST: %s", warning)
        log.warning("!" * 78)
    planner = SandboxPlanner(
        host, settings.sandbox, settings.data_dir, freeze_after_ms=settings.pool.freeze_after_ms
    )
    await asyncio.to_thread(planner.setup)
    # Lambda's runtimes include the AWS SDK: functions get the one installed here.
    planner.sdks = await asyncio.to_thread(prepare_sdks, settings.data_dir, runtime_dir())
    if settings.sandbox.default_network == "egress" and planner.network is None:
        log.warning("!" * 78)
        log.warning(
            "UNSAFE NETWORK: functions run on the host's network and reach every service on "
            "its loopback and the platform's port: %s",
            planner.host.network_why,
        )
        log.warning("!" * 78)
    return planner


async def publish_on_gateway(settings: Settings, planner: SandboxPlanner) -> GatewayServices | None:
    """The API and DNS where the workers' namespaces reach them (with the root network
    layer; pasta forwards both for the user-mode one)."""
    layer = planner.network
    if isinstance(layer, NetworkLayer):
        return await GatewayServices.start(
            layer, api_port=settings.server.port, dns_servers=settings.sandbox.dns_servers
        )
    if layer is not None and settings.server.port:
        layer.publish_api(settings.server.port)
    return None


async def start_platform(settings: Settings, *, rotate_master_key: bool = False) -> Platform:
    """Start everything; if any step fails, what already started is stopped again."""
    async with contextlib.AsyncExitStack() as undo:
        platform = await _start_parts(settings, undo, rotate_master_key)
        undo.pop_all()  # started: Platform.stop() owns the shutdown from here
        return platform


async def _start_parts(
    settings: Settings, undo: contextlib.AsyncExitStack, rotate_master_key: bool
) -> Platform:
    check_exposure(settings)
    data_dir = settings.data_dir
    # Before anything in the directory is touched: a second server must not start cleaning
    # up or migrating what a running one uses.
    data_dir_lock = lock_data_dir(data_dir)
    undo.callback(data_dir_lock.release)
    limits = Limits()
    engine = make_engine(settings.store_url)
    undo.callback(engine.dispose)
    # The master key first: migrations seal secrets with it.
    master = await asyncio.to_thread(prepare_master_key, settings, engine)
    # Before anything reads a table: the schema this code expects, or a refusal.
    await asyncio.to_thread(functools.partial(migrate, engine, sealer=master))
    if rotate_master_key:
        master = await asyncio.to_thread(
            rotate_master_key_in, settings.master_key_path, engine, master
        )
    auth = await asyncio.to_thread(start_auth, settings, engine, master)
    runtimes = settings.available_runtimes()
    layers = await asyncio.to_thread(_layer_registry, settings, engine, limits)
    registry = await asyncio.to_thread(
        functools.partial(
            _function_registry,
            settings,
            engine,
            master,
            limits=limits,
            runtimes=runtimes,
            layers=layers,
        )
    )
    loop = asyncio.get_running_loop()
    invocation_metrics = InvocationMetrics()
    records, records_sweeper, logs = await _start_record_keeping(
        settings, engine, undo, on_stored=invocation_metrics.observe_summary
    )
    audit = AuditLog(
        engine,
        retention_days=settings.auth.audit_retention_days,
        retention_interval_s=settings.auth.audit_retention_interval_s,
    )
    audit.start(loop)
    undo.push_async_callback(audit.stop)
    planner, gateway_services = await _start_isolation(settings, runtimes, undo)
    launcher = ZygoteLauncher(
        runtimes,
        planner,
        spares=settings.pool.spare_workers,
        init_timeout_s=settings.pool.init_timeout_s,
        credentials=ExecutionCredentials(
            auth.roles,
            auth.sessions,
            endpoint_url=functions_endpoint(settings),
            ttl_s=settings.auth.execution_credentials_ttl_s,
        ),
    )
    pool = PoolManager(settings.pool, launcher, poll_interval_s=settings.sandbox.poll_interval_s)
    undo.push_async_callback(pool.stop)
    # The default runtime's zygote starts now, so the first cold start is already a fork.
    await launcher.prestart(next(iter(runtimes)))
    pool.start()

    # The registry mutates in worker threads; retiring workers is the loop's job.
    def retire_on_loop(key: str) -> None:
        loop.call_soon_threadsafe(pool.retire, key)

    registry.add_retire_listener(retire_on_loop)
    admission = AdmissionController(settings.concurrency, registry.reservations())

    # Scheduled before the API call that made the change resumes, so its answer never
    # precedes the new limit.
    def reserve_on_loop(name: str, reserved: int | None) -> None:
        loop.call_soon_threadsafe(admission.set_reservation, name, reserved)

    registry.add_concurrency_listener(reserve_on_loop)
    invoker = Invoker(
        registry,
        pool,
        records,
        limits,
        admission,
        isolation=planner.isolation,
        bill_init=settings.billing.bill_init,
        on_throttle=invocation_metrics.throttled,
        logs=logs,
    )

    # Provisioned workers follow every change: an update starts the new version's workers
    # (the old pool was retired just before, in the same loop order), a removed config or a
    # deleted function lets them go.
    def provision_on_loop(name: str) -> None:
        loop.call_soon_threadsafe(invoker.provision, name)

    registry.add_change_listener(provision_on_loop)
    for name in registry.provisioned_functions():
        invoker.provision(name)
    queue, buckets, filewatch, scheduler = await _start_events(
        settings, engine, invoker, registry, limits, undo=undo
    )
    function_urls, policies = await _start_function_extras(engine, registry, settings)
    exporter, metrics_lag = start_metrics(invocation_metrics, pool, queue, records, logs, undo=undo)
    # Held by whoever deletes content-addressed files, and by a backup while it copies them.
    content_hold = asyncio.Lock()
    app = make_app(
        Services(
            registry=registry,
            invoker=invoker,
            records=records,
            health=functools.partial(health_report, settings, registry, pool, planner, audit),
            limits=limits,
            max_request_bytes=settings.server.max_request_mb * MB,
            auth=GatewayAuth(
                auth.authenticator,
                region=settings.server.region,
                account_id=settings.server.account_id,
                rate_limiter=RateLimiter(settings.rate_limits),
                audit=AuditTrail(audit, settings.server.trusted_proxies),
            ),
            keys=auth.keys,
            roles=auth.roles,
            audit=audit,
            account_id=settings.server.account_id,
            code_url_expiry_s=settings.auth.code_url_expiry_s,
            async_invocations=queue.invocations,
            event_configs=queue.event_configs,
            dead_letters=queue.dead_letters,
            buckets=buckets,
            triggers=filewatch,
            schedules=scheduler,
            prices=settings.billing.prices(),
            function_urls=function_urls,
            policies=policies,
            tags=FunctionTags(registry, TagRepo(engine)),
            logs=logs,
            layers=layers,
            metrics=exporter,
            metrics_token=settings.auth.metrics_token,
            backups=node_backup(settings, engine, records, logs, content_hold),
        )
    )
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=settings.server.shutdown_grace_s,
        # The requests the front door hands over were read under the same limits.
        **aiohttp_limits(settings.http),
    )
    await runner.setup()
    undo.push_async_callback(runner.cleanup)
    front = await start_front_door(settings, app, runner, planner, gateway_services)
    undo.callback(front.stop_listening)
    sweeper = loop.create_task(
        sweep_code_forever(registry, pool, CODE_SWEEP_INTERVAL_S, content_hold)
    )
    return Platform(
        settings,
        engine,
        registry,
        pool,
        records,
        audit,
        runner,
        front,
        sweeper,
        planner,
        data_dir_lock,
        gateway_services,
        queue.dispatcher,
        queue.sweeper,
        filewatch,
        scheduler,
        records_sweeper,
        metrics_lag,
        logs,
    )


def _function_registry(
    settings: Settings,
    engine: Engine,
    sealer: MasterKey,
    *,
    limits: Limits,
    runtimes: Mapping[str, str],
    layers: LayerRegistry,
) -> Registry:
    """The functions, their versions and aliases, loaded (blocking)."""
    registry = Registry(
        FunctionRepo(engine, sealer),
        CodeStore(settings.data_dir / "code", limits),
        limits=limits,
        runtimes=runtimes,
        region=settings.server.region,
        account_id=settings.server.account_id,
        concurrency=settings.concurrency,
        layers=layers,
    )
    registry.load()
    return registry


def _layer_registry(settings: Settings, engine: Engine, limits: Limits) -> LayerRegistry:
    """Layer versions, loaded (blocking); their zips and trees live under <data_dir>/layers,
    beside the code store."""
    root = layers_root(settings.data_dir)
    layers = LayerRegistry(
        LayerRepo(engine),
        CodeStore(root, limits),
        LayerTrees(root / "opt"),
        region=settings.server.region,
        account_id=settings.server.account_id,
    )
    layers.load()
    return layers


async def _start_events(
    settings: Settings,
    engine: Engine,
    invoker: Invoker,
    registry: Registry,
    limits: Limits,
    *,
    undo: contextlib.AsyncExitStack,
) -> tuple[QueueParts, BucketRegistry, FileWatch, Scheduler]:
    """The async queue, then what feeds it: the buckets' watcher and the scheduler."""
    queue = await start_queue(settings, engine, invoker, registry, limits)
    undo.callback(queue.sweeper.cancel)
    if queue.dispatcher is not None:
        undo.push_async_callback(queue.dispatcher.stop, 0)
    buckets, filewatch = await start_buckets(settings, engine, registry, queue)
    undo.push_async_callback(filewatch.stop)
    scheduler = await start_schedules(settings, engine, registry, queue)
    undo.push_async_callback(scheduler.stop)
    return queue, buckets, filewatch, scheduler


async def start_schedules(
    settings: Settings, engine: Engine, registry: Registry, queue: QueueParts
) -> Scheduler:
    """Schedule triggers: each tick claimed and queued once; ticks missed while the server
    was down are skipped."""
    book = ScheduleBook(ScheduleRepo(engine))
    await asyncio.to_thread(book.load)
    # Deleting a function deletes its schedules.
    registry.add_delete_listener(book.remove_function_schedules)
    scheduler = Scheduler(
        book,
        ScheduleTicks(ScheduleRepo(engine), queue.enqueuer, on_committed=queue.wake),
        registry.get,
        region=settings.server.region,
        account_id=settings.server.account_id,
        clock=ScheduleClock.from_settings(settings.schedules),
        max_sleep_s=settings.schedules.max_sleep_s,
    )
    scheduler.start()
    return scheduler


async def start_buckets(
    settings: Settings, engine: Engine, registry: Registry, queue: QueueParts
) -> tuple[BucketRegistry, FileWatch]:
    """Buckets (config.toml and the store), their mounts, and the watcher of their triggers,
    which first delivers what changed while the server was down."""
    buckets = BucketRegistry(
        BucketsRepo(engine),
        TriggersRepo(engine),
        configured=settings.buckets,
        data_dir=settings.data_dir,
        bucket_gid=settings.filewatch.bucket_gid,
        function_lookup=registry.get,
        mounted_by=registry.mounted_by,
    )
    await asyncio.to_thread(buckets.load)
    registry.set_bucket_resolver(buckets.bucket_by_arn)
    # Deleting a function deletes its triggers.
    registry.add_delete_listener(buckets.remove_function_triggers)
    first_uid = settings.sandbox.first_uid

    def function_for_uid(uid: int) -> str | None:
        return registry.function_for_uid_offset().get(uid - first_uid)

    def recursive_loop_of(name: str) -> str:
        return registry.get(name).recursive_loop

    deliveries = FileDeliveries(
        FileLedgerRepo(engine),
        queue.enqueuer,
        max_batch=settings.filewatch.max_delivery_batch,
        on_committed=queue.wake,
    )
    filewatch = FileWatch(
        buckets,
        deliveries,
        RecursionGuard(function_for_uid, recursive_loop_of),
        settings=settings.filewatch,
        region=settings.server.region,
    )
    await filewatch.start()
    return buckets, filewatch


@dataclass(frozen=True, slots=True)
class QueueParts:
    """The async invocation queue's parts the gateway and the stop need."""

    invocations: AsyncInvocations
    dispatcher: Dispatcher | None
    event_configs: EventConfigs
    dead_letters: DeadLetters
    # The retention sweep of dead letters (runs until cancelled).
    sweeper: asyncio.Task[None]
    # Accepts events (file events are counted into its depth too) and wakes the dispatcher.
    enqueuer: Enqueuer
    wake: Callable[[], None]


async def start_queue(
    settings: Settings, engine: Engine, invoker: Invoker, registry: Registry, limits: Limits
) -> QueueParts:
    """The async invocation queue: its enqueuer, its dispatcher unless dispatch is off, its
    event invoke configurations and its dead letters."""
    queue_settings = settings.queue
    repo = EventQueueRepo(engine)
    configs = EventConfigs(
        EventConfigRepo(engine),
        registry,
        region=settings.server.region,
        account_id=settings.server.account_id,
        min_event_age_s=queue_settings.min_event_age_s,
    )
    dispatcher: Dispatcher | None = None

    def wake() -> None:
        if dispatcher is not None:
            dispatcher.wake()

    enqueuer = Enqueuer(
        repo,
        max_batch=queue_settings.max_enqueue_batch,
        max_events=queue_settings.max_events,
        on_committed=wake,
    )
    await asyncio.to_thread(enqueuer.start)
    if queue_settings.dispatch:
        share = settings.concurrency.account_limit * queue_settings.max_concurrency_share
        dispatcher = Dispatcher(
            repo,
            enqueuer,
            invoker,
            configs.all,
            registry.function_arn,
            settings=DispatchSettings(
                max_running=max(1, int(share)),
                poll_interval_s=queue_settings.poll_interval_s,
                lease_s=queue_settings.lease_s,
                retry_backoff_base_s=queue_settings.retry_backoff_base_s,
                throttle_backoff_s=queue_settings.throttle_backoff_s,
            ),
        )
        dispatcher.start()
        loop = asyncio.get_running_loop()
        changed = dispatcher.config_changed

        def config_changed() -> None:  # called from the thread that wrote the change
            loop.call_soon_threadsafe(changed)

        configs.on_change = config_changed
    service = AsyncInvocations(
        repo,
        enqueuer,
        dispatcher,
        invoker.resolve,
        max_payload_bytes=limits.max_async_payload_bytes,
    )
    dead_letters = DeadLetters(
        DeadLetterRepo(engine),
        enqueuer,
        wake,
        retention_days=queue_settings.dead_letter_retention_days,
    )
    # Deleting a function, a version or an alias deletes its event invoke configurations.
    registry.add_delete_listener(configs.forget_function)
    registry.add_qualifier_delete_listener(configs.forget_qualifier)
    sweeper = asyncio.get_running_loop().create_task(
        dead_letters.sweep_forever(queue_settings.dead_letter_sweep_interval_s)
    )
    return QueueParts(service, dispatcher, configs, dead_letters, sweeper, enqueuer, wake)


# Descriptors kept for what is not a connection (workers' pipes, the database, the journal,
# log files, listeners) when max_connections is compared with the open-file limit.
OPEN_FILES_RESERVE = 512


def aiohttp_limits(http: HttpSettings) -> dict[str, Any]:
    """aiohttp's own parser limits, as wide as the front door's: a head it let through must
    not be refused again by the second parser."""
    return {
        "keepalive_timeout": http.keepalive_timeout_s,
        "max_line_size": http.max_header_bytes,
        "max_field_size": http.max_header_bytes,
        "max_headers": http.max_headers,
    }


def raise_open_file_limit(http: HttpSettings) -> None:
    """Every connection is a descriptor: the soft limit goes up to the hard one (often 1024
    against 524288), and a warning says when max_connections cannot fit under it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    # Workers, the database, the journal and the listeners take descriptors too.
    room = soft - OPEN_FILES_RESERVE
    if soft != resource.RLIM_INFINITY and http.max_connections > room:
        log.warning(
            "http.max_connections is %d, but this process may open %d files: past about %d "
            "connections, new ones fail to be accepted; raise the limit (LimitNOFILE=) or "
            "lower http.max_connections",
            http.max_connections,
            soft,
            max(room, 0),
        )


async def start_front_door(
    settings: Settings,
    app: web.Application,
    runner: web.AppRunner,
    planner: SandboxPlanner,
    gateway_services: GatewayServices | None,
) -> FrontDoor:
    """Listen: Invoke on the lean route, every other request handed to the aiohttp app."""
    aiohttp_server = runner.server
    assert aiohttp_server is not None  # the runner is set up
    front = FrontDoor(
        app[INVOKE_HANDLER],
        aiohttp_server,
        max_body_bytes=settings.server.max_request_mb * MB,
        limits=settings.http,
    )
    try:
        await listen(front, settings.server.host, settings.server.port, tls_context(settings))
        if gateway_services is not None:
            # Plain HTTP: the gateway is reached only from the host's own namespaces, and
            # every call is still signed.
            await front.listen(sock=gateway_services.api_socket)
        elif planner.network is not None and not settings.server.port:
            planner.network.publish_api(int(front.addresses[0][1]))
    except BaseException:
        front.stop_listening()
        raise
    return front


async def start_records(
    settings: Settings,
    engine: Engine,
    *,
    on_stored: Callable[[StoredSummary], None] | None = None,
) -> RecordLog:
    """The records journal, after replaying what an earlier run left in it (before anything
    is answered)."""
    store = settings.store
    records = RecordLog(
        engine,
        settings.data_dir / "journal",
        enabled=store.write_records,
        durability=store.durability,
        segment_bytes=store.journal_segment_kb * 1024,
        max_batch_rows=store.max_batch_rows,
        ingest_interval_s=store.ingest_interval_s,
        checkpoint_interval_s=store.checkpoint_interval_s,
        wal_limit_bytes=store.wal_limit_mb * 1024 * 1024,
        on_stored=on_stored,
    )
    replayed = await records.start()
    if replayed:
        log.info("records journal: replayed %d records left by the previous run", replayed)
    return records


async def _start_record_keeping(
    settings: Settings,
    engine: Engine,
    undo: contextlib.AsyncExitStack,
    *,
    on_stored: Callable[[StoredSummary], None] | None = None,
) -> tuple[RecordLog, asyncio.Task[None] | None, LogStore]:
    """The records (journal, ingester) and the deletion of those past their retention; the
    functions' logs, written apart, and theirs."""
    records = await start_records(settings, engine, on_stored=on_stored)
    undo.push_async_callback(records.stop)
    sweeper = start_record_retention(settings, engine)
    if sweeper is not None:
        undo.callback(sweeper.cancel)
    logs = LogStore(engine, settings.logs)
    logs.start(asyncio.get_running_loop())
    undo.push_async_callback(logs.stop)
    return records, sweeper, logs


async def _start_function_extras(
    engine: Engine, registry: Registry, settings: Settings
) -> tuple[FunctionUrls, ResourcePolicies]:
    """Function URLs and resource policies, loaded; deleting a function deletes both (and
    deleting a version or an alias its own)."""
    function_urls = FunctionUrls(FunctionUrlRepo(engine), registry)
    await asyncio.to_thread(function_urls.load)
    registry.add_delete_listener(function_urls.forget_function)
    registry.add_qualifier_delete_listener(function_urls.forget_qualifier)
    policies = ResourcePolicies(registry, PolicyRepo(engine), settings.server.account_id)
    await asyncio.to_thread(policies.load)
    registry.add_delete_listener(policies.forget_function)
    registry.add_qualifier_delete_listener(policies.forget_qualifier)
    return function_urls, policies


def start_metrics(
    invocations: InvocationMetrics,
    pool: PoolManager,
    queue: QueueParts,
    records: RecordLog,
    logs: LogStore,
    *,
    undo: contextlib.AsyncExitStack,
) -> tuple[MetricsExporter, asyncio.Task[None]]:
    """/metrics: the invocation counts the ingester feeds, and the gauges read per scrape."""
    lag = LoopLag()
    lag_task = asyncio.get_running_loop().create_task(lag.run_forever())
    undo.callback(lag_task.cancel)

    async def gather() -> PlatformGauges:
        await logs.flushed()  # the logs of every invocation answered so far are counted
        stats = pool.stats()
        report = await queue.invocations.report()
        functions = report.get("functions")
        depths = functions if isinstance(functions, dict) else {}
        return PlatformGauges(
            warm_workers=stats.warm,
            busy_workers=stats.busy,
            queue_events={name: d["events"] for name, d in depths.items()},
            queue_oldest_age_s={name: d["oldest_age_s"] for name, d in depths.items()},
            dead_letters=await queue.dead_letters.counts(),
            records_ingested=records.rows_ingested,
            journal_segments=await asyncio.to_thread(records.journal_segments),
            loop_lag_s=lag.last_s,
            logs_written=logs.writer.written - logs.writer.failed,
            logs_dropped=logs.writer.dropped,
            logs_failed=logs.writer.failed,
        )

    return MetricsExporter(PlatformCollector(invocations), gather), lag_task


def node_backup(
    settings: Settings,
    engine: Engine,
    records: RecordLog,
    logs: LogStore,
    content_hold: asyncio.Lock,
) -> NodeBackup:
    """POST /faas/v1/backup: a consistent copy of this node, every answered invocation's
    record and logs in it."""

    async def drain() -> None:
        await records.drained()
        await logs.flushed()

    files = NodeFiles(
        settings.data_dir, settings.store_url, settings.master_key_path, settings.credentials_path
    )
    return NodeBackup(
        files, engine, drain=drain, content_hold=content_hold, faas_version=__version__
    )


def start_record_retention(settings: Settings, engine: Engine) -> asyncio.Task[None] | None:
    """Records past store.records_retention_days deleted in the background (0: kept)."""
    store = settings.store
    if store.records_retention_days <= 0:
        return None
    retention = RecordRetention(
        engine,
        retention_days=store.records_retention_days,
        batch_rows=store.retention_batch_rows,
    )
    return asyncio.get_running_loop().create_task(retention.run_forever(store.retention_interval_s))


async def _start_isolation(
    settings: Settings, runtimes: Mapping[str, str], undo: contextlib.AsyncExitStack
) -> tuple[SandboxPlanner, GatewayServices | None]:
    planner = await start_sandbox(settings, runtimes)
    undo.push_async_callback(asyncio.to_thread, planner.teardown)
    gateway_services = await publish_on_gateway(settings, planner)
    if gateway_services is not None:
        undo.callback(gateway_services.close)
    return planner, gateway_services


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The HTTPS context, or None for plain HTTP (with a warning where others can listen in)."""
    server = settings.server
    if not server.tls_cert:
        if not is_loopback(server.host):
            log.warning(
                "serving plain HTTP on %s: signatures keep requests from being changed, not "
                "from being read or replayed within 5 minutes; serve HTTPS (--tls-cert, "
                "--tls-key) or put a TLS proxy in front",
                server.host,
            )
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(server.tls_cert, server.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot use the TLS certificate {server.tls_cert} with key {server.tls_key}: {exc}"
        ) from exc
    return context


async def listen(
    front: FrontDoor, host: str, port: int, context: ssl.SSLContext | None = None
) -> None:
    """Start listening; a port already taken is a user's problem with a named way out."""
    try:
        await front.listen(host, port, ssl=context)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise PortInUse(
            f"{host}:{port} is already in use; choose another port with --port "
            f"(or FAAS_SERVER_PORT), e.g. faas serve --port {port + 1}, "
            f"or make serve ARGS='--port {port + 1}'"
        ) from None


async def run_until_signalled(settings: Settings, *, rotate_master_key: bool = False) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        platform = await start_platform(settings, rotate_master_key=rotate_master_key)
    except Exception as exc:
        # A problem of the host or the configuration is one line; a bug keeps its traceback.
        expected = isinstance(exc, OSError | FaasError | ConfigError)
        log.error("cannot start: %s", exc, exc_info=not expected)
        return 1
    print(
        f"faas {__version__} listening on {', '.join(platform.urls)} "
        f"(store: {url_kind(settings.store_url)}, data: {settings.data_dir})",
        flush=True,
    )
    await stop.wait()
    await platform.stop()
    return 0


def serve(settings: Settings, *, rotate_master_key: bool = False) -> int:
    """Run the platform until SIGTERM/SIGINT; returns the process exit code."""
    logging.basicConfig(
        level=settings.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # alembic narrates every start at INFO ("Context impl SQLiteImpl."); faas logs the
    # revisions it applied itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    os.umask(0o077)  # the database and code store are the platform's alone
    # Before any thread exists: the /tmp images mounted from now on live in a mount namespace
    # of the platform's own and vanish with it, even when it is killed with SIGKILL.
    private_mounts_reason = isolate_mounts()
    if private_mounts_reason:
        log.info("mounts are shared with the host: %s", private_mounts_reason)
    raise_open_file_limit(settings.http)
    return run_event_loop(run_until_signalled(settings, rotate_master_key=rotate_master_key))
