"""Storage faults under load: the database locked by another process for seconds, and the
data directory's filesystem full. Answers continue or are refused cleanly, nothing answered
is lost, nothing is corrupted, and service resumes without a restart."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
from pathlib import Path
from shutil import which

import pytest
from botocore.exceptions import ClientError

from tests.helpers.faults import (
    ASYNC_CALLS,
    HELLO,
    SYNC_CALLS,
    calls,
    integrity,
    interleave,
    missing_records,
    start_fault_server,
    wait_for_queue,
)
from tests.helpers.leaks import gone_problems, growth_problems, settle, teardown_problems
from tests.helpers.load import run_load
from tests.helpers.server import FaasServer

# Below the store's busy timeout (faas/store/engine.py, 5 s): an async enqueue waits the
# lock out instead of failing.
LOCK_HELD_S = float(os.environ.get("FAAS_FAULT_LOCK_S", "3"))


def hold_exclusive_lock(database: Path, held: threading.Event, seconds: float) -> None:
    """Another process's writer in the middle of a long transaction (a backup tool, an
    operator's sqlite3 shell): nobody else may write until it ends."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        connection.execute("BEGIN EXCLUSIVE")
        held.set()
        threading.Event().wait(seconds)
        connection.rollback()


def test_database_locked_for_seconds_under_load(tmp_path: Path) -> None:
    fault = start_fault_server(tmp_path / "data")
    try:
        fault.server.deploy("alpha", {"app.py": HELLO})
        fault.server.invoke("alpha")
        before = fault.footprint()
        held = threading.Event()
        locker = threading.Thread(
            target=hold_exclusive_lock,
            args=(fault.server.data_dir / "faas.db", held, LOCK_HELD_S),
        )
        locker.start()
        assert held.wait(10)
        during = run_load(
            fault.server.url,
            fault.server.admin_key,
            interleave(
                calls("alpha", SYNC_CALLS, sleep_s=0.002),
                calls("alpha", ASYNC_CALLS, "Event"),
            ),
            concurrency=8,
            deadline_s=60,
        )
        still_locked = locker.is_alive()
        locker.join(30)
        print("outcomes:", during.summary(), "lock outlived the load:", still_locked)
        assert not during.unclean(), during.unclean()[:3]
        sync = during.by(lambda a: a.call.invocation_type == "RequestResponse")
        assert all(a.succeeded for a in sync)  # the journal absorbed their records
        assert all(a.status == 202 for a in during.by(lambda a: a not in sync))

        # The journal catches up once the lock is gone; every accepted event runs.
        assert wait_for_queue(fault.server.data_dir, 30) == 0
        assert not missing_records(fault.server, during.answers)
        assert integrity(fault.server.data_dir) == "ok"
        assert not settle(lambda: teardown_problems(fault.footprint(), fault.workers()), 10)
        assert not settle(lambda: growth_problems(before, fault.footprint()), 10)
    finally:
        fault.server.stop()
    assert not gone_problems(fault.pid, fault.server.data_dir, fault.first_uid)


DISK_MB = 64
DISK_FULL = "No space left on the data directory's filesystem"


def small_filesystem(tmp_path: Path) -> Path:
    """A 64 MB ext4 filesystem, loop-mounted: the data directory's disk in the test below."""
    missing = [tool for tool in ("losetup", "mkfs.ext4", "mount", "umount") if not which(tool)]
    if os.geteuid() != 0 or missing:
        pytest.skip(f"a loop-mounted filesystem needs root and {missing or 'its tools'}")
    image, mount_point = tmp_path / "disk.img", tmp_path / "disk"
    with image.open("wb") as sparse:
        sparse.truncate(DISK_MB * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    mount_point.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True)
    return mount_point


def fill(directory: Path) -> Path:
    """Write to a file until the filesystem has no block left (large writes, then small);
    called again, it takes what was freed since."""
    filler = directory / "filler"
    with filler.open("ab", buffering=0) as target:
        for chunk in (1024 * 1024, 4096):
            with contextlib.suppress(OSError):
                while True:
                    target.write(b"\0" * chunk)
    return filler


def deploy_refused_while_full(server: FaasServer, disk: Path, attempts: int = 5) -> bool:
    """Whether a deploy is refused with DiskFull on the full disk. The server frees space by
    itself meanwhile (ingested journal segments go), so the disk is filled again before each
    attempt, and a deploy that found room is undone and tried again."""
    for _ in range(attempts):
        fill(disk)
        try:
            server.deploy("beta", {"app.py": HELLO})
        except ClientError as error:
            assert DISK_FULL in str(error), error
            return True
        server.client().delete_function(FunctionName="beta")
    return False


def test_data_directory_filesystem_full(tmp_path: Path) -> None:
    disk = small_filesystem(tmp_path)
    fault = start_fault_server(disk / "data")
    try:
        server = fault.server
        server.deploy("alpha", {"app.py": HELLO})
        load = interleave(calls("alpha", 300), calls("alpha", 30, "Event"))
        before = run_load(server.url, server.admin_key, load, deadline_s=60)
        assert all(a.succeeded for a in before.answers), before.summary()
        assert wait_for_queue(server.data_dir, 30) == 0

        filler = fill(disk)
        full = run_load(server.url, server.admin_key, load, deadline_s=60)
        print("outcomes while full:", full.summary())
        refused = full.by(lambda a: not a.succeeded)
        assert refused  # new work that must be written is refused...
        assert all(a.status == 503 and DISK_FULL in a.error_message for a in refused)
        assert deploy_refused_while_full(server, disk)  # ...deploys too

        filler.unlink()  # space returns: service resumes, no restart
        after = run_load(server.url, server.admin_key, load, deadline_s=60)
        assert all(a.succeeded for a in after.answers), after.summary()
        server.deploy("beta", {"app.py": HELLO})
        _, body = server.invoke("beta", {"n": 1})
        assert body["n"] == 1

        # Nothing corrupted, nothing answered lost: before, during (what squeezed in) and after.
        assert wait_for_queue(server.data_dir, 30) == 0
        assert not missing_records(server, before.answers + full.answers + after.answers)
        assert integrity(server.data_dir) == "ok"
    finally:
        fault.server.stop()
        try:
            assert not gone_problems(fault.pid, fault.server.data_dir, fault.first_uid)
        finally:
            subprocess.run(["umount", str(disk)], check=False)
