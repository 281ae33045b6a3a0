"""Pools of warm workers, one pool per function version (WorkerSpec.key).

acquire -> an idle warm worker (most recently used first, so the rest age out) or a new one;
release -> back to idle, or gone if it died or its version was retired. A reaper stops
workers idle longer than `idle_ttl_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from faas.config import PoolSettings
from faas.domain import WorkerSpec
from faas.errors import ServiceUnavailable
from faas.pool.launcher import Launcher
from faas.pool.worker import Worker

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Pool:
    spec: WorkerSpec
    idle: list[Worker] = field(default_factory=list)
    busy: set[Worker] = field(default_factory=set)
    retired: bool = False

    @property
    def size(self) -> int:
        return len(self.idle) + len(self.busy)


@dataclass(frozen=True, slots=True)
class PoolStats:
    pools: int
    idle: int
    busy: int

    @property
    def warm(self) -> int:
        return self.idle + self.busy


class PoolManager:
    def __init__(self, settings: PoolSettings, launcher: Launcher) -> None:
        self._settings = settings
        self._launcher = launcher
        self._pools: dict[str, Pool] = {}
        self._pool_of: dict[Worker, Pool] = {}
        self._stopping = False
        self._reaper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def acquire(self, spec: WorkerSpec) -> Worker:
        """An idle worker of this version, or a freshly started one (raises InitFailed)."""
        if self._stopping:
            raise ServiceUnavailable("The platform is shutting down")
        pool = self._pools.get(spec.key)
        if pool is None:
            pool = self._pools[spec.key] = Pool(spec)
        while pool.idle:
            worker = pool.idle.pop()
            if worker.alive:
                pool.busy.add(worker)
                return worker
        return await self._start_worker(pool)

    def release(self, worker: Worker) -> None:
        pool = self._pool_of.get(worker)
        if pool is None:
            return
        pool.busy.discard(worker)
        if worker.alive and not pool.retired and not self._stopping:
            pool.idle.append(worker)
            return
        self._forget(worker)
        worker.kill()

    def retire(self, key: str) -> None:
        """Stop a version's workers: idle ones now, busy ones when their invocation ends."""
        pool = self._pools.pop(key, None)
        if pool is None:
            return
        pool.retired = True
        for worker in pool.idle:
            self._forget(worker)
            worker.kill()
        pool.idle.clear()

    def stats(self) -> PoolStats:
        idle = sum(len(p.idle) for p in self._pools.values())
        busy = sum(len(p.busy) for p in self._pools.values())
        return PoolStats(len(self._pools), idle, busy)

    def code_dirs_in_use(self) -> set[str]:
        """Code directories that live workers run from (they must not be deleted yet)."""
        return {worker.spec.code_dir for worker in self._pool_of}

    def reap_idle(self, now: float) -> int:
        """Stop workers idle for longer than idle_ttl_s; returns how many were stopped."""
        stopped = 0
        for key, pool in list(self._pools.items()):
            keep = [w for w in pool.idle if now - w.last_used < self._settings.idle_ttl_s]
            for worker in pool.idle:
                if worker not in keep:
                    self._forget(worker)
                    worker.kill()
                    stopped += 1
            pool.idle = keep
            if pool.size == 0:
                del self._pools[key]
        return stopped

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Kill every worker and wait (bounded) until each process has exited."""
        self._stopping = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        workers = list(self._pool_of)
        for worker in workers:
            worker.kill()
        self._pools.clear()
        self._pool_of.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not all(w.reaped for w in workers):
            if loop.time() > deadline:
                log.warning("some workers did not exit within %.1f s", timeout_s)
                break
            await asyncio.sleep(0.01)
        await self._launcher.drain()
        self._launcher.stop()

    # -- internals --------------------------------------------------------------------

    async def _start_worker(self, pool: Pool) -> Worker:
        process = await self._launcher.launch(pool.spec)
        worker = Worker(
            pool.spec,
            process,
            asyncio.get_running_loop(),
            max_log_bytes=self._settings.max_log_bytes,
            on_exit=self._on_worker_exit,
        )
        # Tracked before the first await, so a failed or cancelled start never leaks a process.
        self._pool_of[worker] = pool
        pool.busy.add(worker)
        try:
            await worker.wait_ready(self._settings.init_timeout_s)
        except BaseException:
            pool.busy.discard(worker)
            self._forget(worker)
            worker.kill()
            raise
        return worker

    def _on_worker_exit(self, worker: Worker) -> None:
        pool = self._pool_of.get(worker)
        if pool is not None and worker in pool.idle:
            pool.idle.remove(worker)
            self._forget(worker)

    def _forget(self, worker: Worker) -> None:
        self._pool_of.pop(worker, None)

    async def _reap_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._settings.reap_interval_s)
            stopped = self.reap_idle(loop.time())
            if stopped:
                log.info("stopped %d idle worker(s)", stopped)
