"""What a faas server holds on this host, taken before and after a fault, to show nothing
leaked: its file descriptors and memory, and every kind of thing its workers' teardown
removes (processes of the functions' uids, worker cgroups, /tmp images with their mounts and
loop devices, network namespaces).

Thresholds, and why:
- file descriptors within +16: the server keeps a few more once warm (a database connection
  per thread, the zygote's control socket after a restart, a client's kept-alive sockets),
  never one per invocation or per killed worker; a leak under a few hundred faults shows as
  dozens to hundreds.
- RSS within +30 MB: allocator arenas and caches settle after the first few thousand
  requests (earlier measurements: 60 -> 66 MB over 420,000 invocations); a leak per
  invocation of even 10 KB over a few thousand calls, or one buffer per dead worker, shows
  above it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

FD_SLACK = 16
RSS_SLACK = 30 * 1024 * 1024
CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")
# Uids functions of a fault test's server get (sandbox.first_uid): far from the suite's
# default range, so other servers running on this host at the same time are never counted.
UID_SPAN = 100


def uid_base(seed: int) -> int:
    return 700_000 + (seed % 2000) * UID_SPAN


@dataclass(frozen=True)
class Footprint:
    fds: int
    rss: int
    uid_processes: frozenset[int]  # alive (not zombie) processes of the functions' uids
    worker_cgroups: frozenset[str]  # w<n> directories below faas-<pid>, every hierarchy
    mounts: frozenset[str]  # mount points under the data dir, in the server's namespace
    loop_images: frozenset[str]  # backing files under the data dir of attached loop devices
    images: frozenset[str]  # /tmp images in <data_dir>/scratch
    namespaces: frozenset[str]  # the server's named network namespaces


def footprint(pid: int, data_dir: Path, first_uid: int) -> Footprint:
    server = psutil.Process(pid)
    return Footprint(
        fds=server.num_fds(),
        rss=server.memory_info().rss,
        uid_processes=frozenset(processes_of_uids(first_uid, first_uid + UID_SPAN)),
        worker_cgroups=frozenset(worker_cgroups(pid)),
        mounts=frozenset(mounts_under(pid, data_dir)),
        loop_images=frozenset(loop_images_under(data_dir)),
        images=frozenset(str(p) for p in (data_dir / "scratch").glob("*.img")),
        namespaces=frozenset(network_namespaces(pid)),
    )


def processes_of_uids(low: int, high: int) -> list[int]:
    found = []
    for process in psutil.process_iter(["uids", "status"]):
        uids = process.info["uids"]
        if uids is None or process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if low <= uids.real < high:
            found.append(process.pid)
    return found


def worker_cgroups(pid: int) -> list[str]:
    """Every `faas-<pid>/w<n>` directory, in whichever hierarchies (v1 controllers, the v2
    tree) this host has; a host without cgroups has none to leak."""
    found: list[str] = []
    for parent in platform_cgroups(pid):
        found += [str(child) for child in parent.iterdir() if child.is_dir()]
    return found


def platform_cgroups(pid: int) -> list[Path]:
    if not CGROUP_ROOT.is_dir():
        return []
    name = f"faas-{pid}"
    found: list[Path] = []
    for directory, subdirectories, _ in os.walk(CGROUP_ROOT):
        # Never descend into workers' or other servers' trees: the walk stays small.
        if Path(directory).name.startswith("faas-"):
            subdirectories.clear()
            continue
        found += [Path(directory) / sub for sub in subdirectories if sub == name]
        if directory.count("/") > 6:
            subdirectories.clear()
    return found


def mounts_under(pid: int, data_dir: Path) -> list[str]:
    """The server has a mount namespace of its own (as root): its /tmp images are mounted
    there, so its mountinfo is the one to read (gone once it exits, with its mounts)."""
    prefix = str(data_dir) + "/"
    try:
        lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [line.split()[4] for line in lines if line.split()[4].startswith(prefix)]


def loop_images_under(data_dir: Path) -> list[str]:
    """Backing files of loop devices (losetup -a); none where losetup is missing."""
    if shutil.which("losetup") is None:
        return []
    listing = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=False)
    prefix = f"({data_dir}/"
    found = []
    for line in listing.stdout.splitlines():
        start = line.find(prefix)
        if start >= 0:
            found.append(line[start + 1 :].split(")")[0].removesuffix(" (deleted)"))
    return found


def network_namespaces(pid: int) -> list[str]:
    """The server's named namespaces (`fs<pid in hex>n<n>`, faas/pool/network.py). The
    suite's servers leave the host's network alone (tests/helpers/server.py clean_env), so
    there are none here unless the network layer is turned on."""
    if not NETNS_DIR.is_dir():
        return []
    prefix = f"fs{pid:x}n"
    return [entry.name for entry in NETNS_DIR.iterdir() if entry.name.startswith(prefix)]


def growth_problems(before: Footprint, after: Footprint) -> list[str]:
    """The server's own resources, against the thresholds above."""
    problems = []
    if after.fds > before.fds + FD_SLACK:
        problems.append(f"file descriptors {before.fds} -> {after.fds}")
    if after.rss > before.rss + RSS_SLACK:
        problems.append(f"RSS {before.rss // 2**20} -> {after.rss // 2**20} MB")
    return problems


def teardown_problems(now: Footprint, live_workers: frozenset[int]) -> list[str]:
    """What a running server holds beyond its live workers: a process of a function's uid
    that is not a worker (an escaped daemon, a worker's child), a worker cgroup without a
    worker, a /tmp image without its mount, a loop device without its image's mount."""
    problems = []
    strays = now.uid_processes - live_workers
    if strays:
        problems.append(f"processes of the functions' uids that are no worker: {sorted(strays)}")
    if len(now.worker_cgroups) > len(live_workers) * max(1, _hierarchies(now)):
        problems.append(f"{len(now.worker_cgroups)} worker cgroups for {len(live_workers)} workers")
    mounted_images = {f"{mount}.img" for mount in now.mounts}
    if unmounted := now.images - mounted_images:
        problems.append(f"/tmp images not mounted: {sorted(unmounted)}")
    if orphan_loops := set(now.loop_images) - mounted_images:
        problems.append(f"loop devices of no mounted image: {sorted(orphan_loops)}")
    return problems


def _hierarchies(now: Footprint) -> int:
    return len({str(Path(cgroup).parent) for cgroup in now.worker_cgroups})


def gone_problems(pid: int, data_dir: Path, first_uid: int) -> list[str]:
    """After the server stopped: nothing of it may be left on the host."""
    left = footprint_after_exit(pid, data_dir, first_uid)
    return [f"{what} left: {sorted(items)}" for what, items in left.items() if items]


def footprint_after_exit(pid: int, data_dir: Path, first_uid: int) -> dict[str, list[str]]:
    return {
        "processes": [str(p) for p in processes_of_uids(first_uid, first_uid + UID_SPAN)],
        "cgroups": [str(p) for p in platform_cgroups(pid)],
        "loop devices": loop_images_under(data_dir),
        "/tmp images": [str(p) for p in (data_dir / "scratch").glob("slot-*")],
        "network namespaces": network_namespaces(pid),
    }


def settle(check: Callable[[], list[str]], timeout_s: float) -> list[str]:
    """Poll `check` until it finds no problem or the time is up; its last findings."""
    deadline = time.monotonic() + timeout_s
    problems = check()
    while problems and time.monotonic() < deadline:
        time.sleep(0.1)
        problems = check()
    return problems
