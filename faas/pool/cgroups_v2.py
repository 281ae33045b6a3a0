"""Per-worker control groups on cgroup v2 (the one unified hierarchy of pure-v2 hosts).

Layout, under the platform's own cgroup <own> (its `0::` path in /proc/self/cgroup, below
the cgroup2 mount that /proc/self/mountinfo names):

    <own>/faas-<pid>-platform   the platform and its children, when they had to leave <own>
    <own>/faas-<pid>            hands memory, pids and cpu on to its children
    <own>/faas-<pid>/w<n>       one worker

v2 forbids "internal processes": a cgroup other than the root that holds processes cannot
enable controllers for its children. So unless <own> already hands memory, pids and cpu on
(its `cgroup.subtree_control` lists them) or is the root cgroup, setup first moves the
platform and its own children into the leaf `faas-<pid>-platform`, then enables the
controllers in <own>. When other processes share <own> that cannot work (the kernel answers
EBUSY): the move is undone and the platform runs without cgroups, saying why.

Per worker: `memory.max` = MemorySize, `memory.swap.max` = 0, `memory.oom.group` = 1 (an OOM
kill ends the whole worker, as Lambda ends the whole environment), `pids.max` = 1024 and a
`cpu.weight` proportional to memory. An idle worker is frozen through its `cgroup.freeze`
(a core file of every non-root cgroup since kernel 5.2; SIGKILL still ends frozen tasks).
The lifecycle functions (kill, remove, stale sweep, the leaf move) use only the core
`cgroup.*` files, so they work on any cgroup2 mount, with or without controllers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from faas.pool.cgroups import (
    CONTROLLERS,
    FULL_CPU_MEMORY_MB,
    MB,
    PIDS_MAX,
    CgroupSetupFailed,
    ProcCgroup,
    WorkerCgroup,
    WorkerNumbers,
    keyed_value,
    kill_listed,
    stale_owner,
    write_interface,
)

PROC = Path("/proc")
PLATFORM_LEAF = "-platform"  # suffix of the leaf that holds the platform: faas-<pid>-platform
# v2's default cpu.weight, 100, stands for one CPU (v1's cpu.shares 1024); its range:
CPU_WEIGHT_DEFAULT, CPU_WEIGHT_MIN, CPU_WEIGHT_MAX = 100, 1, 10000
# How long a sweep or teardown waits for killed processes to leave before removing a cgroup.
EMPTY_WAIT_S = 1.0
FREEZE = "cgroup.freeze"
NO_FREEZE = "this kernel has no cgroup.freeze (before 5.2)"


def cpu_weight(memory_mb: int) -> int:
    """One CPU's weight at 1769 MB, in proportion below and above, as Lambda sizes CPU."""
    weight = round(CPU_WEIGHT_DEFAULT * memory_mb / FULL_CPU_MEMORY_MB)
    return max(CPU_WEIGHT_MIN, min(CPU_WEIGHT_MAX, weight))


@dataclass(frozen=True, slots=True)
class CgroupV2Layout:
    """The platform's own v2 cgroup, found usable by a read-only probe."""

    own: Path
    delegated: bool  # its cgroup.subtree_control already lists memory, pids and cpu
    root_cgroup: bool  # the hierarchy's root: exempt from the no-internal-processes rule

    @property
    def version(self) -> int:
        return 2

    @property
    def freezer_why(self) -> str:
        """Read-only guess: the root cgroup has no cgroup.freeze, its children do (>= 5.2);
        the manager's setup checks on the cgroup it made."""
        if self.root_cgroup or (self.own / FREEZE).exists():
            return ""
        return NO_FREEZE

    def manager(self) -> CgroupV2Manager:
        return CgroupV2Manager(self)

    @classmethod
    def detect(cls, proc_cgroup: str, mountinfo: str) -> tuple[CgroupV2Layout | None, str]:
        """(layout, "") when the platform's own v2 cgroup offers memory, pids and cpu and
        can be written to, else (None, why)."""
        pid = os.getpid()
        parsed = ProcCgroup.parse(proc_cgroup)
        if parsed.v2 is None:
            return None, "no cgroup v2 hierarchy"
        own = own_cgroup_dir(parsed.v2, mountinfo, pid)
        if own is None:
            return None, f"no cgroup2 filesystem is mounted over faas's cgroup {parsed.v2}"
        root_cgroup = not (own / "cgroup.type").exists()  # every cgroup but the root has one
        why = _unusable(own, parsed, root_cgroup)
        if why:
            return None, why
        delegated = set(CONTROLLERS) <= _words(own / "cgroup.subtree_control")
        if not delegated and not root_cgroup and _strangers(own, pid):
            return None, shared_reason(own)
        return cls(own, delegated, root_cgroup), ""


