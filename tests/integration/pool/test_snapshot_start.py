"""Snapshot start and zygote recovery with real processes and the host's sandbox."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from faas.config import PoolSettings, SandboxSettings
from faas.domain import WorkerSpec
from faas.pool.launcher import ZygoteLauncher, runtime_dir
from faas.pool.manager import PoolManager
from faas.pool.process import LaunchedProcess
from faas.pool.sandbox import HostSandbox, SandboxPlanner, probe_host
from faas.pool.snapshot import TemplateDied, TemplateProcess, _Clone, send_clear_refs
from faas.pool.worker import InitFailed
from tests.integration.pool.test_pool_manager import make_spec

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"

SNAPSHOT_STATE = """
    import os, time
    STATE = {"init_pid": os.getpid(), "calls": 0, "items": []}

    def handler(event, context):
        STATE["calls"] += 1
        STATE["items"].append(event.get("item"))
        time.sleep(event.get("sleep", 0))
        return {"pid": os.getpid(), **STATE}
"""


@pytest.fixture(scope="module")
def host() -> HostSandbox:
    return probe_host(sys.executable, runtime_dir() / "python")


@pytest.fixture
async def pool_and_launcher(
    host: HostSandbox, tmp_path: Path
) -> AsyncIterator[tuple[PoolManager, ZygoteLauncher]]:
    planner = SandboxPlanner(
        host, SandboxSettings(prepared_tmp_slots=0, network_layer="off"), tmp_path / "data"
    )
    await asyncio.to_thread(planner.setup)
    launcher = ZygoteLauncher({RUNTIME: sys.executable}, planner, spares=1)
    pool = PoolManager(PoolSettings(), launcher)
    pool.start()
    yield pool, launcher
    await pool.stop()
    await asyncio.to_thread(planner.teardown)


async def call(pool: PoolManager, spec: WorkerSpec, event: dict[str, object]) -> dict:
    worker = await pool.acquire(spec)
    try:
        result = await worker.invoke("r", json.dumps(event).encode(), spec.function_arn, None)
    finally:
        pool.release(worker)
    assert result.error_type is None, result.payload
    return dict(json.loads(result.payload))


async def test_each_snapshot_worker_starts_from_init_and_sees_no_other_workers_changes(
    pool_and_launcher: tuple[PoolManager, ZygoteLauncher], tmp_path: Path
) -> None:
    pool, _ = pool_and_launcher
    spec = dataclasses.replace(make_spec(tmp_path / "code", SNAPSHOT_STATE), snap_start=True)
    results = await asyncio.gather(*(call(pool, spec, {"item": i, "sleep": 0.3}) for i in range(3)))
    pids = {r["pid"] for r in results}
    assert len(pids) == 3  # three workers, concurrently
    init_pids = {r["init_pid"] for r in results}
    assert len(init_pids) == 1  # init ran once, in the template...
    assert init_pids.isdisjoint(pids)  # ...which serves no invocation itself
    for i, result in enumerate(results):
        # Each worker got init's state and only its own later changes.
        assert result["calls"] == 1
        assert result["items"] == [i]


async def test_a_snapshot_init_failure_is_reported_like_any_init_failure(
    pool_and_launcher: tuple[PoolManager, ZygoteLauncher], tmp_path: Path
) -> None:
    pool, _ = pool_and_launcher
    spec = dataclasses.replace(
        make_spec(tmp_path / "code", "raise RuntimeError('no config')\n"), snap_start=True
    )
    with pytest.raises(InitFailed) as failed:
        await pool.acquire(spec)
    assert failed.value.failure.error_type == "RuntimeError"


async def test_retiring_a_snapshot_version_stops_its_template(
    pool_and_launcher: tuple[PoolManager, ZygoteLauncher], tmp_path: Path
) -> None:
    pool, _ = pool_and_launcher
    spec = dataclasses.replace(make_spec(tmp_path / "code", SNAPSHOT_STATE), snap_start=True)
    template_pid = (await call(pool, spec, {}))["init_pid"]
    assert psutil.pid_exists(template_pid)
    pool.retire(spec.key)
    for _ in range(50):
        if not psutil.pid_exists(template_pid):
            break
        await asyncio.sleep(0.05)
    assert not psutil.pid_exists(template_pid)


async def ready_clone_of(launcher: ZygoteLauncher, key: str, besides: set[int]) -> int:
    for _ in range(250):
        pid = launcher.ready_snapshot_clone(key)
        if pid is not None and pid not in besides:
            return pid
        await asyncio.sleep(0.02)
    raise AssertionError("no snapshot clone was made ready")


def memory_cgroup(pid: int) -> str:
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return next((line for line in lines if ":memory:" in line or line.startswith("0::")), "")


async def test_a_ready_clone_serves_the_next_new_worker_and_goes_with_its_version(
    pool_and_launcher: tuple[PoolManager, ZygoteLauncher], host: HostSandbox, tmp_path: Path
) -> None:
    pool, launcher = pool_and_launcher
    spec = dataclasses.replace(make_spec(tmp_path / "code", SNAPSHOT_STATE), snap_start=True)
    first = await pool.acquire(spec)  # starts the template; held, so the next needs a new one
    template_pid = psutil.Process(first.pid).ppid()
    ready = await ready_clone_of(launcher, spec.key, besides={first.pid})
    assert psutil.Process(ready).ppid() == template_pid  # forked before any request needed it
    second = await pool.acquire(spec)
    assert second.pid == ready
    if host.cgroup is not None:  # moved into a cgroup of its own before it was handed out
        assert memory_cgroup(second.pid) not in {memory_cgroup(template_pid), ""}
    result = await second.invoke("r", b'{"item": 7}', spec.function_arn, None)
    assert json.loads(result.payload)["items"] == [7]  # init's state, nothing else
    pool.release(first)
    pool.release(second)
    replacement = await ready_clone_of(launcher, spec.key, besides={first.pid, second.pid})
    pool.retire(spec.key)
    assert launcher.ready_snapshot_clone(spec.key) is None
    for _ in range(100):
        if not any(psutil.pid_exists(pid) for pid in (template_pid, replacement)):
            break
        await asyncio.sleep(0.05)
    assert not any(psutil.pid_exists(pid) for pid in (template_pid, replacement))


async def test_a_dead_zygote_is_restarted_and_requests_still_succeed(
    pool_and_launcher: tuple[PoolManager, ZygoteLauncher], tmp_path: Path
) -> None:
    pool, launcher = pool_and_launcher
    spec = make_spec(tmp_path / "code", SNAPSHOT_STATE)
    await call(pool, spec, {})
    zygote_pid = launcher.zygote_pid(RUNTIME)
    assert zygote_pid is not None
    os.kill(zygote_pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    # The warm worker died with its zygote; the next request gets a new zygote and worker.
    fresh = make_spec(tmp_path / "other", SNAPSHOT_STATE, key="other:1")
    result = await call(pool, fresh, {})
    assert result["calls"] == 1
    assert launcher.zygote_pid(RUNTIME) not in (None, zygote_pid)
    again = await call(pool, spec, {})
    assert again["calls"] == 1


FORGING_INIT = """
    import sys
    _bootstrap = sys.modules["_faas_bootstrap"]
    _send = _bootstrap.FrameChannel.send

    def forged(self, meta, body):
        if meta.get("t") == "cloned":
            meta = {**meta, "pid": VICTIM}
        return _send(self, meta, body)

    _bootstrap.FrameChannel.send = forged

    def handler(event, context):
        return "never"
