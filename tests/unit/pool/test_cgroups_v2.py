"""cgroup v2 against a fake cgroupfs tree (tests/unit/pool/fake_cgroupfs.py): detection and
its reasons, the setup (leaf move, controllers handed on, fallback), exactly what each worker
cgroup gets written, and teardown and the stale sweep. The kernel-facing parts that need no
controller run against a real cgroup2 mount in tests/integration/pool/test_cgroup_v2_kernel.py.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from faas.config import SandboxSettings
from faas.domain import MB
from faas.pool.cgroups import CgroupSetupFailed, process_alive
from faas.pool.cgroups_v2 import CgroupV2Layout, CgroupV2Manager, cpu_weight
from faas.pool.sandbox import HostSandbox, SandboxPlanner, detect_cgroups, layers
from tests.unit.pool.fake_cgroupfs import FakeCgroupFs

PID = os.getpid()
LEAF = f"faas-{PID}-platform"
# No process can have this pid (pid_max is at most 2**22), so its owner is "gone".
DEAD_PID = 2**22 + 1
# Listed in fake worker cgroups: if a bug made the code signal it, no process would get it.
PHANTOM = 2**22 + 2
SHARED = "other processes share faas's cgroup"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCgroupFs:
    return FakeCgroupFs(tmp_path / "cgroup", monkeypatch)


def detect(fake: FakeCgroupFs, own: str) -> tuple[CgroupV2Layout | None, str]:
    return CgroupV2Layout.detect(f"0::{own}\n", fake.mountinfo())


def usable(fake: FakeCgroupFs, own: str = "/svc") -> CgroupV2Layout:
    """A service cgroup that holds only this (platform) process, its parent handing on
    memory, pids and cpu: the usual systemd service with Delegate=yes."""
    fake.make("/", enable="+memory +pids +cpu")
    fake.make(own, procs=[PID])
    layout, why = detect(fake, own)
    assert layout is not None, why
    return layout


def set_up(fake: FakeCgroupFs) -> CgroupV2Manager:
    manager = CgroupV2Manager(usable(fake))
    manager.setup()
    return manager


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory_mb", "weight"),
    [(128, 7), (1769, 100), (3538, 200), (10240, 579), (1, 1), (10_000_000, 10000)],
)
def test_cpu_weight_is_one_cpu_at_1769_mb(memory_mb: int, weight: int) -> None:
    assert cpu_weight(memory_mb) == weight


# -- detection -------------------------------------------------------------------------


def test_detects_a_service_cgroup_that_needs_the_leaf_move(fake: FakeCgroupFs) -> None:
    layout = usable(fake)
    assert layout == CgroupV2Layout(fake.mount / "svc", delegated=False, root_cgroup=False)
    assert layout.version == 2


def test_detects_a_cgroup_that_already_hands_controllers_on(fake: FakeCgroupFs) -> None:
    fake.make("/", enable="+memory +pids +cpu")
    fake.make("/svc", enable="+memory +pids +cpu")
    layout, _ = detect(fake, "/svc")
    assert layout is not None and layout.delegated


def test_the_root_cgroup_needs_no_leaf_even_when_shared(fake: FakeCgroupFs) -> None:
    fake.place(fake.mount, [PID, 1])
    layout, why = detect(fake, "/")
    assert layout == CgroupV2Layout(fake.mount, delegated=False, root_cgroup=True), why


def test_a_mount_of_part_of_the_hierarchy_is_followed(fake: FakeCgroupFs) -> None:
    # As in a container: the mount shows /machine/ct at its mount point.
    fake.make("/", enable="+memory +pids +cpu")
    fake.make("/app", procs=[PID])
    layout, why = CgroupV2Layout.detect("0::/machine/ct/app\n", fake.mountinfo(root="/machine/ct"))
    assert layout is not None and layout.own == fake.mount / "app", why


def test_a_platform_already_in_its_leaf_uses_the_cgroup_above(fake: FakeCgroupFs) -> None:
    fake.make("/", enable="+memory +pids +cpu")
    fake.make("/svc", enable="+memory +pids +cpu")
    fake.make(f"/svc/{LEAF}", procs=[PID])
    layout, _ = detect(fake, f"/svc/{LEAF}")
    assert layout is not None and layout.own == fake.mount / "svc"


def test_reason_when_the_parent_does_not_hand_memory_on(fake: FakeCgroupFs) -> None:
    fake.make("/", enable="+pids +cpu")
    fake.make("/svc", procs=[PID])
    assert detect(fake, "/svc") == (
        None,
        f"cgroup v2 at {fake.mount / 'svc'} has no memory controller "
        "(its parent cgroup does not hand it on)",
    )


def test_reason_on_a_hybrid_host_names_cgroup_v1(fake: FakeCgroupFs, tmp_path: Path) -> None:
    (fake.mount / "cgroup.controllers").write_text("hugetlb")  # the rest is bound to v1
    proc_cgroup = "4:memory:/\n8:pids:/\n1:cpu,cpuacct:/\n0::/\n"
    layout, why = CgroupV2Layout.detect(proc_cgroup, fake.mountinfo())
    assert layout is None
    assert why == (
        f"cgroup v2 at {fake.mount} has no memory, pids or cpu controller (bound to cgroup v1)"
    )
    # The same host without writable v1 hierarchies: the v1 reason is the one shown.
    assert detect_cgroups(proc_cgroup, fake.mountinfo(), v1_root=tmp_path / "no-v1") == (
        None,
        f"{tmp_path / 'no-v1' / 'memory'} is not a cgroup directory",
    )


def test_reason_when_not_writable(fake: FakeCgroupFs) -> None:
    fake.make("/", enable="+memory +pids +cpu")
    fake.make("/svc", procs=[PID])
    fake.unprivileged = True
    layout, why = detect(fake, "/svc")
    assert layout is None
    assert why.startswith(f"cgroup v2 at {fake.mount / 'svc'} is not writable")
    # A delegated subtree: the directory and its cgroup.procs/subtree_control are ours.
    for path in (fake.mount / "svc", *(fake.mount / "svc").glob("cgroup.[ps]*")):
        path.chmod(path.stat().st_mode | 0o002)
    layout, why = detect(fake, "/svc")
    assert layout is not None, why


def test_reason_when_other_processes_share_the_cgroup(fake: FakeCgroupFs) -> None:
    assert PID != 1
    fake.make("/", enable="+memory +pids +cpu")
    fake.make("/svc", procs=[PID, 1])  # pid 1 is no descendant of this process
    assert detect(fake, "/svc") == (
        None,
        f"{SHARED} {fake.mount / 'svc'}; run faas in a cgroup of its own, e.g. a systemd "
        "service with Delegate=yes or a container",
    )


def test_reason_without_cgroup_v2(fake: FakeCgroupFs) -> None:
    assert CgroupV2Layout.detect("4:memory:/\n", fake.mountinfo()) == (
        None,
        "no cgroup v2 hierarchy",
    )
    assert CgroupV2Layout.detect("0::/svc\n", "") == (
        None,
        "no cgroup2 filesystem is mounted over faas's cgroup /svc",
    )


def make_v1(root: Path, own: str) -> None:
    for controller in ("memory", "pids", "cpu"):
        base = root / controller / own.lstrip("/")
        base.mkdir(parents=True)
        (base / "cgroup.procs").write_text("")


def test_v1_is_preferred_when_both_are_usable(fake: FakeCgroupFs, tmp_path: Path) -> None:
    usable(fake)
    make_v1(tmp_path / "v1", "/svc")
    proc_cgroup = "4:memory:/svc\n8:pids:/svc\n1:cpu,cpuacct:/svc\n0::/svc\n"
    layout, why = detect_cgroups(proc_cgroup, fake.mountinfo(), v1_root=tmp_path / "v1")
    assert layout is not None and layout.version == 1, why
    # Without v1 the same host uses v2.
    layout, why = detect_cgroups("0::/svc\n", fake.mountinfo(), v1_root=tmp_path / "v1")
    assert layout is not None and layout.version == 2, why


# -- setup -----------------------------------------------------------------------------


def test_setup_moves_the_platform_into_a_leaf_first(fake: FakeCgroupFs) -> None:
    manager = set_up(fake)
    own = fake.mount / "svc"
    assert fake.moves == [(PID, own / LEAF)]
    assert fake.procs(own) == [] and fake.procs(own / LEAF) == [PID]
    assert fake.enabled(own) == {"memory", "pids", "cpu"}
    assert manager.parent == own / f"faas-{PID}"
    assert fake.enabled(manager.parent) == {"memory", "pids", "cpu"}


def test_setup_again_in_the_same_process_is_harmless(fake: FakeCgroupFs) -> None:
    layout = usable(fake)
    CgroupV2Manager(layout).setup()
    CgroupV2Manager(layout).setup()
    assert fake.procs(fake.mount / "svc" / LEAF) == [PID]


def test_setup_where_controllers_are_handed_on_already(fake: FakeCgroupFs) -> None:
    fake.make("/", enable="+memory +pids +cpu")
    fake.make("/svc", enable="+memory +pids +cpu")
    fake.make("/svc/other", procs=[PID])
    layout, _ = detect(fake, "/svc")
    assert layout is not None
    CgroupV2Manager(layout).setup()
    assert fake.moves == [] and not (fake.mount / "svc" / LEAF).exists()
    assert fake.enabled(fake.mount / "svc" / f"faas-{PID}") == {"memory", "pids", "cpu"}


def test_setup_in_the_root_cgroup_enables_without_moving(fake: FakeCgroupFs) -> None:
    fake.place(fake.mount, [PID, 1])
    layout, _ = detect(fake, "/")
    assert layout is not None
    CgroupV2Manager(layout).setup()
    assert fake.moves == [] and fake.procs(fake.mount) == [PID, 1]
    assert fake.enabled(fake.mount) == {"memory", "pids", "cpu"}


def test_setup_refuses_when_a_stranger_joined_since_the_probe(fake: FakeCgroupFs) -> None:
    layout = usable(fake)
    fake.place(layout.own, [1])
    with pytest.raises(CgroupSetupFailed, match=SHARED):
        CgroupV2Manager(layout).setup()
    assert fake.moves == [] and fake.enabled(layout.own) == set()
    assert sorted(fake.procs(layout.own)) == sorted([PID, 1])


def test_setup_undoes_the_move_when_the_kernel_says_busy(fake: FakeCgroupFs) -> None:
    layout = usable(fake)
    fake.fail_enable[layout.own] = errno.EBUSY  # a process forked into it meanwhile
    with pytest.raises(CgroupSetupFailed) as failed:
        CgroupV2Manager(layout).setup()
    assert failed.value.reason.startswith(f"{SHARED} {layout.own}; ")
    assert fake.moves == [(PID, layout.own / LEAF), (PID, layout.own)]
    assert fake.procs(layout.own) == [PID]
    assert not (layout.own / LEAF).exists()
    assert not (layout.own / f"faas-{PID}").exists()


def test_setup_reports_other_failures_by_their_error(fake: FakeCgroupFs) -> None:
    layout = usable(fake)
    fake.fail_enable[layout.own] = errno.EACCES
    with pytest.raises(CgroupSetupFailed) as failed:
        CgroupV2Manager(layout).setup()
    assert failed.value.reason == (
        f"cannot enable memory, pids, cpu for the children of {layout.own}: Permission denied"
    )
    assert fake.procs(layout.own) == [PID]


# -- the planner: what is reported is what is active ------------------------------------


def make_host(layout: CgroupV2Layout | None, why: str = "") -> HostSandbox:
    return HostSandbox(
        root=False,
        cgroup=layout,
        cgroup_why=why,
        mount_namespace_why="not probed",
        net_namespace_why="not probed",
        landlock_abi=0,
        seccomp=False,
        scratch_why="not probed",
    )


def test_planner_uses_v2_and_says_so(fake: FakeCgroupFs, tmp_path: Path) -> None:
    planner = SandboxPlanner(make_host(usable(fake)), SandboxSettings(), tmp_path / "data")
    planner.setup()
    assert planner.host.cgroup_version == 2
    table = {layer.name: layer for layer in layers(planner.host)}
    assert table["memory"].active and table["memory"].detail.startswith("cgroup v2 memory.max")
    assert table["processes"].active
    assert table["processes"].detail == "cgroup v2 pids.max + tree kill"
    prepared = planner.prepare_spare()
    worker = fake.mount / "svc" / f"faas-{PID}" / "w1"
    assert prepared.plan == {"cgroup_procs": [str(worker / "cgroup.procs")]}
    planner.release(prepared)
    planner.teardown()
    assert not (fake.mount / "svc" / f"faas-{PID}").exists()


def test_planner_falls_back_and_reports_why(fake: FakeCgroupFs, tmp_path: Path) -> None:
    layout = usable(fake)
    fake.place(layout.own, [1])
    planner = SandboxPlanner(make_host(layout), SandboxSettings(), tmp_path / "data")
    planner.setup()  # never raises: faas serve goes on without cgroups
    assert planner.host.cgroup is None and planner.host.cgroup_version == 0
    assert planner.host.cgroup_why.startswith(f"{SHARED} {layout.own}; ")
    memory = next(layer for layer in layers(planner.host) if layer.name == "memory")
    assert not memory.active
    assert memory.detail == f"RLIMIT_AS + RSS polling ({planner.host.cgroup_why})"
    prepared = planner.prepare_spare()
    assert prepared.cgroup is None and prepared.plan == {}


# -- per worker ------------------------------------------------------------------------


@pytest.mark.parametrize(("memory_mb", "weight"), [(128, "7"), (1769, "100"), (10240, "579")])
def test_what_a_worker_cgroup_gets(fake: FakeCgroupFs, memory_mb: int, weight: str) -> None:
    manager = set_up(fake)
    cgroup = manager.create()
    cgroup.limit_memory(memory_mb)
    directory = manager.parent / "w1"
    written = {
        name: (directory / name).read_text()
        for name in ("memory.max", "memory.swap.max", "memory.oom.group", "pids.max", "cpu.weight")
    }
    assert written == {
        "memory.max": str(memory_mb * MB),
        "memory.swap.max": "0",
        "memory.oom.group": "1",
        "pids.max": "1024",
        "cpu.weight": weight,
    }
    assert cgroup.procs_files == [str(directory / "cgroup.procs")]


def test_without_swap_accounting_swap_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCgroupFs(tmp_path / "cgroup", monkeypatch, swap=False)
    manager = set_up(fake)
    manager.create().limit_memory(128)
    assert not (manager.parent / "w1" / "memory.swap.max").exists()
    assert (manager.parent / "w1" / "memory.max").read_text() == str(128 * MB)


def test_oom_killed_reads_memory_events(fake: FakeCgroupFs) -> None:
    manager = set_up(fake)
    cgroup = manager.create()
    events = manager.parent / "w1" / "memory.events"
    assert not cgroup.oom_killed()
    events.write_text(events.read_text().replace("oom_kill 0", "oom_kill 1"))
    assert cgroup.oom_killed()
    assert cgroup.remove()
    assert not cgroup.oom_killed()  # its descriptor is closed with it


def test_kill_all_uses_cgroup_kill_then_the_cgroup_goes(fake: FakeCgroupFs) -> None:
    manager = set_up(fake)
    cgroup = manager.create()
    directory = manager.parent / "w1"
    fake.place(directory, [PHANTOM])  # the fake's cgroup.kill only takes it off the list
    assert cgroup.kill_all() == 1
    assert fake.kills == [directory] and fake.procs(directory) == []
    manager.release(cgroup)
    assert not directory.exists()


def test_remove_waits_while_processes_remain(fake: FakeCgroupFs) -> None:
    manager = set_up(fake)
    cgroup = manager.create()
    fake.place(manager.parent / "w1", [PHANTOM])
    assert not cgroup.remove()
    assert (manager.parent / "w1").is_dir()


def test_teardown_removes_every_worker_cgroup_but_keeps_the_leaf(fake: FakeCgroupFs) -> None:
    manager = set_up(fake)
    first = manager.create()
    manager.create()
    fake.place(manager.parent / "w2", [PHANTOM])  # a worker still running at shutdown
    manager.release(first)
    manager.teardown()
    assert fake.kills == [manager.parent / "w1", manager.parent / "w2", manager.parent]
    assert not manager.parent.exists()
    assert fake.procs(fake.mount / "svc" / LEAF) == [PID]


def test_setup_sweeps_what_dead_platforms_left(fake: FakeCgroupFs) -> None:
    assert not process_alive(DEAD_PID)
    # The dead platform had enabled the controllers; this one was started in another leaf.
    fake.make("/", enable="+memory +pids +cpu")
    fake.make("/svc", enable="+memory +pids +cpu")
    fake.make("/svc/launcher", procs=[PID])
    layout, _ = detect(fake, "/svc")
    assert layout is not None
    dead = fake.make(f"/svc/faas-{DEAD_PID}", enable="+memory +pids +cpu")
    fake.make(f"/svc/faas-{DEAD_PID}/w3", procs=[PHANTOM])  # a daemon a function left
    fake.make(f"/svc/faas-{DEAD_PID}-platform")
    fake.make(f"/svc/faas-{DEAD_PID + 1}-platform", procs=[PHANTOM])  # not empty
    alive = fake.make("/svc/faas-1")  # pid 1 is alive: not ours to touch
    unrelated = fake.make("/svc/faas-web")
    CgroupV2Manager(layout).setup()
    assert dead / "w3" in fake.kills
    assert not dead.exists()
    assert not (layout.own / f"faas-{DEAD_PID}-platform").exists()
    assert (layout.own / f"faas-{DEAD_PID + 1}-platform").is_dir()
    assert alive.is_dir() and unrelated.is_dir()


def test_setup_failure_in_faas_pid_is_reported(fake: FakeCgroupFs) -> None:
    layout = usable(fake)
    fake.fail_enable[layout.own / f"faas-{PID}"] = errno.ENOSPC
    with pytest.raises(CgroupSetupFailed, match="No space left on device"):
        CgroupV2Manager(layout).setup()
    assert not (layout.own / f"faas-{PID}").exists()


# -- freezing idle workers ---------------------------------------------------------------


def test_a_worker_is_frozen_and_thawed_through_cgroup_freeze(fake: FakeCgroupFs) -> None:
    manager = set_up(fake)
    assert manager.freezer_why == ""
    cgroup = manager.create()
    directory = manager.parent / "w1"
    assert cgroup.freezable
    cgroup.freeze()
    assert "frozen 1" in (directory / "cgroup.events").read_text()
    cgroup.thaw()
    assert fake.freezes == [(directory, "1"), (directory, "0")]
    assert "frozen 0" in (directory / "cgroup.events").read_text()


def test_a_kernel_without_cgroup_freeze_freezes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCgroupFs(tmp_path / "cgroup", monkeypatch, cgroup_freeze=False)
    manager = set_up(fake)
    assert manager.freezer_why == "this kernel has no cgroup.freeze (before 5.2)"
    assert not manager.create().freezable


@pytest.mark.parametrize(
    ("freeze_after_ms", "cgroup_freeze", "expected"),
    [
        (100, True, ""),
        (0, True, "off: pool.freeze_after_ms is 0"),
        (100, False, "this kernel has no cgroup.freeze (before 5.2)"),
    ],
)
def test_the_planner_reports_the_freezer_as_set_up(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    freeze_after_ms: int,
    cgroup_freeze: bool,
    expected: str,
) -> None:
    fake = FakeCgroupFs(tmp_path / "cgroup", monkeypatch, cgroup_freeze=cgroup_freeze)
    planner = SandboxPlanner(
        make_host(usable(fake)),
        SandboxSettings(),
        tmp_path / "data",
        freeze_after_ms=freeze_after_ms,
    )
    planner.setup()
    freezer = next(layer for layer in layers(planner.host) if layer.name == "freezer")
    assert freezer.active == (expected == "")
    assert freezer.detail == (expected or "cgroup v2 freezer after pool.freeze_after_ms")
    planner.teardown()


def test_without_cgroups_nothing_is_frozen_and_the_table_says_why(
    fake: FakeCgroupFs, tmp_path: Path
) -> None:
    layout = usable(fake)
    fake.place(layout.own, [1])  # a stranger in the cgroup: setup falls back
    planner = SandboxPlanner(make_host(layout), SandboxSettings(), tmp_path / "data")
    planner.setup()
    freezer = next(layer for layer in layers(planner.host) if layer.name == "freezer")
    assert not freezer.active
    assert freezer.detail == f"no cgroups ({planner.host.cgroup_why})"
