"""The unprivileged sandbox really enforces memory, the deadline and the /tmp cap.

Without root there is no memory cgroup, no per-function uid and no ext4 /tmp: memory is an
address-space limit plus RSS polling, /tmp is a size-capped tmpfs in a user+mount namespace
(or a TMPDIR directory with RLIMIT_FSIZE and polling). These tests run the real zygote as the
unprivileged user `nobody` (so they need root to switch to it) and drive the pool directly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from faas.config import PoolSettings, SandboxSettings
from faas.domain import Mount, WorkerSpec
from faas.pool.launcher import ZygoteLauncher, runtime_dir
from faas.pool.manager import PoolManager
from faas.pool.sandbox import HostSandbox, SandboxPlanner, layers, proc_view_reason

NOBODY = 65534
SYSTEM_PYTHON = Path("/usr/bin/python3")
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
MB = 1024 * 1024
WORLD_READABLE_DIR = 0o755
WORLD_READABLE_FILE = 0o644
# Standard world-writable directories that are not the worker's /tmp.
OUTSIDE_TMP = ("/var/tmp", "/dev/shm")


def why_skip() -> str:
    if os.geteuid() != 0:
        return "needs root to start the zygote as the unprivileged user nobody"
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} is missing (nobody cannot run the virtualenv's interpreter)"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    return ""


pytestmark = pytest.mark.skipif(bool(why_skip()), reason=why_skip() or "runnable")


def world_readable_dir(parent: str | None) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="faas-degraded-", dir=parent))
    directory.chmod(WORLD_READABLE_DIR)
    return directory


@pytest.fixture(scope="module")
def world_dir() -> Iterator[Path]:
    """A directory nobody can read: the wrapper, the function code and the data dir live here.

    Not under /tmp, which the worker replaces with its own (code kept under /tmp has a test
    of its own: test_code_kept_under_tmp_stays_visible)."""
    parent = next((p for p in OUTSIDE_TMP if os.access(p, os.W_OK | os.X_OK)), None)
    if parent is None:
        pytest.skip(f"none of {OUTSIDE_TMP} is writable")
    directory = world_readable_dir(parent)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def as_nobody(world_dir: Path) -> str:
    """An 'interpreter' that is the system Python running as nobody."""
    wrapper = world_dir / "python-as-nobody"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "
        f'{SYSTEM_PYTHON} "$@"\n'
    )
    wrapper.chmod(WORLD_READABLE_DIR)
    return str(wrapper)


@pytest.fixture(scope="module")
def host(as_nobody: str) -> HostSandbox:
    """What the sandbox can do for nobody, probed as nobody (as `faas serve` would)."""
    script = runtime_dir() / "python" / "sandbox.py"
    completed = subprocess.run(
        [as_nobody, "-I", "-S", str(script), "--probe"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    probe: dict[str, Any] = json.loads(completed.stdout)
    assert probe["root"] is False
    return HostSandbox(
        root=False,
        cgroup=None,
        cgroup_why="unprivileged",
        mount_namespace_why=str(probe["mount_namespace"]),
        net_namespace_why=str(probe["net_namespace"]),
        landlock_abi=int(probe["landlock_abi"]),
        seccomp=bool(probe["seccomp"]),
        scratch_why="unprivileged",
        proc_view_why=proc_view_reason(False, probe),
    )


# Workers forked for their function, and spares forked ahead that build part of their
# sandbox (the Landlock ruleset of the system paths) before they know the function.
@pytest.fixture(params=[0, 2], ids=["forked", "spares"])
async def manager(
    request: pytest.FixtureRequest, host: HostSandbox, as_nobody: str, world_dir: Path
) -> AsyncIterator[PoolManager]:
    data_dir = world_dir / f"data-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir(mode=WORLD_READABLE_DIR)
    planner = SandboxPlanner(host, SandboxSettings(network_layer="off"), data_dir)
    planner.setup()
    pool = PoolManager(
        PoolSettings(idle_ttl_s=60, reap_interval_s=60, init_timeout_s=10, max_log_bytes=4096),
        ZygoteLauncher({RUNTIME: as_nobody}, planner, spares=int(request.param)),
    )
    pool.start()
    try:
        yield pool
    finally:
        await pool.stop()
        planner.teardown()


def make_spec(
    parent: Path, source: str, *, memory_mb: int = 128, timeout_s: int = 10
) -> WorkerSpec:
    """A function whose code nobody can read."""
    name = f"fn-{uuid.uuid4().hex[:8]}"
    code_dir = parent / name
    code_dir.mkdir(mode=WORLD_READABLE_DIR)
    app = code_dir / "app.py"
    app.write_text(textwrap.dedent(source))
    app.chmod(WORLD_READABLE_FILE)
    return WorkerSpec(
        key=f"{name}:1",
        function_name=name,
        version="$LATEST",
        runtime=RUNTIME,
        handler="app.handler",
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        ephemeral_storage_mb=512,
        environment={},
        code_dir=str(code_dir),
        function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        region="us-east-1",
    )


async def call(manager: PoolManager, spec: WorkerSpec, event: object = None) -> dict[str, Any]:
    worker = await manager.acquire(spec)
    try:
        result = await worker.invoke(
            uuid.uuid4().hex, json.dumps(event or {}).encode(), spec.function_arn, None
        )
    finally:
        manager.release(worker)
    return {
        "error": result.error_type,
        "body": json.loads(result.payload),
        "pid": worker.pid,
        "max_memory_mb": result.max_memory_bytes / MB,
    }


def test_layers_of_the_unprivileged_mode(host: HostSandbox) -> None:
    table = layers(host)
    print("\nlayers as nobody:")
    for layer in table:
        print(f"  {layer.name:18} {'active' if layer.active else 'INACTIVE':8} {layer.detail}")
    active = {layer.name: layer.active for layer in table}
    assert not active["memory"] and not active["processes"] and not active["per-function uid"]
    assert not active["process view"]
    assert active["mount namespace"] == host.mount_namespace
    assert active["landlock"] == (host.landlock_abi > 0)
    assert active["seccomp"] == host.seccomp


WHO_AM_I = """
    import os

    def handler(event, context):
        with open("/proc/self/status") as status:
            seccomp = [line.split()[1] for line in status if line.startswith("Seccomp:")]
        return {"uid": os.getuid(), "euid": os.geteuid(), "seccomp": seccomp}
