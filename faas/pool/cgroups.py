"""Per-worker control groups (cgroup v1, as on hybrid hosts): memory limit and peak, process
limit, CPU share, and killing a worker's whole tree.

Layout: under the platform's own cgroup in each controller, `faas-<pid>/w<n>` per worker.
The worker joins them itself (it writes its pid to each `cgroup.procs` right after the fork,
before any user code runs), so every process it starts is inside too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpu")
MB = 1024 * 1024
# Lambda gives one full vCPU at 1769 MB; cpu.shares default (1024) stands for one CPU.
FULL_CPU_MEMORY_MB = 1769
PIDS_MAX = 1024  # Lambda's limit on processes/threads per execution environment


@dataclass(frozen=True, slots=True)
class CgroupV1Layout:
    """Where this platform may create child cgroups, per controller."""

    bases: dict[str, Path]  # controller -> the platform's own cgroup directory

    @classmethod
    def detect(
        cls, proc_cgroup: str, root: Path = CGROUP_ROOT
    ) -> tuple[CgroupV1Layout | None, str]:
        """(layout, "") when memory, pids and cpu v1 controllers are writable, else (None, why)."""
        own = _v1_paths(proc_cgroup)
        bases: dict[str, Path] = {}
        for controller in CONTROLLERS:
            if controller not in own:
                return None, f"no cgroup v1 '{controller}' controller"
            base = root / controller / own[controller].lstrip("/")
            if not (base / "cgroup.procs").exists():
                return None, f"{base} is not a cgroup directory"
            if not os.access(base, os.W_OK):
                return None, f"{base} is not writable (not root, or no delegation)"
            bases[controller] = base
        return cls(bases), ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _v1_paths(proc_cgroup: str) -> dict[str, str]:
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[1]:
            for controller in parts[1].split(","):
                paths[controller] = parts[2]
    return paths


class WorkerCgroup:
    """One worker's cgroups. Memory readings keep their files open: they run per invocation."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self._oom_fd = os.open(dirs["memory"] / "memory.oom_control", os.O_RDONLY)

    def limit_memory(self, memory_mb: int) -> None:
        """Memory limit (no swap) and a CPU share proportional to it, as on Lambda."""
        limit = str(memory_mb * MB)
        memory = self.dirs["memory"]
        # Lowering from "unlimited": limit_in_bytes first, memsw (which must be >=) second.
        (memory / "memory.limit_in_bytes").write_text(limit)
        with contextlib.suppress(OSError):  # absent when swap accounting is off
            (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        shares = max(2, 1024 * memory_mb // FULL_CPU_MEMORY_MB)
        (self.dirs["cpu"] / "cpu.shares").write_text(str(shares))

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    @property
    def peak_file(self) -> str:
        """Reset (write 0) and read per invocation by the worker itself, off the loop."""
        return str(self.dirs["memory"] / "memory.max_usage_in_bytes")

    def oom_killed(self) -> bool:
        try:
            text = os.pread(self._oom_fd, 256, 0).decode()
        except OSError:
            return False
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value) > 0
        return False

    def kill_all(self) -> int:
        """SIGKILL every process in the worker's cgroup (daemons that left its session too)."""
        return self.kill_procs(self.dirs["pids"] / "cgroup.procs")

    @staticmethod
    def kill_procs(procs: Path) -> int:
        killed = 0
        for _ in range(10):  # a process may fork while we kill: look again
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

    def remove(self) -> bool:
        """Delete the cgroups; False while processes remain (try again later)."""
        with contextlib.suppress(OSError):
            os.close(self._oom_fd)
        self._oom_fd = -1
        done = True
        for directory in self.dirs.values():
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                done = False
        return done


class CgroupV1Manager:
    """Creates and removes the per-worker cgroups of one platform process."""

    def __init__(self, layout: CgroupV1Layout) -> None:
        self._parents = {c: b / f"faas-{os.getpid()}" for c, b in layout.bases.items()}
        self._next = 0
        self._leftovers: list[WorkerCgroup] = []

    def setup(self) -> None:
        self._sweep_stale()
        for parent in self._parents.values():
            parent.mkdir(exist_ok=True)
        memory = self._parents["memory"]
        # Children must count toward their own limits (v1: hierarchy must be on).
        with contextlib.suppress(OSError):
            (memory / "memory.use_hierarchy").write_text("1")

    def create(self) -> WorkerCgroup:
        """A new worker cgroup with the process limit; memory comes with limit_memory()."""
        self._sweep_leftovers()
        self._next += 1
        dirs = {c: p / f"w{self._next}" for c, p in self._parents.items()}
        for directory in dirs.values():
            directory.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            (dirs["memory"] / "memory.swappiness").write_text("0")
        (dirs["pids"] / "pids.max").write_text(str(PIDS_MAX))
        return WorkerCgroup(dirs)

    def release(self, cgroup: WorkerCgroup) -> None:
        cgroup.kill_all()
        if not cgroup.remove():
            self._leftovers.append(cgroup)

    def teardown(self) -> None:
        for cgroup in self._leftovers:
            cgroup.kill_all()
            cgroup.remove()
        self._leftovers.clear()
        for parent in self._parents.values():
            for child in parent.glob("w*"):
                with contextlib.suppress(OSError):
                    child.rmdir()
            with contextlib.suppress(OSError):
                parent.rmdir()

    def _sweep_stale(self) -> None:
        """Cgroups of a platform process that is gone (killed with SIGKILL): whatever its
        functions left running there is killed, then the cgroups are removed."""
        for parent in self._parents.values():
            for stale in parent.parent.glob("faas-*"):
                owner = stale.name.removeprefix("faas-")
                if not owner.isdigit() or _alive(int(owner)):
                    continue
                for child in stale.glob("w*"):
                    WorkerCgroup.kill_procs(child / "cgroup.procs")
                    with contextlib.suppress(OSError):
                        child.rmdir()
                with contextlib.suppress(OSError):
                    stale.rmdir()

    def _sweep_leftovers(self) -> None:
        self._leftovers = [c for c in self._leftovers if not c.remove()]
