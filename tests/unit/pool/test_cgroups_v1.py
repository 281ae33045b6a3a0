"""cgroup v1 against a fake tree of memory, pids and cpu hierarchies: exactly what each worker
cgroup gets written. The same values on this host's real hierarchies, read from a running
worker's cgroups: tests/integration/pool/test_cgroups_v1_values.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from faas.domain import MB
from faas.pool.cgroups_v1 import CgroupV1Layout, CgroupV1Manager

OWN = "/platform.service"
# The interface files a new v1 cgroup has (those faas reads or writes), per hierarchy.
INTERFACE_FILES = {
    "memory": {
        "cgroup.procs": "",
        "memory.limit_in_bytes": "9223372036854771712\n",
        "memory.memsw.limit_in_bytes": "9223372036854771712\n",
        "memory.swappiness": "60\n",
        "memory.use_hierarchy": "1\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    },
    "pids": {"cgroup.procs": "", "pids.max": "max\n"},
    "cpu": {"cgroup.procs": "", "cpu.shares": "1024\n"},
}


FREEZER_FILES = {"cgroup.procs": "", "freezer.state": "THAWED\n"}


def fake_tree(
    root: Path, monkeypatch: pytest.MonkeyPatch, hierarchies: dict[str, dict[str, str]]
) -> CgroupV1Manager:
    """A manager set up under a fake v1 tree where mkdir makes a cgroup with its files."""
    real_mkdir = os.mkdir

    def mkdir(path: Any, mode: int = 0o777, **kwargs: Any) -> None:
        real_mkdir(path, mode, **kwargs)
        directory = Path(os.fsdecode(path))
        parts = directory.relative_to(root).parts if directory.is_relative_to(root) else ()
        for name, content in hierarchies.get(parts[0] if parts else "", {}).items():
            (directory / name).write_text(content)

    monkeypatch.setattr(os, "mkdir", mkdir)
    for hierarchy in hierarchies:
        (root / hierarchy / OWN.lstrip("/")).mkdir(parents=True)
    proc_cgroup = f"5:freezer:{OWN}\n4:memory:{OWN}\n3:pids:{OWN}\n2:cpu,cpuacct:{OWN}\n0::/\n"
    layout, why = CgroupV1Layout.detect(proc_cgroup, root)
    assert layout is not None, why
    made = CgroupV1Manager(layout)
    made.setup()
    return made


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CgroupV1Manager:
    """No freezer hierarchy mounted (the process names one, as every v1 host does)."""
    return fake_tree(tmp_path / "cgroup", monkeypatch, INTERFACE_FILES)


@pytest.mark.parametrize(
    ("memory_mb", "shares"),
    [(128, "74"), (512, "296"), (1769, "1024"), (3008, "1741"), (10240, "5927"), (1, "2")],
)
def test_what_a_worker_cgroup_gets(
    manager: CgroupV1Manager, tmp_path: Path, memory_mb: int, shares: str
) -> None:
    cgroup = manager.create()
    cgroup.limit_memory(memory_mb)
    worker = Path(f"{OWN.lstrip('/')}/faas-{os.getpid()}/w1")
    root = tmp_path / "cgroup"
    written = {
        f"{hierarchy}/{name}": (root / hierarchy / worker / name).read_text()
        for hierarchy, files in INTERFACE_FILES.items()
        for name in files
        if name not in ("cgroup.procs", "memory.oom_control", "memory.use_hierarchy")
    }
    assert written == {
        "memory/memory.limit_in_bytes": str(memory_mb * MB),
        "memory/memory.memsw.limit_in_bytes": str(memory_mb * MB),  # no swap on top
        "memory/memory.swappiness": "0",
        "pids/pids.max": "1024",
        "cpu/cpu.shares": shares,  # one CPU's 1024 at 1769 MB, rounded down, at least 2
    }
    # Nothing written to a file the kernel does not offer (it would have made a new one here).
    for hierarchy, files in INTERFACE_FILES.items():
        assert {p.name for p in (root / hierarchy / worker).iterdir()} == set(files)
    assert sorted(cgroup.procs_files) == sorted(
        str(root / hierarchy / worker / "cgroup.procs") for hierarchy in INTERFACE_FILES
    )


def test_without_a_freezer_hierarchy_nothing_is_frozen(manager: CgroupV1Manager) -> None:
    assert manager.freezer_why == "no writable cgroup v1 freezer hierarchy"
    assert not manager.create().freezable


def test_with_a_freezer_hierarchy_a_worker_is_frozen_and_killed_thawed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "cgroup"
    manager = fake_tree(root, monkeypatch, {**INTERFACE_FILES, "freezer": FREEZER_FILES})
    assert manager.freezer_why == ""
    cgroup = manager.create()
    state = root / "freezer" / OWN.lstrip("/") / f"faas-{os.getpid()}" / "w1" / "freezer.state"
    assert cgroup.freezable
    assert str(state.parent / "cgroup.procs") in cgroup.procs_files  # the worker joins it
    cgroup.freeze()
    assert state.read_text().strip() == "FROZEN"
    # A frozen v1 task dies of SIGKILL only once thawed: killing thaws it.
    cgroup.kill_all()
    assert state.read_text().strip() == "THAWED"