def own_cgroup_dir(path: str, mountinfo: str, pid: int) -> Path | None:
    """Where cgroup `path` (relative to the cgroup namespace's root) is on a cgroup2 mount."""
    for mount_root, mount_point in cgroup2_mounts(mountinfo):
        try:
            relative = PurePosixPath(path).relative_to(mount_root)
        except ValueError:
            continue  # this mount shows another part of the hierarchy
        own = mount_point / relative
        if own.name == f"faas-{pid}{PLATFORM_LEAF}":
            return own.parent  # an earlier setup in this process moved it there
        return own
    return None


def cgroup2_mounts(mountinfo: str) -> list[tuple[str, Path]]:
    """(root within the hierarchy, mount point) of each cgroup2 mount, in mount order."""
    mounts = []
    for line in mountinfo.splitlines():
        fields, separator, filesystem = line.partition(" - ")
        parts = fields.split()
        if separator and filesystem.split()[:1] == ["cgroup2"] and len(parts) >= 5:
            mounts.append((_unescape(parts[3]), Path(_unescape(parts[4]))))
    return mounts


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _unusable(own: Path, parsed: ProcCgroup, root_cgroup: bool) -> str:
    if not (own / "cgroup.controllers").exists():
        return f"{own} is not a cgroup v2 directory"
    available = _words(own / "cgroup.controllers")
    missing = [c for c in CONTROLLERS if c not in available]
    if missing:
        names = f"{', '.join(missing[:-1])} or {missing[-1]}" if missing[1:] else missing[0]
        if all(c in parsed.v1 for c in missing):
            cause = " (bound to cgroup v1)"
        elif root_cgroup:
            cause = ""
        else:
            cause = " (its parent cgroup does not hand it on)"
        return f"cgroup v2 at {own} has no {names} controller{cause}"
    files = (own, own / "cgroup.procs", own / "cgroup.subtree_control")
    if not all(os.access(f, os.W_OK) for f in files):
        return (
            f"cgroup v2 at {own} is not writable (not root, and not a delegated subtree "
            "such as a systemd service with Delegate=yes)"
        )
    return ""


def shared_reason(own: Path) -> str:
    return (
        f"other processes share faas's cgroup {own}; run faas in a cgroup of its own, e.g. "
        "a systemd service with Delegate=yes or a container"
    )


def _words(path: Path) -> set[str]:
    try:
        return {word.lstrip("+") for word in path.read_text().split()}
    except OSError:
        return set()


def _listed(procs: Path) -> list[int]:
    try:
        return [int(p) for p in procs.read_text().split()]
    except (OSError, ValueError):
        return []


def _strangers(own: Path, pid: int) -> list[int]:
    """Processes in `own` that are neither the platform nor its descendants."""
    return [p for p in _listed(own / "cgroup.procs") if not _descends_from(p, pid)]


def _descends_from(candidate: int, ancestor: int) -> bool:
    for _ in range(256):  # the chain of parents ends at pid 1 (or 0 once a process is gone)
        if candidate == ancestor:
            return True
        if candidate <= 1:
            return False
        candidate = _parent_pid(candidate)
    return False


