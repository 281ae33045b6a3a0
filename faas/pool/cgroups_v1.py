"""Per-worker control groups on cgroup v1 (as on hybrid hosts): memory limit, process
limit, CPU share, freezing an idle worker, and killing a worker's whole tree.

Layout: under the platform's own cgroup in each of the memory, pids and cpu hierarchies
(`/sys/fs/cgroup/<controller>/<own path>/`), and in the freezer hierarchy when it is there
and writable, `faas-<pid>/w<n>` per worker.

A v1 frozen task does not die of SIGKILL until it is thawed: killing a worker cgroup that was
frozen signals, thaws, then kills what is left; the stale sweep thaws before it kills.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from faas.pool.cgroups import (
    CGROUP_ROOT,
    CONTROLLERS,
    FULL_CPU_MEMORY_MB,
    MB,
    PIDS_MAX,
    ProcCgroup,
    WorkerCgroup,
    WorkerNumbers,
    keyed_value,
    kill_listed,
    rmdir_when_empty,
    stale_owner,
    write_interface,
)

FREEZER = "freezer"  # optional: without it workers are never frozen
FREEZER_STATE = "freezer.state"


@dataclass(frozen=True, slots=True)
class CgroupV1Layout:
    """Where this platform may create child cgroups, per controller."""

    bases: dict[str, Path]  # controller -> the platform's own cgroup directory

    @property
    def version(self) -> int:
        return 1

    @property
    def freezer_why(self) -> str:
        return "" if FREEZER in self.bases else "no writable cgroup v1 freezer hierarchy"

    def manager(self) -> CgroupV1Manager:
        return CgroupV1Manager(self)

    @classmethod
    def detect(
        cls, proc_cgroup: str, root: Path = CGROUP_ROOT
    ) -> tuple[CgroupV1Layout | None, str]:
        """(layout, "") when memory, pids and cpu v1 controllers are writable, else (None, why)."""
        own = ProcCgroup.parse(proc_cgroup).v1
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
        if FREEZER in own:
            base = root / FREEZER / own[FREEZER].lstrip("/")
            if (base / "cgroup.procs").exists() and os.access(base, os.W_OK):
                bases[FREEZER] = base
        return cls(bases), ""


class WorkerCgroupV1:
    """One worker's cgroups. Memory readings keep their files open: they run per invocation."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self._oom_fd = os.open(dirs["memory"] / "memory.oom_control", os.O_RDONLY)
        self._frozen = False

    def limit_memory(self, memory_mb: int) -> None:
        """Memory limit (no swap) and a CPU share proportional to it, as on Lambda."""
        limit = str(memory_mb * MB)
        memory = self.dirs["memory"]
        # Lowering from "unlimited": limit_in_bytes first, memsw (which must be >=) second.
        (memory / "memory.limit_in_bytes").write_text(limit)
        with contextlib.suppress(OSError):  # absent when swap accounting is off
            (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        # cpu.shares' default, 1024, stands for one CPU.
        shares = max(2, 1024 * memory_mb // FULL_CPU_MEMORY_MB)
        (self.dirs["cpu"] / "cpu.shares").write_text(str(shares))

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def oom_killed(self) -> bool:
        try:
            text = os.pread(self._oom_fd, 256, 0).decode()
        except OSError:
            return False
        return keyed_value(text, "oom_kill") > 0

    def kill_all(self) -> int:
        """SIGKILL every process in the worker's cgroup (daemons that left its session too)."""
        procs = self.dirs["pids"] / "cgroup.procs"
        if not self._frozen:
            return kill_listed(procs)
        # Signalled while frozen, they die as they thaw, before running another instruction.
        signalled = kill_listed(procs, rounds=1)
        with contextlib.suppress(OSError):
            self.thaw()
        return signalled + kill_listed(procs)

    @property
    def freezable(self) -> bool:
        return FREEZER in self.dirs

    def freeze(self) -> None:
        write_interface(self.dirs[FREEZER] / FREEZER_STATE, "FROZEN")
        self._frozen = True

    def thaw(self) -> None:
        write_interface(self.dirs[FREEZER] / FREEZER_STATE, "THAWED")
        self._frozen = False

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
        self._layout = layout
        self._parents = {c: b / f"faas-{os.getpid()}" for c, b in layout.bases.items()}
        self._numbers = WorkerNumbers()

    @property
    def freezer_why(self) -> str:
        return self._layout.freezer_why

    def setup(self) -> None:
        self._sweep_stale()
        for parent in self._parents.values():
            parent.mkdir(exist_ok=True)
        memory = self._parents["memory"]
        # Children must count toward their own limits (v1: hierarchy must be on).
        with contextlib.suppress(OSError):
            (memory / "memory.use_hierarchy").write_text("1")

    def create(self) -> WorkerCgroupV1:
        """A new worker cgroup with the process limit; memory comes with limit_memory()."""
        number = self._numbers.next()
        dirs = {c: p / f"w{number}" for c, p in self._parents.items()}
        for directory in dirs.values():
            directory.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            (dirs["memory"] / "memory.swappiness").write_text("0")
        (dirs["pids"] / "pids.max").write_text(str(PIDS_MAX))
        return WorkerCgroupV1(dirs)

    def release(self, cgroup: WorkerCgroup) -> None:
        self._numbers.release(cgroup)

    def teardown(self) -> None:
        for cgroup in self._numbers.take_leftovers():
            cgroup.kill_all()
            cgroup.remove()
        for parent in self._parents.values():
            for child in parent.glob("w*"):
                with contextlib.suppress(OSError):
                    child.rmdir()
            with contextlib.suppress(OSError):
                parent.rmdir()

    def _sweep_stale(self) -> None:
        """Cgroups of a platform process that is gone (killed with SIGKILL): whatever its
        functions left running there is killed, then the cgroups are removed. Frozen workers
        are thawed first (they got their SIGKILL when the platform died, and die as they
        thaw), else nothing in them could end."""
        freezer = self._parents.get(FREEZER)
        if freezer is not None:
            for stale in freezer.parent.glob("faas-*"):
                if stale_owner(stale.name) is not None:
                    for child in stale.glob("w*"):
                        with contextlib.suppress(OSError):
                            write_interface(child / FREEZER_STATE, "THAWED")
        for parent in self._parents.values():
            for stale in parent.parent.glob("faas-*"):
                if stale_owner(stale.name) is None:
                    continue
                children = list(stale.glob("w*"))
                for child in children:
                    kill_listed(child / "cgroup.procs")
                for child in children:
                    rmdir_when_empty(child)
                rmdir_when_empty(stale)