"""


PEEK = """
    def handler(event, context):
        try:
            with open(event["path"]) as secret:
                return {"read": secret.read()}
        except OSError as exc:
            return {"refused": exc.errno}
"""


async def test_landlock_keeps_a_function_out_of_files_nobody_may_read(
    manager: PoolManager, world_dir: Path, host: HostSandbox
) -> None:
    if host.landlock_abi == 0:
        pytest.skip("no Landlock in this kernel")
    secret = world_dir / f"platform-secret-{uuid.uuid4().hex[:8]}"
    secret.write_text("database password")
    secret.chmod(WORLD_READABLE_FILE)  # the uid alone would let nobody read it
    await call(manager, make_spec(world_dir, WHO_AM_I))  # with spares: the next one is forked
    await asyncio.sleep(0.5)  # (20 ms after a cold start took one)
    result = await call(manager, make_spec(world_dir, PEEK), {"path": str(secret)})
    assert result["error"] is None, result
    assert result["body"] == {"refused": errno.EACCES}


async def test_the_worker_runs_as_nobody(
    manager: PoolManager, world_dir: Path, host: HostSandbox
) -> None:
    result = await call(manager, make_spec(world_dir, WHO_AM_I))
    assert result["error"] is None, result
    assert (result["body"]["uid"], result["body"]["euid"]) == (NOBODY, NOBODY)
    if host.seccomp:
        assert result["body"]["seccomp"] == ["2"]


LIST_PROCESSES = """
    import os

    def handler(event, context):
        seen = {}
        for path in ("/proc", f"/proc/{os.getppid()}/status", "/proc/1/status"):
            try:
                seen[path] = len(os.listdir(path) if path == "/proc" else open(path).read())
            except OSError as exc:
                seen[path] = -exc.errno
        return seen
