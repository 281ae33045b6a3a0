"""Pools of warm workers, one pool per function version (WorkerSpec.key).

acquire -> an idle warm worker (most recently used first, so the rest age out) or a new one;
release -> back to idle, or gone if it died or its version was retired. Around that:
- a host memory budget: the MemorySize of every live worker adds up to at most
  `memory_budget_mb`; to make room, the least recently used idle workers (of any function)
  are stopped, and when even that cannot make room the caller gets a 429;
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
import time
from collections import OrderedDict
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
        self._memory_in_use_mb = 0
        self._stopping = False
        self._reaper: asyncio.Task[None] | None = None
        self._freezer = IdleFreezer(settings.freeze_after_ms / 1000, _call_later)

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def acquire(self, spec: WorkerSpec) -> Worker:
        """An idle worker of this version, or a freshly started one (raises InitFailed, or
        TooManyRequests when the memory budget has no room even after evicting idle ones)."""
        if self._stopping:
            raise ServiceUnavailable("The platform is shutting down")
        pool = self._pool_for(spec)
        now_s = time.time()
        while pool.idle:
            worker = pool.idle.pop()
            self._idle_lru.pop(worker, None)
            usable = worker.alive and not worker.credentials_stale(now_s)
            if usable and self._freezer.handed_work(worker):
                pool.busy.add(worker)
                return worker
            self._forget(worker)
            worker.kill()  # dead already, or its credentials are due for renewal
        worker = await self._start_worker(pool)
        pool.busy.add(worker)
        return worker

    def release(self, worker: Worker) -> None:
        pool = self._pool_of.get(worker)
        if pool is None:
            return
        pool.busy.discard(worker)
        # A worker whose invocation was cancelled is still running it: never hand it out.
        if worker.idle and not pool.retired and not self._stopping:
            self._make_idle(pool, worker)
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
        """Code directories that live workers run from (they must not be deleted yet)."""
        return {worker.spec.code_dir for worker in self._pool_of}

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
        for pool in self._pools.values():
            if pool.filling is not None:
                pool.filling.cancel()
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

    def _pool_for(self, spec: WorkerSpec) -> Pool:
        pool = self._pools.get(spec.key)
        if pool is None:
            pool = self._pools[spec.key] = Pool(spec)
        return pool

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

    async def _launch_and_init(self, pool: Pool) -> Worker:
        memory_mb = pool.spec.memory_mb
        self._reserve_memory(memory_mb)
        try:
            process = await self._launcher.launch(pool.spec)
        except BaseException:
            self._memory_in_use_mb -= memory_mb
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
        """Count a new worker's MemorySize against the budget, evicting idle workers (least
        recently used first) to make room; 429 when that is not enough."""
        while self._memory_in_use_mb + memory_mb > self._budget_mb:
            victim = self._eviction_candidate()
            if victim is None:
                raise TooManyRequests(
                    f"Not enough memory on this host for another {memory_mb} MB worker "
                    f"({self._memory_in_use_mb} of {self._budget_mb} MB in use)",
                    reason="ConcurrentInvocationLimitExceeded",
                )
            self._stop_idle(victim)
        self._memory_in_use_mb += memory_mb

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
                if pool.retired:
                    self._forget(worker)
                    worker.kill()
                    return
                self._make_idle(pool, worker)
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
            self._memory_in_use_mb -= worker.spec.memory_mb

    async def _reap_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._settings.reap_interval_s)
            stopped = self.reap_idle(loop.time())
            if stopped:
                log.info("stopped %d idle worker(s)", stopped)
            for pool in list(self._pools.values()):
                self._fill_later(pool)
