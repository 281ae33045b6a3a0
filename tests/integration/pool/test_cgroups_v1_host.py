"""cgroup v1 worker cgroups on this host's real hierarchies (hybrid hosts like ours)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas.pool.cgroups_v1 import CgroupV1Layout, CgroupV1Manager


@pytest.fixture
def manager() -> Iterator[CgroupV1Manager]:
    layout, why = CgroupV1Layout.detect(Path("/proc/self/cgroup").read_text())
    if layout is None:
        pytest.skip(f"no writable cgroup v1 memory, pids and cpu hierarchies here: {why}")
    made = CgroupV1Manager(layout)
    made.setup()
    yield made
    made.teardown()


def test_workers_created_from_many_threads_at_once_never_share_a_cgroup(
    manager: CgroupV1Manager,
) -> None:
    """Spares, snapshot clones and cold starts create cgroups from several threads at once;
    two workers given one cgroup would kill each other when either is released."""
    names: list[tuple[str, ...]] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:

        def create_many() -> None:
            for _ in range(100):
                cgroup = manager.create()
                names.append(tuple(sorted(d.name for d in cgroup.dirs.values())))
                manager.release(cgroup)

        threads = [threading.Thread(target=create_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert all(len(set(controllers)) == 1 for controllers in names)  # one w<n> in each
    assert len({controllers[0] for controllers in names}) == len(names) == 800


def test_a_frozen_worker_stops_running_and_still_dies_when_killed(
    manager: CgroupV1Manager,
) -> None:
    """A v1 frozen task ignores SIGKILL until thawed: kill_all() thaws after signalling."""
    if manager.freezer_why:
        pytest.skip(manager.freezer_why)
    cgroup = manager.create()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for procs in cgroup.procs_files:
            Path(procs).write_text(str(sleeper.pid))
        cgroup.freeze()
        state = (cgroup.dirs["freezer"] / "freezer.state").read_text().strip()
        assert state in ("FREEZING", "FROZEN")
        cgroup.kill_all()
        assert sleeper.wait(timeout=10) == -9
        cgroup.thaw()  # a no-op now; it must not fail
    finally:
        sleeper.kill()
        sleeper.wait()
        manager.release(cgroup)