"""


async def test_landlock_keeps_a_function_from_listing_the_hosts_processes(
    manager: PoolManager, world_dir: Path, host: HostSandbox
) -> None:
    """Without root every process shares the platform's uid, so hidepid would hide nothing
    (the process view layer is off); Landlock leaves a worker only its own /proc entries."""
    if host.landlock_abi == 0:
        pytest.skip("no Landlock in this kernel")
    result = await call(manager, make_spec(world_dir, LIST_PROCESSES))
    assert result["error"] is None, result
    assert set(result["body"].values()) == {-errno.EACCES}, result["body"]


# The RSS poller stops the list (it grows slowly); the single huge allocation exceeds
# RLIMIT_AS at once and Python raises MemoryError inside the handler.
HOG = """
    import os

    def handler(event, context):
        if event.get("hog") == "list":
            hog = []
            while True:
                hog.append("x" * 1024 + str(len(hog)))
        if event.get("hog") == "bytearray":
            return len(bytearray(600 * 1024 * 1024))
        return os.getpid()
"""
HOG_KINDS = pytest.mark.parametrize("kind", ["list", "bytearray"])


@HOG_KINDS
async def test_a_memory_hog_runs_out_of_memory(
    manager: PoolManager, world_dir: Path, kind: str
) -> None:
    spec = make_spec(world_dir, HOG, memory_mb=128, timeout_s=30)
    hog = await call(manager, spec, {"hog": kind})
    assert hog["error"] == "Runtime.OutOfMemory", hog
    assert "128 MB" in hog["body"]["errorMessage"]


@HOG_KINDS
async def test_the_call_after_running_out_of_memory_gets_a_new_worker(
    manager: PoolManager, world_dir: Path, kind: str
) -> None:
    spec = make_spec(world_dir, HOG, memory_mb=128, timeout_s=30)
    first = await call(manager, spec)
    hog = await call(manager, spec, {"hog": kind})
    assert hog["error"] == "Runtime.OutOfMemory", hog
    after = await call(manager, spec)
    assert after["error"] is None, after
    assert after["body"] != first["body"]  # a fresh worker, not the one that ran out


MEASURED = """
    import os, subprocess, sys

    def resident_mb():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def handler(event, context):
        if event.get("allocate_mb"):
            block = b"\\xa5" * (event["allocate_mb"] << 20)
            del block
        if event.get("child_mb"):
            python = os.path.join(sys.base_prefix, "bin", "python3")
            touch = f"block = b'x' * ({event['child_mb']} << 20)"
            subprocess.run([python, "-c", touch], check=True)
        return {"resident_mb": resident_mb()}
"""


async def test_max_memory_used_is_the_workers_resident_memory(
    manager: PoolManager, world_dir: Path
) -> None:
    result = await call(manager, make_spec(world_dir, MEASURED))
    assert result["error"] is None, result
    resident = result["body"]["resident_mb"]
    assert result["max_memory_mb"] >= 8
    assert resident - 1 <= result["max_memory_mb"] <= resident + 8


async def test_max_memory_used_starts_over_with_each_invocation(
    manager: PoolManager, world_dir: Path
) -> None:
    # Landlock leaves /proc read-only: the worker resets its peak through a descriptor
    # opened before the sandbox closed in.
    spec = make_spec(world_dir, MEASURED, memory_mb=256)
    quiet = await call(manager, spec)
    busy = await call(manager, spec, {"allocate_mb": 60})
    quiet_again = await call(manager, spec)
    assert quiet["pid"] == busy["pid"] == quiet_again["pid"]
    assert busy["max_memory_mb"] >= quiet["max_memory_mb"] + 58
    assert quiet_again["max_memory_mb"] <= quiet["max_memory_mb"] + 2


async def test_max_memory_used_counts_a_child_process(
    manager: PoolManager, world_dir: Path
) -> None:
    spec = make_spec(world_dir, MEASURED, memory_mb=256)
    alone = await call(manager, spec)
    with_child = await call(manager, spec, {"child_mb": 40})
    assert with_child["error"] is None, with_child
    assert with_child["max_memory_mb"] >= alone["max_memory_mb"] + 40


SLEEPER = """
    import time

    def handler(event, context):
        time.sleep(10)
"""


async def test_the_deadline_is_enforced(manager: PoolManager, world_dir: Path) -> None:
    result = await call(manager, make_spec(world_dir, SLEEPER, timeout_s=1))
    assert result["error"] == "Sandbox.Timedout", result
    assert "Task timed out after 1.00 seconds" in result["body"]["errorMessage"]


TMP_FILLER = """
    import os, tempfile

    def handler(event, context):
        chunk = b"\\xa5" * (1024 * 1024)
        written = 0
        path = os.path.join(tempfile.gettempdir(), "fill")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:
                written += os.write(fd, chunk)
        except OSError as exc:
            return {"written": written, "errno": exc.errno, "dir": tempfile.gettempdir()}
        finally:
            os.close(fd)