"""


async def test_a_template_cannot_make_the_platform_adopt_or_kill_another_process(
    pool_and_launcher: tuple[PoolManager, ZygoteLauncher], tmp_path: Path
) -> None:
    pool, _ = pool_and_launcher
    victim = await asyncio.create_subprocess_exec("sleep", "30")
    try:
        source = FORGING_INIT.replace("VICTIM", str(victim.pid))
        spec = dataclasses.replace(make_spec(tmp_path / "code", source), snap_start=True)
        with pytest.raises(InitFailed) as refused:
            await pool.acquire(spec)
        assert "not its own child" in json.loads(refused.value.failure.document)["errorMessage"]
        await asyncio.sleep(0.2)
        assert victim.returncode is None  # still running, and still in its own cgroup
        with open(f"/proc/{victim.pid}/cgroup") as cgroups:
            assert "faas-" not in cgroups.read()
    finally:
        victim.kill()
        await victim.wait()


async def test_a_clone_or_template_already_reaped_is_never_signalled_by_pid() -> None:
    """Once its exit was reported its pid may belong to another process: a stand-in here."""
    loop = asyncio.get_running_loop()
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        exited: asyncio.Future[int] = loop.create_future()
        exited.set_result(0)
        ours, theirs = socket.socketpair()
        read_end, write_end = os.pipe()
        os.close(write_end)
        _Clone(stranger.pid, ours, read_end, exited, None).close()
        ours2, theirs2 = socket.socketpair()
        read_end2, write_end2 = os.pipe()
        os.close(write_end2)
        launched = LaunchedProcess(stranger.pid, ours2, read_end2, exited, "stream", 0)
        template = TemplateProcess(launched, reply_timeout_s=1.0)
        template.stop()
        with pytest.raises(TemplateDied):
            await template.wait_ready(1.0)
        await asyncio.sleep(0.1)
        assert stranger.poll() is None  # still running
        theirs.close()
        theirs2.close()
    finally:
        stranger.kill()
        stranger.wait()


OPEN_FILES = """
import os

def handler(event, context):
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return {"links": links}
"""


def needs_clear_refs() -> None:
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("this kernel has no /proc/<pid>/clear_refs")


async def test_a_snapshot_clone_holds_its_own_clear_refs_not_the_templates(
    pool_and_launcher: tuple[PoolManager, ZygoteLauncher], tmp_path: Path
) -> None:
    # The clone resets its memory high-water mark through it before each invocation; the
    # template's own, opened by its sandbox, must not reach the clone.
    needs_clear_refs()
    pool, _ = pool_and_launcher
    spec = dataclasses.replace(make_spec(tmp_path / "code", OPEN_FILES), snap_start=True)
    worker = await pool.acquire(spec)
    try:
        result = await worker.invoke("r", b"{}", spec.function_arn, None)
    finally:
        pool.release(worker)
    links = json.loads(result.payload)["links"]
    assert [link for link in links if link.endswith("/clear_refs")] == [
        f"/proc/{worker.pid}/clear_refs"
    ]


def test_a_clone_gets_no_clear_refs_of_a_process_that_is_not_the_templates_child() -> None:
    needs_clear_refs()
    stranger = subprocess.Popen(["sleep", "30"])
    ours, theirs = socket.socketpair()
    try:
        send_clear_refs(ours, stranger.pid, template_pid=os.getpid() + 1)
        data, fds, _flags, _addr = socket.recv_fds(theirs, 1, 1)
        assert (data, fds) == (b"m", [])
        send_clear_refs(ours, stranger.pid, template_pid=os.getpid())  # its real parent
        data, fds, _flags, _addr = socket.recv_fds(theirs, 1, 1)
        assert data == b"m"
        assert [os.readlink(f"/proc/self/fd/{fd}") for fd in fds] == [
            f"/proc/{stranger.pid}/clear_refs"
        ]
        for fd in fds:
            os.close(fd)
    finally:
        ours.close()
        theirs.close()
        stranger.kill()
        stranger.wait()