def _parent_pid(pid: int) -> int:
    try:
        text = (PROC / str(pid) / "stat").read_text()
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        return int(text.rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


# -- lifecycle: core cgroup.* files only, so it works with or without controllers ---------


def enable_controllers(directory: Path, controllers: Sequence[str]) -> None:
    write_interface(directory / "cgroup.subtree_control", " ".join(f"+{c}" for c in controllers))


def delegate_controllers(own: Path, pid: int, controllers: Sequence[str]) -> None:
    """Make `own` hand `controllers` on to its children. v2 allows that only while `own`
    holds no processes, so the platform (`pid`) and its children there move to the leaf
    `faas-<pid>-platform` first. On failure the move is undone where possible and
    CgroupSetupFailed says why."""
    family = _listed(own / "cgroup.procs")
    if any(not _descends_from(p, pid) for p in family):
        raise CgroupSetupFailed(shared_reason(own))
    leaf = own / f"faas-{pid}{PLATFORM_LEAF}"
    moved: list[int] = []
    try:
        if family:
            leaf.mkdir(exist_ok=True)
        for member in sorted(family, key=lambda p: p != pid):  # the platform first
            with contextlib.suppress(ProcessLookupError):  # a child that just ended
                write_interface(leaf / "cgroup.procs", str(member))
                moved.append(member)
        enable_controllers(own, controllers)
    except OSError as exc:
        for member in moved:
            with contextlib.suppress(OSError):
                write_interface(own / "cgroup.procs", str(member))
        remove_cgroup(leaf)
        raise CgroupSetupFailed(_enable_failure(own, controllers, exc)) from exc


def _enable_failure(directory: Path, controllers: Sequence[str], exc: OSError) -> str:
    if exc.errno == errno.EBUSY:
        return shared_reason(directory)
    names = ", ".join(controllers)
    return f"cannot enable {names} for the children of {directory}: {exc.strerror or exc}"


def kill_cgroup(directory: Path) -> int:
    """SIGKILL every process in the cgroup and below it; how many were in it. `cgroup.kill`
    (kernel >= 5.14) does it in one step that a forking process cannot outrun; older
    kernels get the loop over `cgroup.procs`."""
    procs = directory / "cgroup.procs"
    try:
        count = len(_listed(procs))
        write_interface(directory / "cgroup.kill", "1")
    except OSError:
        return kill_listed(procs)
    return count


def wait_until_empty(directory: Path, timeout_s: float = EMPTY_WAIT_S) -> bool:
    """Killed processes leave their cgroup only once they have exited: wait for that."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            events = (directory / "cgroup.events").read_text()
        except OSError:
            return True  # already gone
        if keyed_value(events, "populated") == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def remove_cgroup(directory: Path) -> bool:
    """rmdir; False while processes (or child cgroups) remain."""
    try:
        directory.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def child_cgroups(directory: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError):
        yield from (child for child in directory.glob("w*") if child.is_dir())


def sweep_stale(own: Path) -> None:
    """The cgroups of platform processes that are gone (killed with SIGKILL): whatever their
    functions left running is killed and the cgroups removed. A dead platform's own leaf is
    removed once empty; what still runs there is not a function's."""
    for stale in own.glob("faas-*"):
        if stale_owner(stale.name, PLATFORM_LEAF) is not None:
            remove_cgroup(stale)
        elif stale_owner(stale.name) is not None:
            remove_tree(stale)


def remove_tree(parent: Path) -> None:
    """Kill everything in `parent` and its worker cgroups, then remove them all."""
    children = list(child_cgroups(parent))
    for directory in [*children, parent]:
        kill_cgroup(directory)
    for directory in [*children, parent]:
        wait_until_empty(directory)
        remove_cgroup(directory)


# -- per worker --------------------------------------------------------------------------


def set_worker_limits(directory: Path) -> None:
    """What does not depend on the function: process limit, no swap, whole-worker OOM."""
    write_interface(directory / "pids.max", str(PIDS_MAX))
    write_interface(directory / "memory.oom.group", "1")
    with contextlib.suppress(FileNotFoundError):  # absent without swap accounting
        write_interface(directory / "memory.swap.max", "0")


class WorkerCgroupV2:
    """One worker's cgroup. `memory.events` stays open: it is read as every worker ends."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._events_fd = os.open(directory / "memory.events", os.O_RDONLY)
        self._freezable = (directory / FREEZE).exists()

    def limit_memory(self, memory_mb: int) -> None:
        write_interface(self.directory / "memory.max", str(memory_mb * MB))
        write_interface(self.directory / "cpu.weight", str(cpu_weight(memory_mb)))

    @property
    def procs_files(self) -> list[str]:
        return [str(self.directory / "cgroup.procs")]

    def oom_killed(self) -> bool:
        try:
            text = os.pread(self._events_fd, 512, 0).decode()
        except OSError:
            return False
        return keyed_value(text, "oom_kill") > 0

    def kill_all(self) -> int:
        return kill_cgroup(self.directory)

    def remove(self) -> bool:
        with contextlib.suppress(OSError):
            os.close(self._events_fd)
        self._events_fd = -1
        return remove_cgroup(self.directory)

    @property
    def freezable(self) -> bool:
        return self._freezable

    def freeze(self) -> None:
        # Not waiting for `frozen 1` in cgroup.events: nothing needs the freeze to be done.
        write_interface(self.directory / FREEZE, "1")

    def thaw(self) -> None:
        write_interface(self.directory / FREEZE, "0")


class CgroupV2Manager:
    """Creates and removes the per-worker cgroups of one platform process."""

    def __init__(self, layout: CgroupV2Layout) -> None:
        self._layout = layout
        self._pid = os.getpid()
        self._parent = layout.own / f"faas-{self._pid}"
        self._numbers = WorkerNumbers()

    @property
    def parent(self) -> Path:
        return self._parent

    @property
    def freezer_why(self) -> str:
        """After setup: whether the cgroup it made has a cgroup.freeze (its children do too)."""
        return "" if (self._parent / FREEZE).exists() else NO_FREEZE

    def setup(self) -> None:
        own = self._layout.own
        sweep_stale(own)
        if self._layout.root_cgroup and not self._layout.delegated:
            _enable_or_fail(own)
        elif not self._layout.delegated:
            delegate_controllers(own, self._pid, CONTROLLERS)
        try:
            self._parent.mkdir(exist_ok=True)
        except OSError as exc:
            raise CgroupSetupFailed(f"cannot create {self._parent}: {exc.strerror}") from exc
        try:
            _enable_or_fail(self._parent)
        except CgroupSetupFailed:
            remove_cgroup(self._parent)
            raise

    def create(self) -> WorkerCgroupV2:
        """A new worker cgroup with the process limit; memory comes with limit_memory()."""
        directory = self._parent / f"w{self._numbers.next()}"
        directory.mkdir(exist_ok=True)
        try:
            set_worker_limits(directory)
            return WorkerCgroupV2(directory)
        except BaseException:
            remove_cgroup(directory)
            raise

    def release(self, cgroup: WorkerCgroup) -> None:
        self._numbers.release(cgroup)

    def teardown(self) -> None:
        """Kill whatever is left below faas-<pid> and remove it. The platform's own leaf
        stays: the platform is still in it (the next start's sweep removes it)."""
        for cgroup in self._numbers.take_leftovers():
            cgroup.remove()  # closes its descriptor; the directory goes with the tree
        remove_tree(self._parent)


def _enable_or_fail(directory: Path) -> None:
    try:
        enable_controllers(directory, CONTROLLERS)
    except OSError as exc:
        raise CgroupSetupFailed(_enable_failure(directory, CONTROLLERS, exc)) from exc
