"""The values a real worker's cgroup v1 files hold, read from the host: the memory limit is
MemorySize with no swap on top, the process limit is 1024 and the CPU share is one CPU's
1024 at 1769 MB, for each way a worker starts (forked on demand, a spare handed its function,
a snapshot clone moved into its own cgroup).

The worker is found where the kernel says it is (/proc/<worker pid>/cgroup), so a limit
written to the wrong cgroup, or a worker that never joined its own, fails here too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from faas.config import PoolSettings, SandboxSettings
from faas.domain import WorkerSpec
from faas.pool.launcher import ZygoteLauncher, runtime_dir
from faas.pool.manager import PoolManager
from faas.pool.sandbox import HostSandbox, SandboxPlanner, probe_host
from tests.integration.pool.test_pool_manager import make_spec

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
V1_ROOT = Path("/sys/fs/cgroup")
MB = 1024 * 1024
PIDS_MAX = "1024"  # Lambda's limit on processes and threads per execution environment
# MemorySize -> cpu.shares: 1024 (one CPU) at 1769 MB, in proportion, rounded down, at least 2.
CPU_SHARES = {128: "74", 512: "296", 1769: "1024", 3008: "1741"}
PID = """
    import os
    def handler(event, context):
        return os.getpid()
"""


@pytest.fixture(scope="module")
def host() -> HostSandbox:
    found = probe_host(sys.executable, runtime_dir() / "python")
    if found.cgroup_version != 1:
        why = found.cgroup_why or f"this host's cgroups are driven through v{found.cgroup_version}"
        pytest.skip(f"no cgroup v1 memory, pids and cpu controllers to check here: {why}")
    return found


@pytest.fixture(params=["forked", "spare", "snapshot clone"])
def start(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def pool(
    host: HostSandbox, start: str, tmp_path: Path
) -> AsyncIterator[tuple[PoolManager, ZygoteLauncher]]:
    planner = SandboxPlanner(
        host, SandboxSettings(prepared_tmp_slots=0, network_layer="off"), tmp_path / "data"
    )
    await asyncio.to_thread(planner.setup)
    launcher = ZygoteLauncher({RUNTIME: sys.executable}, planner, spares=int(start == "spare"))
    # A budget of its own: a 3008 MB worker must not depend on this host's RAM.
    manager = PoolManager(PoolSettings(memory_budget_mb=64 * 1024), launcher)
    manager.start()
    yield manager, launcher
    await manager.stop()
    await asyncio.to_thread(planner.teardown)


def cgroup_dirs(pid: int) -> dict[str, Path]:
    """controller -> the directory of the process's cgroup, as /proc/<pid>/cgroup names it."""
    dirs = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            if controller in ("memory", "pids", "cpu"):
                dirs[controller] = V1_ROOT / controller / path.lstrip("/")
    return dirs


def read(directory: Path, name: str) -> str:
    return (directory / name).read_text().strip()


def limits_of(pid: int) -> dict[str, str]:
    dirs = cgroup_dirs(pid)
    # Its own cgroup, w<n> under this platform's faas-<pid>, the same one in each hierarchy.
    assert {d.name for d in dirs.values()} == {dirs["memory"].name}, dirs
    assert all(d.parent.name == f"faas-{os.getpid()}" for d in dirs.values()), dirs
    memory, pids, cpu = dirs["memory"], dirs["pids"], dirs["cpu"]
    values = {
        "memory.limit_in_bytes": read(memory, "memory.limit_in_bytes"),
        "memory.swappiness": read(memory, "memory.swappiness"),
        "pids.max": read(pids, "pids.max"),
        "cpu.shares": read(cpu, "cpu.shares"),
    }
    if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting is on
        values["memory.memsw.limit_in_bytes"] = read(memory, "memory.memsw.limit_in_bytes")
    return values


def expected_limits(memory_mb: int, with_memsw: bool) -> dict[str, str]:
    values = {
        "memory.limit_in_bytes": str(memory_mb * MB),
        "memory.swappiness": "0",
        "pids.max": PIDS_MAX,
        "cpu.shares": CPU_SHARES[memory_mb],
    }
    if with_memsw:  # memory plus swap: the same figure, so no swap on top of MemorySize
        values["memory.memsw.limit_in_bytes"] = str(memory_mb * MB)
    return values


async def spares_waiting(launcher: ZygoteLauncher, besides: set[int]) -> set[int]:
    """The zygote's children other than `besides`: spares forked ahead, already in their
    cgroups (one, or two while a replacement is on its way)."""
    await launcher.prestart(RUNTIME)
    for _ in range(250):
        zygote = launcher.zygote_pid(RUNTIME)
        children = psutil.Process(zygote).children() if zygote is not None else []
        waiting = {c.pid for c in children if c.pid not in besides}
        if waiting:
            return waiting
        await asyncio.sleep(0.02)
    raise AssertionError("no spare worker was forked")


async def start_worker(
    manager: PoolManager, launcher: ZygoteLauncher, spec: WorkerSpec, start: str, seen: set[int]
) -> tuple[int, bool]:
    """A running worker of `spec`, started the way `start` says: (its pid, whether it was a
    spare forked ahead)."""
    spares = await spares_waiting(launcher, seen) if start == "spare" else set()
    if start == "snapshot clone":
        spec = dataclasses.replace(spec, snap_start=True)
    worker = await manager.acquire(spec)
    try:
        result = await worker.invoke("r", b"{}", spec.function_arn, None)
    finally:
        manager.release(worker)
    assert result.error_type is None, result.payload
    assert json.loads(result.payload) == worker.pid  # the process that runs the handler
    return worker.pid, worker.pid in spares


async def test_each_workers_cgroup_holds_its_memory_size_1024_pids_and_its_cpu_share(
    pool: tuple[PoolManager, ZygoteLauncher], start: str, tmp_path: Path
) -> None:
    manager, launcher = pool
    with_memsw = (V1_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists()
    seen: set[int] = set()
    from_spares = []
    # Keyed by (MemorySize, file): a wrong value shows as exactly that pair.
    written: dict[tuple[int, str], str] = {}
    expected: dict[tuple[int, str], str] = {}
    for memory_mb in CPU_SHARES:
        spec = dataclasses.replace(
            make_spec(tmp_path / f"code-{memory_mb}", PID, key=f"fn-{memory_mb}:1"),
            function_name=f"fn-{memory_mb}",
            memory_mb=memory_mb,
        )
        pid, from_spare = await start_worker(manager, launcher, spec, start, seen)
        seen.add(pid)
        from_spares.append(from_spare)
        written.update({(memory_mb, f): v for f, v in limits_of(pid).items()})
        expected.update(
            {(memory_mb, f): v for f, v in expected_limits(memory_mb, with_memsw).items()}
        )
    assert written == expected
    if start == "spare":
        # A spare seen in the zygote may not be handed out yet; one of four surely is.
        assert any(from_spares), "every worker was forked on demand, none was a spare"