"""


async def test_tmp_is_capped_at_ephemeral_storage(
    manager: PoolManager, world_dir: Path, host: HostSandbox
) -> None:
    if not host.mount_namespace:
        # The TMPDIR fallback is a directory of the platform's uid: root here, not nobody.
        pytest.skip("no user+mount namespace for nobody: /tmp would be a root-owned TMPDIR")
    result = await call(manager, make_spec(world_dir, TMP_FILLER, timeout_s=60))
    assert result["error"] is None, result
    body = result["body"]
    assert body["dir"] == "/tmp"
    assert body["errno"] in (errno.ENOSPC, errno.EFBIG), body
    assert 400 * MB < body["written"] <= 513 * MB, body


async def test_code_kept_under_tmp_stays_visible(manager: PoolManager, host: HostSandbox) -> None:
    if not host.mount_namespace:
        pytest.skip("without a mount namespace the worker shares the host's /tmp")
    parent = world_readable_dir(None)  # the system temp directory, as a data dir often is
    if not parent.resolve().is_relative_to("/tmp"):
        shutil.rmtree(parent, ignore_errors=True)
        pytest.skip("the system temp directory is not /tmp here")
    try:
        result = await call(manager, make_spec(parent, WHO_AM_I))
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    assert result["error"] is None, result
    assert result["body"]["uid"] == NOBODY


MOUNTED = """
    import os

    def attempt(step):
        try:
            return step()
        except OSError as exc:
            return -exc.errno

    def write(path):
        with open(path, "w") as opened:
            return opened.write("from the function")

    def handler(event, context):
        shelf, drop, sibling = event["shelf"], event["drop"], event["sibling"]
        return {
            "mnt": attempt(lambda: sorted(os.listdir("/mnt"))),
            "read": attempt(lambda: open(f"{shelf}/book").read()),
            "write_read_only": attempt(lambda: write(f"{shelf}/new")),
            "write": attempt(lambda: write(f"{drop}/note")),
            "rename": attempt(lambda: os.rename(f"{drop}/note", f"{drop}/kept")),
            "mkdir": attempt(lambda: os.mkdir(f"{drop}/dir")),
            "sibling": attempt(lambda: open(sibling).read()),
        }
"""


async def test_mounts_are_bound_in_the_user_namespace(
    manager: PoolManager, world_dir: Path, host: HostSandbox
) -> None:
    """Without root a worker binds its mounts in its user+mount namespace: a read-only one
    refuses writes, a writable one takes them (as the platform's uid: there is no uid of the
    function's own, nor a group to give it), and Landlock keeps the rest of the host out."""
    if not host.mount_namespace:
        pytest.skip(f"no user+mount namespace for nobody: {host.mount_namespace_why}")
    shelf = world_readable_dir(str(world_dir))
    (shelf / "book").write_text("a story")
    (shelf / "book").chmod(WORLD_READABLE_FILE)
    drop = world_readable_dir(str(world_dir))
    os.chown(drop, NOBODY, NOBODY)  # a writable bucket belongs to the platform's user here
    sibling = world_dir / f"sibling-{uuid.uuid4().hex[:8]}"
    sibling.write_text("not mounted")
    sibling.chmod(WORLD_READABLE_FILE)
    spec = dataclasses.replace(
        make_spec(world_dir, MOUNTED),
        mounts=(Mount(str(shelf), "/mnt/shelf"), Mount(str(drop), "/mnt/drop", writable=True)),
    )
    event = {"shelf": "/mnt/shelf", "drop": "/mnt/drop", "sibling": str(sibling)}
    result = await call(manager, spec, event)
    assert result["error"] is None, result
    body = result["body"]
    assert body["mnt"] == ["drop", "shelf"]  # a tmpfs of the worker's own, not the host's /mnt
    assert body["read"] == "a story"
    assert body["write_read_only"] in (-errno.EROFS, -errno.EACCES)
    assert body["write"] == len("from the function")
    assert body["rename"] is None and body["mkdir"] is None
    assert (drop / "kept").stat().st_uid == NOBODY and (drop / "dir").is_dir()
    assert not (shelf / "new").exists()
    if host.landlock_abi:
        assert body["sibling"] == -errno.EACCES
