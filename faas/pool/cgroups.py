"""Per-worker control groups: the interface the sandbox uses, whichever cgroup version is
active, and what both versions share.

Two implementations sit behind it: `cgroups_v1` (separate memory, pids and cpu hierarchies,
as on hybrid hosts) and `cgroups_v2` (the one unified hierarchy of pure-v2 hosts). Both lay
out `faas-<pid>/w<n>` per worker under the platform's own cgroup, and in both the worker
joins its cgroup itself (it writes its pid to each `cgroup.procs` right after the fork,
before any user code runs), so every process it starts is inside too. Which one is used is
decided once at startup (`faas.pool.sandbox.detect_cgroups`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpu")
MB = 1024 * 1024
# Lambda gives one full vCPU at 1769 MB; a CPU share is scaled from that.
FULL_CPU_MEMORY_MB = 1769
PIDS_MAX = 1024  # Lambda's limit on processes/threads per execution environment
# How long a release waits for the processes it killed to be gone before it leaves the
# cgroup for the next worker's creation to remove: SIGKILLed processes exit within
# milliseconds, but a worker whose zygote died is reported gone before it has exited.
RELEASE_WAIT_S = 1.0
RELEASE_POLL_S = 0.01


class WorkerCgroup(Protocol):
    """One worker's cgroup(s), owned by the platform; the worker joins them itself."""

    @property
    def procs_files(self) -> list[str]:
        """The `cgroup.procs` files the worker writes its pid to, right after the fork."""
        ...

    def limit_memory(self, memory_mb: int) -> None:
        """Memory limit (no swap) and a CPU share proportional to it, as on Lambda."""
        ...

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer has killed anything in it."""
        ...

    def kill_all(self) -> int:
        """SIGKILL every process in it (daemons that left the worker's session too), frozen
        or not."""
        ...

    def remove(self) -> bool:
        """Delete it; False while processes remain (try again later)."""
        ...

    @property
    def freezable(self) -> bool:
        """Whether freeze() and thaw() work here (a freezer of this cgroup version)."""
        ...

    def freeze(self) -> None:
        """Stop every process in it until thaw(): one small write (the kernel finishes the
        freeze on its own, asynchronously). Raises OSError."""
        ...

    def thaw(self) -> None:
        """Let its processes run again. Raises OSError."""
        ...


class CgroupManager(Protocol):
    """Creates and removes the per-worker cgroups of one platform process."""

    def setup(self) -> None:
        """Blocking, once at startup. Raises CgroupSetupFailed (or OSError) when cgroups
        cannot be used after all; the caller then runs without them."""
        ...

    def create(self) -> WorkerCgroup:
        """A new worker cgroup with the process limit; memory comes with limit_memory()."""
        ...

    def release(self, cgroup: WorkerCgroup) -> None:
        """Kill what is left in it and remove it (now, or on a later call)."""
        ...

    def teardown(self) -> None: ...

    @property
    def freezer_why(self) -> str:
        """'' when its worker cgroups can be frozen (as set up), else why not."""
        ...


class CgroupLayout(Protocol):
    """Where this platform may create cgroups, as found by a read-only probe."""

    @property
    def version(self) -> int: ...

    @property
    def freezer_why(self) -> str:
        """'' when worker cgroups can be frozen, else why not."""
        ...

    def manager(self) -> CgroupManager: ...


class WorkerNumbers:
    """The numbers of new worker cgroups (w<n>) and the cgroups that could not be removed
    yet, for one manager. Thread-safe: create() and release() run in worker threads at once
    (spares, snapshot clones, cold starts), and two workers must never get the same number
    (releasing one would kill the other), nor a leftover be lost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._leftovers: list[WorkerCgroup] = []

    def next(self) -> int:
        """A number never handed out before; leftovers that can go now are removed first."""
        with self._lock:
            self._leftovers = [c for c in self._leftovers if not c.remove()]
            self._last += 1
            return self._last

    def release(self, cgroup: WorkerCgroup) -> None:
        """Kill what is left in the cgroup and remove it, waiting a moment for the killed
        processes to exit; a cgroup still busy after that is kept and removed later."""
        cgroup.kill_all()
        deadline = time.monotonic() + RELEASE_WAIT_S
        while not cgroup.remove():
            if time.monotonic() > deadline:
                self.keep(cgroup)
                return
            time.sleep(RELEASE_POLL_S)

    def keep(self, cgroup: WorkerCgroup) -> None:
        """A released cgroup whose processes have not all exited: removed later."""
        with self._lock:
            self._leftovers.append(cgroup)

    def take_leftovers(self) -> list[WorkerCgroup]:
        with self._lock:
            leftovers, self._leftovers = self._leftovers, []
            return leftovers


class CgroupSetupFailed(Exception):
    """The probe found usable cgroups but setting them up failed; `reason` is one phrase
    for `faas doctor` and /health. Never leaves the pool: the planner falls back to running
    without cgroups, so it is not a FaasError."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProcCgroup:
    """A process's /proc/<pid>/cgroup: its v1 path per controller and its v2 path."""

    v1: dict[str, str]  # controller -> path in that controller's hierarchy
    v2: str | None  # the `0::` line's path, when the unified hierarchy exists

    @classmethod
    def parse(cls, text: str) -> ProcCgroup:
        v1: dict[str, str] = {}
        v2: str | None = None
        for line in text.splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            if parts[0] == "0" and not parts[1]:
                v2 = parts[2]
            elif parts[1]:
                for controller in parts[1].split(","):
                    v1[controller] = parts[2]
        return cls(v1, v2)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_listed(procs: Path, rounds: int = 10) -> int:
    """SIGKILL every pid a `cgroup.procs` lists, until it lists none (the fallback where a
    kernel has no atomic `cgroup.kill`), in at most `rounds` looks; the number of signals
    sent."""
    killed = 0
    for _ in range(rounds):  # a process may fork while we kill: look again
        try:
            pids = [int(p) for p in procs.read_text().split()]
        except OSError:
            return killed
        if not pids:
            return killed
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


def rmdir_when_empty(directory: Path, timeout_s: float = RELEASE_WAIT_S) -> bool:
    """rmdir a cgroup whose processes were just killed: they leave it only once exited, so
    try again for up to `timeout_s`. False if it is still busy then."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            directory.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(RELEASE_POLL_S)
        else:
            return True


def write_interface(path: Path, value: str) -> None:
    """Write one value to a cgroup interface file: one write(2), which the kernel parses on
    its own, and no O_CREAT, so a file the kernel does not offer is an error (ENOENT), never
    a new file."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def keyed_value(text: str, key: str) -> int:
    """The number after `key` in a flat keyed file (`memory.events`, `memory.oom_control`)."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def stale_owner(name: str, suffix: str = "") -> int | None:
    """The pid in `faas-<pid><suffix>` when that platform process is gone, else None."""
    owner = name.removeprefix("faas-")
    if suffix:
        if not owner.endswith(suffix):
            return None
        owner = owner.removesuffix(suffix)
    if not owner.isdigit() or process_alive(int(owner)):
        return None
    return int(owner)
