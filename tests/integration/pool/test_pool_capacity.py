"""Warm capacity: the host memory budget with LRU eviction, provisioned workers, reaping."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from faas.config import PoolSettings, SandboxSettings
from faas.domain import WorkerSpec
from faas.errors import TooManyRequests
from faas.pool.launcher import ZygoteLauncher, runtime_dir
from faas.pool.manager import PoolManager
from faas.pool.sandbox import HostSandbox, SandboxPlanner, probe_host
from tests.integration.pool.test_pool_manager import COUNTER, make_spec

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
Factory = Callable[..., PoolManager]


@pytest.fixture(scope="module")
def host() -> HostSandbox:
    return probe_host(sys.executable, runtime_dir() / "python")


@pytest.fixture
async def make_pool(host: HostSandbox, tmp_path: Path) -> AsyncIterator[Factory]:
    planner = SandboxPlanner(
        host, SandboxSettings(prepared_tmp_slots=0, network_layer="off"), tmp_path / "data"
    )
    await asyncio.to_thread(planner.setup)
    pools: list[PoolManager] = []

    def factory(**settings: float) -> PoolManager:
        pool = PoolManager(
            PoolSettings(**settings), ZygoteLauncher({RUNTIME: sys.executable}, planner)
        )
        pool.start()
        pools.append(pool)
        return pool

    yield factory
    for pool in pools:
        await pool.stop()
    await asyncio.to_thread(planner.teardown)


def spec_for(tmp_path: Path, name: str, memory_mb: int = 128) -> WorkerSpec:
    spec = make_spec(tmp_path / name, COUNTER, key=f"{name}:1")
    return dataclasses.replace(spec, memory_mb=memory_mb, function_name=name)


async def wait_for(pool: PoolManager, **expected: int) -> None:
    """Poll the pool's stats (bounded, ~5 s) until they show `expected`."""
    for _ in range(100):
        stats = pool.stats()
        if all(getattr(stats, name) == value for name, value in expected.items()):
            return
        await asyncio.sleep(0.05)


async def warm_up(pool: PoolManager, spec: WorkerSpec) -> int:
    worker = await pool.acquire(spec)
    pid = worker.pid
    pool.release(worker)
    return pid


async def test_the_least_recently_used_idle_worker_makes_room(
    make_pool: Factory, tmp_path: Path
) -> None:
    pool = make_pool(memory_budget_mb=256)
    first, second, third = (spec_for(tmp_path, n) for n in ("first", "second", "third"))
    await warm_up(pool, first)
    await warm_up(pool, second)
    await warm_up(pool, first)  # first is now the most recently used
    await warm_up(pool, third)  # no room for a third 128 MB worker: second goes
    stats = pool.stats()
    assert stats.memory_in_use_mb == 256
    assert stats.idle == 2
    assert await warm_up(pool, first) == await warm_up(pool, first)  # still warm


async def test_no_room_even_after_eviction_is_a_429(make_pool: Factory, tmp_path: Path) -> None:
    pool = make_pool(memory_budget_mb=256, memory_wait_ms=100)
    big = spec_for(tmp_path, "big", memory_mb=256)
    busy = await pool.acquire(big)  # the whole budget, and busy: nothing to evict
    with pytest.raises(TooManyRequests) as refused:
        await pool.acquire(spec_for(tmp_path, "small"))
    assert refused.value.reason == "ConcurrentInvocationLimitExceeded"
    assert "memory" in refused.value.message
    pool.release(busy)
    worker = await pool.acquire(spec_for(tmp_path, "small"))  # now the idle one is evicted
    assert worker.alive
    pool.release(worker)


async def test_provisioned_workers_exist_before_the_first_request(
    make_pool: Factory, tmp_path: Path
) -> None:
    pool = make_pool()
    spec = spec_for(tmp_path, "ready")
    pool.set_provisioned(spec, 2)
    await wait_for(pool, idle=2)
    assert pool.stats().idle == 2
    worker = await pool.acquire(spec)
    result = await worker.invoke("r", b"{}", spec.function_arn, None)
    pool.release(worker)
    assert result.init_duration_ns is None  # it was initialised before the request


async def test_a_provisioned_worker_that_dies_is_replaced(
    make_pool: Factory, tmp_path: Path
) -> None:
    pool = make_pool()
    spec = spec_for(tmp_path, "refill")
    pool.set_provisioned(spec, 1)
    await wait_for(pool, idle=1)
    worker = await pool.acquire(spec)
    first_pid = worker.pid
    worker.kill()
    pool.release(worker)
    await wait_for(pool, idle=1)
    assert pool.stats().idle == 1
    again = await pool.acquire(spec)
    assert again.pid != first_pid
    pool.release(again)


