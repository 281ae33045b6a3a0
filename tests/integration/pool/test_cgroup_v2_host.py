"""cgroup v2 on this host's real kernel: which version the probe picks here, and the parts of
the v2 code that need no controller (joining through cgroup.procs, killing a tree with
cgroup.kill or the fallback loop, rmdir after, the stale sweep, the leaf move) on a real
cgroup2 mount. Hybrid hosts bind memory, pids and cpu to v1, so the controller files
themselves are tested against a fake tree (tests/unit/pool/test_cgroups_v2.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas.pool.cgroups import ProcCgroup, kill_listed, process_alive, write_interface
from faas.pool.cgroups_v2 import (
    CgroupV2Layout,
    kill_cgroup,
    own_cgroup_dir,
    remove_cgroup,
    shared_reason,
    sweep_stale,
    wait_until_empty,
)
from faas.pool.launcher import runtime_dir
from faas.pool.sandbox import layers, probe_host

ROOT = Path(__file__).resolve().parents[3]
DEAD_PID = 2**22 + 1  # above any pid_max: its platform is gone
MOUNTINFO = Path("/proc/self/mountinfo")


def proc_cgroup() -> str:
    return Path("/proc/self/cgroup").read_text()


# -- which version this host gets --------------------------------------------------------


def v1_memory_writable() -> str:
    """'' when /sys/fs/cgroup/memory is a v1 hierarchy with a writable own cgroup, else why."""
    mounts = [line.split(" - ") for line in MOUNTINFO.read_text().splitlines()]
    if not any(
        left.split()[4] == "/sys/fs/cgroup/memory" and right.startswith("cgroup ")
        for left, right in (m for m in mounts if len(m) == 2)
    ):
        return "/sys/fs/cgroup/memory is not a cgroup v1 hierarchy on this host"
    own = ProcCgroup.parse(proc_cgroup()).v1.get("memory", "/")
    base = Path("/sys/fs/cgroup/memory") / own.lstrip("/")
    if not os.access(base, os.W_OK):
        return f"{base} is not writable by this user"
    return ""


def test_a_hybrid_host_with_writable_v1_uses_v1() -> None:
    why = v1_memory_writable()
    if why:
        pytest.skip(why)
    host = probe_host(sys.executable, runtime_dir() / "python")
    assert host.cgroup_version == 1, host.cgroup_why
    memory = next(layer for layer in layers(host) if layer.name == "memory")
    assert memory.active and memory.detail.startswith("cgroup v1 memory limit")
    # Its unified hierarchy, on its own, is refused for the right reason.
    layout, v2_why = CgroupV2Layout.detect(proc_cgroup(), MOUNTINFO.read_text())
    controllers = own_v2_controllers()
    if controllers is not None and "memory" not in controllers:
        assert layout is None
        assert "has no memory" in v2_why and v2_why.endswith("(bound to cgroup v1)"), v2_why


def own_v2_controllers() -> set[str] | None:
    own = own_v2()
    if isinstance(own, str):
        return None
    return set((own / "cgroup.controllers").read_text().split())


# -- a real cgroup2 mount ------------------------------------------------------------------


def own_v2() -> Path | str:
    """This process's own v2 cgroup directory, or why there is none to use."""
    path = ProcCgroup.parse(proc_cgroup()).v2
    if path is None:
        return "this host has no cgroup v2 hierarchy"
    own = own_cgroup_dir(path, MOUNTINFO.read_text(), os.getpid())
    if own is None:
        return f"no cgroup2 filesystem is mounted over {path}"
    if not os.access(own, os.W_OK):
        return f"the cgroup2 directory {own} is not writable by this user"
    return own


@contextlib.contextmanager
def scratch_cgroup(own: Path) -> Iterator[Path]:
    """A cgroup of this test's own under `own`; everything in or below it dies with it."""
    directory = own / f"v2test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    try:
        yield directory
    finally:
        for cgroup in sorted(directory.rglob("cgroup.procs"), key=lambda p: -len(p.parts)):
            kill_cgroup(cgroup.parent)
            wait_until_empty(cgroup.parent)
            remove_cgroup(cgroup.parent)


