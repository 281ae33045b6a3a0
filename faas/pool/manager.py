"""Pools of warm workers, one pool per function version (WorkerSpec.key).

acquire -> an idle warm worker (most recently used first, so the rest age out); when every
worker of the version is busy, a new one is started, and the caller is served by whichever
worker is free first: one of the busy ones coming back, or the new one (which joins the pool
either way), as Knative's activator and OpenWhisk do. A caller never waits on a cold start
while a warm worker of its function is free.
release -> to the longest-waiting caller of its version, else idle; gone if it died.
Around that:
- a host memory budget: the MemorySize of every live worker adds up to at most
  `memory_budget_mb`; to make room, the least recently used idle workers (of any function)
  are stopped; when even that cannot make room, the caller waits up to `memory_wait_ms` for
  a worker of its function to come free or for room, and only then gets a 429;
- provisioned concurrency: a pool can be told to keep N workers initialised at all times
  (filled ahead of requests, refilled when one dies, never reaped or evicted below N);
- a reaper stops workers idle longer than `idle_ttl_s` (scale to zero);
- a worker idle longer than `freeze_after_ms` is frozen until it is handed work again
  (faas.pool.freezer); killing it (reaper, eviction, retirement, shutdown) works frozen.
Every step is O(1) in the number of functions, except the periodic reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from faas.config import PoolSettings
from faas.domain import WorkerSpec
from faas.errors import ServiceUnavailable, TooManyRequests
from faas.pool.freezer import IdleFreezer, Timer
from faas.pool.launcher import Launcher
from faas.pool.worker import InitFailed, Worker

log = logging.getLogger(__name__)

BUDGET_SHARE_OF_RAM = 0.8
MB = 1024 * 1024


@dataclass(eq=False)
class Pool:
    spec: WorkerSpec
    idle: list[Worker] = field(default_factory=list)
    busy: set[Worker] = field(default_factory=set)
    retired: bool = False
    provisioned: int = 0
    starting: int = 0
    filling: asyncio.Task[None] | None = None
    # Callers waiting for a worker, first come first served.
    waiters: deque[asyncio.Future[Worker]] = field(default_factory=deque)
    # Workers being started for callers (each caller that found no idle worker starts one).
    launching: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def size(self) -> int:
        return len(self.idle) + len(self.busy)

    @property
    def unused(self) -> bool:
        """No worker, none starting, none to provision: the pool can be forgotten."""
        return self.size == 0 and self.starting == 0 and not self.provisioned


@dataclass(frozen=True, slots=True)
class PoolStats:
    pools: int
    idle: int
    busy: int
    memory_in_use_mb: int
    memory_budget_mb: int

    @property
    def warm(self) -> int:
        return self.idle + self.busy


def _call_later(delay_s: float, callback: Callable[[], None]) -> Timer:
    return asyncio.get_running_loop().call_later(delay_s, callback)


def default_memory_budget_mb() -> int:
    return int(psutil.virtual_memory().total * BUDGET_SHARE_OF_RAM / MB)


class PoolManager:
    def __init__(
        self, settings: PoolSettings, launcher: Launcher, *, poll_interval_s: float = 0.05
    ) -> None:
        self._settings = settings
        self._poll_interval_s = poll_interval_s
        self._launcher = launcher
        self._pools: dict[str, Pool] = {}
        self._pool_of: dict[Worker, Pool] = {}
        self._idle_lru: OrderedDict[Worker, None] = OrderedDict()  # oldest first
        self._budget_mb = settings.memory_budget_mb or default_memory_budget_mb()
        self._parallel_starts = settings.max_parallel_starts or os.cpu_count() or 1
        self._memory_in_use_mb = 0
        self._stopping = False
        self._reaper: asyncio.Task[None] | None = None
        self._freezer = IdleFreezer(settings.freeze_after_ms / 1000, _call_later)
        # Callers whose worker could not be started for lack of memory, oldest first: a start
        # is tried again for them whenever memory is freed.
        self._memory_waiters: deque[tuple[Pool, asyncio.Future[Worker]]] = deque()

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def acquire(self, spec: WorkerSpec) -> Worker:
        """An idle worker of this version; else the first one free, a busy one coming back or
        one started for this call (raises InitFailed when that start fails first, or
        TooManyRequests when the memory budget has had no room for `memory_wait_ms`)."""
        if self._stopping:
            raise ServiceUnavailable("The platform is shutting down")
        pool = self._pool_for(spec)
        now_s = time.time()
        while pool.idle:
            worker = pool.idle.pop()
            self._idle_lru.pop(worker, None)
            if self._usable(worker, now_s):
                pool.busy.add(worker)
                return worker
        waiter: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        pool.waiters.append(waiter)
        self._ensure_starts(pool)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Handed a worker in the same loop turn as the cancellation: it goes back.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())
            raise
        finally:
            with contextlib.suppress(ValueError):
                pool.waiters.remove(waiter)

    def release(self, worker: Worker) -> None:
        pool = self._pool_of.get(worker)
        if pool is None:
            return
        pool.busy.discard(worker)
        # A worker whose invocation was cancelled is still running it: never hand it out.
        if worker.idle and not self._stopping:
            self._hand_off(pool, worker)
            return
        self._forget(worker)
        worker.kill()

    def retire(self, key: str) -> None:
        """Stop a version's workers: idle ones now, busy ones when their invocation ends."""
        pool = self._pools.pop(key, None)
        if pool is None:
            return
        pool.retired = True
        self._launcher.retire(key)
        if pool.filling is not None:
            pool.filling.cancel()
        for worker in pool.idle:
            self._idle_lru.pop(worker, None)
            self._forget(worker)
            worker.kill()
        pool.idle.clear()

    def set_provisioned(self, spec: WorkerSpec, count: int) -> None:
        """Keep `count` workers of this version initialised at all times (0: none)."""
        if count <= 0 and spec.key not in self._pools:
            return  # nothing provisioned and no pool yet: nothing to keep
        pool = self._pool_for(spec)
        pool.provisioned = max(count, 0)
        # Workers beyond the new count serve on demand from now on (and are billed so).
        kept = [worker for worker in (*pool.idle, *pool.busy) if worker.provisioned]
        for worker in kept[pool.provisioned :]:
            worker.provisioned = False
        self._fill_later(pool)

    def provisioned_ready(self, spec: WorkerSpec) -> int:
        """How many workers of this version are initialised right now (idle or busy)."""
        pool = self._pools.get(spec.key)
        return 0 if pool is None else pool.size

    def stats(self) -> PoolStats:
        idle = sum(len(p.idle) for p in self._pools.values())
        busy = sum(len(p.busy) for p in self._pools.values())
        return PoolStats(len(self._pools), idle, busy, self._memory_in_use_mb, self._budget_mb)

    def code_dirs_in_use(self) -> set[str]:
        """Code directories (and layers' /opt trees) that live workers run from: they must
        not be deleted yet."""
        specs = [worker.spec for worker in self._pool_of]
        return {spec.code_dir for spec in specs} | {spec.opt_dir for spec in specs if spec.opt_dir}

    def reap_idle(self, now: float) -> int:
        """Stop workers idle for longer than idle_ttl_s (oldest first, provisioned ones
        excepted), and idle workers whose credentials are due for renewal (provisioned ones
        too: the reaper refills them); returns how many were stopped."""
        now_s = time.time()
        stale = [worker for worker in self._idle_lru if worker.credentials_stale(now_s)]
        for worker in stale:
            self._stop_idle(worker)
        stopped = len(stale)
        for worker in list(self._idle_lru):
            if now - worker.last_used < self._settings.idle_ttl_s:
                break  # the rest were used more recently
            pool = self._pool_of.get(worker)
            if pool is not None and pool.size <= pool.provisioned:
                continue
            self._stop_idle(worker)
            stopped += 1
        # A snapshot template is kept while its version exists, like Lambda's snapshot: it
        # is what makes the next worker start in a fork. retire() stops it.
        for key in [k for k, p in self._pools.items() if p.unused]:
            del self._pools[key]
        return stopped

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Kill every worker and wait (bounded) until each process has exited."""
        self._stopping = True
        self._freezer.stop()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self._stop_starts()
        workers = list(self._pool_of)
        for worker in workers:
            worker.kill()
        self._pools.clear()
        self._pool_of.clear()
        self._idle_lru.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not all(w.reaped for w in workers):
            if loop.time() > deadline:
                log.warning("some workers did not exit within %.1f s", timeout_s)
                break
            await asyncio.sleep(0.01)
        # Spares and templates next (reaped by their zygote), then the zygotes, then wait for
        # the sandbox releases that the last exits started.
        await self._launcher.drain()
        self._launcher.stop()
        await self._launcher.drain()

    # -- internals --------------------------------------------------------------------

    async def _stop_starts(self) -> None:
        """Provisioning and starts for callers end; every waiting caller gets a 503."""
        launching: list[asyncio.Task[None]] = []
        waiters = [waiter for _, waiter in self._memory_waiters]
        self._memory_waiters.clear()
        for pool in self._pools.values():
            if pool.filling is not None:
                pool.filling.cancel()
            launching += pool.launching
            waiters += pool.waiters
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(ServiceUnavailable("The platform is shutting down"))
        for task in launching:
            task.cancel()
        await asyncio.gather(*launching, return_exceptions=True)

    def _pool_for(self, spec: WorkerSpec) -> Pool:
        pool = self._pools.get(spec.key)
        if pool is not None and pool.spec.mounts != spec.mounts:
            # The same version with other host directories (a bucket moved, or its group
            # changed): no worker, spare plan or snapshot template of the old ones may serve it.
            self.retire(spec.key)
            pool = None
        if pool is None:
            pool = self._pools[spec.key] = Pool(spec)
        return pool

    def _usable(self, worker: Worker, now_s: float) -> bool:
        """Alive, credentials fresh, thawed: else it is stopped (False)."""
        if (
            worker.alive
            and not worker.credentials_stale(now_s)
            and self._freezer.handed_work(worker)
        ):
            return True
        self._forget(worker)
        worker.kill()  # dead already, its credentials are due for renewal, or it stays frozen
        return False

    def _hand_off(self, pool: Pool, worker: Worker, *, fresh: bool = False) -> None:
        """A free worker goes to the longest-waiting caller of its version, else to idle (a
        retired version's worker, with nobody waiting, is stopped). A `fresh` one was just
        started: its credentials are as new as they come, even when their lifetime is
        shorter than the function's timeout."""
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if waiter.done():
                continue  # timed out, or failed by its own start
            usable = worker.alive if fresh else self._usable(worker, time.time())
            if not usable:
                if fresh:
                    self._forget(worker)
                    worker.kill()
                pool.waiters.appendleft(waiter)
                self._ensure_starts(pool)
                return
            pool.busy.add(worker)
            waiter.set_result(worker)
            return
        if pool.retired:
            self._forget(worker)
            worker.kill()
            return
        self._make_idle(pool, worker)

    def _start_for(self, pool: Pool, waiter: asyncio.Future[Worker]) -> None:
        """Start a worker for a caller, or queue it for memory (bounded by memory_wait_ms)."""
        if not self._try_reserve_memory(pool.spec.memory_mb):
            self._memory_waiters.append((pool, waiter))
            loop = asyncio.get_running_loop()
            expiry = loop.call_later(
                self._settings.memory_wait_ms / 1000, self._memory_wait_expired, pool, waiter
            )
            waiter.add_done_callback(lambda _: expiry.cancel())
            return
        self._launch_task(pool, waiter)

    def _launch_task(self, pool: Pool, origin: asyncio.Future[Worker]) -> None:
        pool.starting += 1  # now, not when the task first runs: _ensure_starts counts it
        task = asyncio.get_running_loop().create_task(self._launch_for(pool, origin))
        pool.launching.add(task)
        task.add_done_callback(pool.launching.discard)

    def _ensure_starts(self, pool: Pool) -> None:
        """Each waiting caller has a start of its own pending, but at most
        `max_parallel_starts` of a version at once: a burst at an idle function would
        otherwise start a worker per caller all at once, and those starts' CPU would slow
        the workers already serving (the rest start as these finish, while the callers are
        served by whichever worker is free first)."""
        waiting = [waiter for waiter in pool.waiters if not waiter.done()]
        queued = sum(1 for queued_pool, _ in self._memory_waiters if queued_pool is pool)
        pending = pool.starting + queued
        lacking = waiting[pending:]
        lacking = lacking[: max(0, self._parallel_starts - pending)]
        for waiter in lacking:
            self._start_for(pool, waiter)

    async def _launch_for(self, pool: Pool, origin: asyncio.Future[Worker]) -> None:
        """Start a worker (memory already reserved) and hand it to whoever waits first; a
        failed start fails the caller that asked for it, if that one still waits. `starting`
        was counted by _launch_task."""
        try:
            worker = await self._launch_and_init(pool, reserved=True)
        except asyncio.CancelledError:  # stop(): the platform is going
            pool.starting -= 1
            if not origin.done():
                origin.set_exception(ServiceUnavailable("The platform is shutting down"))
            raise
        except Exception as exc:
            pool.starting -= 1
            if not origin.done():
                origin.set_exception(exc)
            else:
                log.info(
                    "a worker of %s failed after its caller was served: %s", pool.spec.key, exc
                )
            self._ensure_starts(pool)
            return
        pool.starting -= 1
        if self._stopping:
            self._forget(worker)
            worker.kill()
            return
        self._hand_off(pool, worker, fresh=True)
        self._ensure_starts(pool)  # the ramp goes on while callers still wait

    def _memory_wait_expired(self, pool: Pool, waiter: asyncio.Future[Worker]) -> None:
        if waiter.done():
            return
        with contextlib.suppress(ValueError):
            self._memory_waiters.remove((pool, waiter))
        memory_mb = pool.spec.memory_mb
        waiter.set_exception(
            TooManyRequests(
                f"Not enough memory on this host for another {memory_mb} MB worker "
                f"({self._memory_in_use_mb} of {self._budget_mb} MB in use)",
                reason="ConcurrentInvocationLimitExceeded",
            )
        )

    def _retry_memory_waiters(self) -> None:
        """Memory was freed: start workers for the callers that wait for it, oldest first."""
        while self._memory_waiters and not self._stopping:
            pool, waiter = self._memory_waiters[0]
            if waiter.done():
                self._memory_waiters.popleft()
                continue
            if not self._try_reserve_memory(pool.spec.memory_mb):
                return
            self._memory_waiters.popleft()
            self._launch_task(pool, waiter)

    def _make_idle(self, pool: Pool, worker: Worker) -> None:
        pool.idle.append(worker)
        self._idle_lru[worker] = None
        self._idle_lru.move_to_end(worker)
        self._freezer.became_idle(worker)

    async def _start_worker(self, pool: Pool) -> Worker:
        # `starting` covers the launch and the init: until the worker is in the pool's lists,
        # the reaper must not take the pool for unused.
        pool.starting += 1
        try:
            return await self._launch_and_init(pool)
        finally:
            pool.starting -= 1

    async def _launch_and_init(self, pool: Pool, *, reserved: bool = False) -> Worker:
        memory_mb = pool.spec.memory_mb
        if not reserved:
            self._reserve_memory(memory_mb)
        try:
            process = await self._launcher.launch(pool.spec)
        except BaseException:
            self._release_memory(memory_mb)
            raise
        worker = Worker(
            pool.spec,
            process,
            asyncio.get_running_loop(),
            max_log_bytes=self._settings.max_log_bytes,
            poll_interval_s=self._poll_interval_s,
            on_exit=self._on_worker_exit,
        )
        # Tracked before the first await, so a failed or cancelled start never leaks a process.
        self._pool_of[worker] = pool
        try:
            await worker.wait_ready(self._settings.init_timeout_s)
        except BaseException:
            self._forget(worker)
            worker.kill()
            raise
        return worker

    def _reserve_memory(self, memory_mb: int) -> None:
        """As _try_reserve_memory, but 429 at once (provisioning: retried by the reaper)."""
        if not self._try_reserve_memory(memory_mb):
            raise TooManyRequests(
                f"Not enough memory on this host for another {memory_mb} MB worker "
                f"({self._memory_in_use_mb} of {self._budget_mb} MB in use)",
                reason="ConcurrentInvocationLimitExceeded",
            )

    def _try_reserve_memory(self, memory_mb: int) -> bool:
        """Count a new worker's MemorySize against the budget, evicting idle workers (least
        recently used first) to make room; False when that is not enough."""
        while self._memory_in_use_mb + memory_mb > self._budget_mb:
            victim = self._eviction_candidate()
            if victim is None:
                return False
            self._stop_idle(victim)
        self._memory_in_use_mb += memory_mb
        return True

    def _release_memory(self, memory_mb: int) -> None:
        self._memory_in_use_mb -= memory_mb
        if self._memory_waiters:
            asyncio.get_running_loop().call_soon(self._retry_memory_waiters)

    def _eviction_candidate(self) -> Worker | None:
        for worker in self._idle_lru:
            pool = self._pool_of.get(worker)
            if pool is None or pool.size > pool.provisioned:
                return worker
        return None

    def _stop_idle(self, worker: Worker) -> None:
        pool = self._pool_of.get(worker)
        self._idle_lru.pop(worker, None)
        if pool is not None and worker in pool.idle:
            pool.idle.remove(worker)
        self._forget(worker)
        worker.kill()

    def _fill_later(self, pool: Pool) -> None:
        if self._stopping or pool.retired or pool.filling is not None:
            return
        if pool.size + pool.starting >= pool.provisioned:
            return
        pool.filling = asyncio.get_running_loop().create_task(self._fill(pool))

    async def _fill(self, pool: Pool) -> None:
        try:
            while not pool.retired and pool.size + pool.starting < pool.provisioned:
                worker = await self._start_worker(pool)
                worker.report_init = False
                worker.provisioned = True
                if pool.retired:
                    self._forget(worker)
                    worker.kill()
                    return
                self._hand_off(pool, worker, fresh=True)
        except (InitFailed, TooManyRequests, ServiceUnavailable) as exc:
            # Retried on the next reaper tick; a function that cannot init must not spin.
            log.warning("provisioning %s failed: %s", pool.spec.key, exc)
        finally:
            pool.filling = None

    def _on_worker_exit(self, worker: Worker) -> None:
        pool = self._pool_of.get(worker)
        if pool is None:
            return
        if worker in pool.idle:
            pool.idle.remove(worker)
            self._idle_lru.pop(worker, None)
            self._forget(worker)
        if pool.provisioned and not pool.retired:
            # Refill once the dead worker has left the pool (release() may still hold it).
            asyncio.get_running_loop().call_soon(self._fill_later, pool)

    def _forget(self, worker: Worker) -> None:
        self._freezer.forget(worker)
        if self._pool_of.pop(worker, None) is not None:
            self._release_memory(worker.spec.memory_mb)

    async def _reap_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._settings.reap_interval_s)
            stopped = self.reap_idle(loop.time())
            if stopped:
                log.info("stopped %d idle worker(s)", stopped)
            for pool in list(self._pools.values()):
                self._fill_later(pool)
