"""Start-up clean-up of /tmp slots touches only what a dead platform process left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from faas.pool.scratch import ScratchPool, slot_owner


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leave_slot(root: Path, name: str) -> None:
    (root / name).mkdir(parents=True)
    (root / f"{name}.img").write_bytes(b"")


def test_setup_removes_a_dead_owners_slots_and_keeps_a_live_ones(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    dead, live = dead_pid(), os.getppid()
    leave_slot(root, f"slot-{dead}-3")
    leave_slot(root, f"slot-{live}-7")
    (root / "notes").write_text("not a slot: left alone")

    ScratchPool(root).setup()

    assert sorted(p.name for p in root.iterdir()) == [
        "notes",
        f"slot-{live}-7",
        f"slot-{live}-7.img",
    ]


def test_slot_names() -> None:
    assert slot_owner("slot-123-4") == 123
    for name in ("slot-123", "slot-x-4", "slot-1-2-3", "other-1-2", "slot--1"):
        assert slot_owner(name) is None