@pytest.fixture
def scratch() -> Iterator[Path]:
    own = own_v2()
    if isinstance(own, str):
        pytest.skip(own)
    with scratch_cgroup(own) as directory:
        if not (directory / "cgroup.kill").exists():
            pytest.skip("this kernel has no cgroup.kill (before 5.14)")
        yield directory


def members(cgroup: Path) -> set[int]:
    return {int(p) for p in (cgroup / "cgroup.procs").read_text().split()}


# A worker as the zygote forks it: it joins its cgroup with the runtime's own code, then
# starts a daemon that leaves its session (the process group kill would miss it).
JOIN_AND_DAEMONIZE = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, sys.argv[2])
    from sandbox import join_cgroups
    join_cgroups([sys.argv[1]])
    if os.fork() == 0:
        os.setsid()
        print(os.getpid(), flush=True)  # only now is it out of the worker's session
        time.sleep(60)
        os._exit(0)
    time.sleep(60)
    """
)


def start_worker(cgroup: Path) -> tuple[subprocess.Popen[str], int]:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            JOIN_AND_DAEMONIZE,
            str(cgroup / "cgroup.procs"),
            str(runtime_dir() / "python"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    daemon = int(worker.stdout.readline())
    return worker, daemon


def stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


def gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for whoever adopted it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in {"Z", "X"}


@pytest.mark.parametrize("how", ["cgroup.kill", "loop over cgroup.procs"])
def test_a_joined_worker_and_its_setsid_daemon_die_together(scratch: Path, how: str) -> None:
    cgroup = scratch / "w1"
    cgroup.mkdir()
    worker, daemon = start_worker(cgroup)
    try:
        assert members(cgroup) == {worker.pid, daemon}
        assert os.getsid(daemon) == daemon  # out of the worker's session
        if how == "cgroup.kill":
            assert kill_cgroup(cgroup) == 2
        else:  # kernels before 5.14; it signals again whatever is still listed while dying
            assert kill_listed(cgroup / "cgroup.procs") >= 2
        assert worker.wait(timeout=10) == -signal.SIGKILL
        assert wait_until_empty(cgroup, timeout_s=10)
        assert gone(daemon)
        assert remove_cgroup(cgroup)
        assert not cgroup.exists()
    finally:
        stop(worker)


def test_remove_refuses_while_a_process_is_inside(scratch: Path) -> None:
    cgroup = scratch / "w1"
    cgroup.mkdir()
    worker, _ = start_worker(cgroup)
    try:
        assert not remove_cgroup(cgroup)
        assert cgroup.is_dir()
    finally:
        kill_cgroup(cgroup)
        stop(worker)


@pytest.mark.parametrize("how", ["cgroup.kill", "loop over cgroup.procs"])
def test_a_frozen_worker_and_its_daemon_still_die(scratch: Path, how: str) -> None:
    """What the pool relies on when it stops an idle (frozen) worker on v2: SIGKILL ends
    frozen tasks without a thaw (v1 needs one: cgroups_v1)."""
    cgroup = scratch / "w1"
    cgroup.mkdir()
    if not (cgroup / "cgroup.freeze").exists():
        pytest.skip("this kernel has no cgroup.freeze (before 5.2)")
    worker, daemon = start_worker(cgroup)
    try:
        write_interface(cgroup / "cgroup.freeze", "1")
        if how == "cgroup.kill":
            kill_cgroup(cgroup)
        else:
            kill_listed(cgroup / "cgroup.procs")
        assert worker.wait(timeout=10) == -signal.SIGKILL
        assert wait_until_empty(cgroup, timeout_s=10)
        assert gone(daemon)
        assert remove_cgroup(cgroup)
    finally:
        stop(worker)


def sleeper_in(cgroup: Path) -> subprocess.Popen[bytes]:
    sleeper = subprocess.Popen(["sleep", "60"])
    (cgroup / "cgroup.procs").write_text(str(sleeper.pid))
    return sleeper


def test_the_stale_sweep_on_a_real_mount(scratch: Path) -> None:
    assert not process_alive(DEAD_PID)
    stale = scratch / f"faas-{DEAD_PID}"
    (stale / "w1").mkdir(parents=True)
    left_behind = sleeper_in(stale / "w1")  # a daemon a function left running
    (scratch / f"faas-{DEAD_PID}-platform").mkdir()
    busy_leaf = scratch / f"faas-{DEAD_PID + 1}-platform"
    busy_leaf.mkdir()
    not_a_function = sleeper_in(busy_leaf)
    ours = scratch / f"faas-{os.getpid()}"
    (ours / "w1").mkdir(parents=True)
    try:
        sweep_stale(scratch)
        assert left_behind.wait(timeout=10) == -signal.SIGKILL
        assert not stale.exists()
        assert not (scratch / f"faas-{DEAD_PID}-platform").exists()
        assert busy_leaf.is_dir() and not_a_function.poll() is None
        assert (ours / "w1").is_dir()
    finally:
        for process in (left_behind, not_a_function):
            stop(process)


# -- the leaf move, with whatever controller the real hierarchy has -----------------------

PLATFORM = textwrap.dedent(
    """
    import os, subprocess, sys
    from pathlib import Path
    from faas.pool.cgroups import CgroupSetupFailed
    from faas.pool.cgroups_v2 import delegate_controllers
    sys.stdin.readline()  # moved into the cgroup under test
    helper = subprocess.Popen(["sleep", "60"])  # a child of the platform, there too
    print(helper.pid, flush=True)
    sys.stdin.readline()
    try:
        delegate_controllers(Path(sys.argv[1]), os.getpid(), [sys.argv[2]])
        print("handed on", flush=True)
    except CgroupSetupFailed as failed:
        print(failed.reason, flush=True)
    sys.stdin.readline()
    """
)


@pytest.fixture
def handing_on() -> Iterator[tuple[Path, str]]:
    """A scratch cgroup that has a controller it could hand on (the root cgroup lends one
    for the test when none is handed down yet)."""
    own = own_v2()
    if isinstance(own, str):
        pytest.skip(own)
    enabled = set((own / "cgroup.subtree_control").read_text().split())
    available = sorted(set((own / "cgroup.controllers").read_text().split()) - {"cpuset"})
    lent = ""
    if not enabled:
        if (own / "cgroup.type").exists() or not available:
            pytest.skip(f"{own} hands no controller on, and cannot for this test")
        lent = available[0]
        (own / "cgroup.subtree_control").write_text(f"+{lent}")
    try:
        with scratch_cgroup(own) as directory:
            controller = sorted((directory / "cgroup.controllers").read_text().split())[0]
            yield directory, controller
    finally:
        if lent:
            (own / "cgroup.subtree_control").write_text(f"-{lent}")


@pytest.mark.parametrize("stranger", [False, True], ids=["alone", "with a stranger"])
def test_the_leaf_move_on_a_real_kernel(handing_on: tuple[Path, str], stranger: bool) -> None:
    cgroup, controller = handing_on
    platform = subprocess.Popen(
        [sys.executable, "-c", PLATFORM, str(cgroup), controller],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert platform.stdin is not None and platform.stdout is not None
    others: list[subprocess.Popen[bytes]] = []
    try:
        (cgroup / "cgroup.procs").write_text(str(platform.pid))
        platform.stdin.write("\n")
        platform.stdin.flush()
        helper = int(platform.stdout.readline())
        if stranger:
            others.append(sleeper_in(cgroup))
        platform.stdin.write("\n")
        platform.stdin.flush()
        answer = platform.stdout.readline().strip()
        leaf = cgroup / f"faas-{platform.pid}-platform"
        if stranger:
            assert answer == shared_reason(cgroup)
            assert members(cgroup) == {platform.pid, helper, others[0].pid}
            assert not leaf.exists()
            assert (cgroup / "cgroup.subtree_control").read_text().split() == []
        else:
            assert answer == "handed on"
            assert members(cgroup) == set()
            assert members(leaf) == {platform.pid, helper}
            assert (cgroup / "cgroup.subtree_control").read_text().split() == [controller]
    finally:
        kill_cgroup(cgroup)
        for process in [platform, *others]:
            stop(process)