async def test_provisioned_workers_are_neither_reaped_nor_evicted(
    make_pool: Factory, tmp_path: Path
) -> None:
    pool = make_pool(memory_budget_mb=256, idle_ttl_s=1)
    kept = spec_for(tmp_path, "kept")
    pool.set_provisioned(kept, 1)
    await wait_for(pool, idle=1)
    other = spec_for(tmp_path, "other")
    await warm_up(pool, other)
    loop = asyncio.get_running_loop()
    assert pool.reap_idle(loop.time() + 10) == 1  # only the unprovisioned one
    await warm_up(pool, spec_for(tmp_path, "third"))  # evicts nothing provisioned
    big = spec_for(tmp_path, "big", memory_mb=256)
    with pytest.raises(TooManyRequests):
        await pool.acquire(big)  # the provisioned 128 MB stays; no room for 256
    assert pool.stats().memory_in_use_mb <= 256


async def test_idle_workers_scale_to_zero(make_pool: Factory, tmp_path: Path) -> None:
    pool = make_pool(idle_ttl_s=0.2, reap_interval_s=0.1)
    await warm_up(pool, spec_for(tmp_path, "zero"))
    await wait_for(pool, warm=0)
    assert pool.stats().warm == 0
    assert pool.stats().memory_in_use_mb == 0


async def test_a_caller_waits_for_memory_and_gets_a_worker_coming_free(
    make_pool: Factory, tmp_path: Path
) -> None:
    """No room for a second worker: the caller waits, and the busy one serves it next."""
    pool = make_pool(memory_budget_mb=256, memory_wait_ms=30_000)
    spec = spec_for(tmp_path, "only", memory_mb=256)
    busy = await pool.acquire(spec)
    waiting = asyncio.ensure_future(pool.acquire(spec))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    pool.release(busy)
    served = await asyncio.wait_for(waiting, 10)
    assert served is busy  # no 429, no second worker
    assert pool.stats().memory_in_use_mb == 256
    pool.release(served)


async def test_the_wait_for_memory_is_bounded(make_pool: Factory, tmp_path: Path) -> None:
    pool = make_pool(memory_budget_mb=256, memory_wait_ms=100)
    spec = spec_for(tmp_path, "only", memory_mb=256)
    busy = await pool.acquire(spec)
    with pytest.raises(TooManyRequests):
        await pool.acquire(spec)
    pool.release(busy)


SLOW_INIT = "\n    import time\n    time.sleep(1.5)" + COUNTER  # dedented by make_spec


async def test_a_caller_gets_the_first_worker_free_not_its_cold_start(
    make_pool: Factory, tmp_path: Path
) -> None:
    """Every worker busy: a new one is started, but the caller is served by the busy one
    that comes back first; the new worker joins the pool when it is ready."""
    pool = make_pool()
    spec = dataclasses.replace(
        make_spec(tmp_path / "slow", SLOW_INIT, key="slow:1"), function_name="slow"
    )
    warm = await pool.acquire(spec)  # pays the slow init once
    waiting = asyncio.ensure_future(pool.acquire(spec))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # a new worker is starting for it (1.5 s of init)
    pool.release(warm)
    served = await asyncio.wait_for(waiting, 10)
    assert served is warm
    pool.release(served)
    await wait_for(pool, idle=2)  # the started worker joined the pool anyway
    assert pool.stats().idle == 2


async def test_a_burst_starts_at_most_max_parallel_starts_workers_at_once(
    make_pool: Factory, tmp_path: Path
) -> None:
    """Six callers at an idle function whose init is slow: two workers start (the limit),
    the next ones only as those finish, and every caller is served."""
    pool = make_pool(max_parallel_starts=2)
    spec = dataclasses.replace(
        make_spec(tmp_path / "slow", SLOW_INIT, key="slow:1"), function_name="slow"
    )
    callers = [asyncio.ensure_future(pool.acquire(spec)) for _ in range(6)]
    await asyncio.sleep(0.2)
    assert pool.stats().memory_in_use_mb == 2 * spec.memory_mb  # two starting, not six
    served = []
    for caller in asyncio.as_completed(callers, timeout=60):
        worker = await caller
        served.append(worker)
        pool.release(worker)
    assert len(served) == 6
    assert pool.stats().warm <= 6
