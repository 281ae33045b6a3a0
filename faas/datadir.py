"""A data directory belongs to one server at a time; and what in it is state worth keeping.

Two servers on one directory would share its database, code store and /tmp images, and each
would clean up what it takes for the other's leftovers. So `faas serve` takes an exclusive
lock on `<data_dir>/faas.lock` before it touches anything else in the directory, and holds it
until the process ends. The lock is flock(2): the kernel drops it when the holder exits, even
on SIGKILL, so a crash never leaves a directory locked. The holder's pid is written into the
file for the refusal message only; the lock, not the file's content, decides.

What the directory holds (`persistent_files` says which of it a copy of the node needs):

    faas.lock              the lock (never copied)
    faas.db, faas.db-wal   the SQLite database (copied through SQLite's backup API, not as files)
    master.key             seals the secrets in the database; credentials: the admin key
    journal/               records answered but not yet in the database (drained before a copy)
    code/, any other       content-addressed stores: <sha256>.zip is the state, the <sha256>/
                           tree beside it is extracted again from the zip on first use
    scratch/, tmp/, net/   the workers' /tmp images, their fallback directories and network
                           state: made again at every start
    .name                  staging of a write in progress (an upload, an extraction, a backup)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from faas.errors import FaasError

LOCK_FILE = "faas.lock"
DATABASE_FILE = "faas.db"
MASTER_KEY_FILE = "master.key"
CREDENTIALS_FILE = "credentials"
CODE_DIR = "code"
JOURNAL_DIR = "journal"
# Top-level entries that are no one's state: the lock, the records journal (drained into the
# database before any copy), and what the sandbox makes again at every start (its /tmp images,
# their fallback directories, the workers' network state).
# Made again at each start, or rebuilt from what is kept: the AWS SDK trees functions get
# (faas.pool.sdk) and the layers' merged /opt trees (made of the layers' own contents).
_NOT_STATE = frozenset({LOCK_FILE, JOURNAL_DIR, "scratch", "tmp", "net", "runtime-sdk"})
_REBUILT = frozenset({PurePosixPath("layers/opt")})
# The database's own files: copied through the database, never as files.
_DATABASE_FILES = frozenset(DATABASE_FILE + suffix for suffix in ("", "-wal", "-shm", "-journal"))
_CONTENT_TREE = re.compile(r"[0-9a-f]{64}")


class DataDirInUse(FaasError):
    """Another live server holds the data directory."""


@dataclass
class DataDirLock:
    """The held lock; the descriptor is close-on-exec, so no child process inherits it."""

    path: Path
    descriptor: int

    def release(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)  # closing the only descriptor drops the flock
            self.descriptor = -1


def lock_data_dir(data_dir: Path) -> DataDirLock:
    """Create the directory if needed and lock it, or raise DataDirInUse naming the holder."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_pid(descriptor)
        os.close(descriptor)
        raise DataDirInUse(
            f"the data directory {data_dir} is in use by another faas server ({holder}); "
            "stop that one first, or give this one its own --data-dir"
        ) from None
    except BaseException:
        os.close(descriptor)
        raise
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(path, descriptor)


def _holder_pid(descriptor: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(descriptor, 32, 0).decode().strip()
        if text.isdigit():
            return f"pid {int(text)}"
    return "its pid is not recorded yet"


def data_dir_holder(data_dir: Path) -> str | None:
    """Who holds the directory's lock ("pid N"), or None when no live server does. Writes
    nothing: the lock file is only opened, and only when it exists."""
    try:
        descriptor = os.open(data_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder_pid(descriptor)
    finally:
        os.close(descriptor)  # drops the probe's own shared lock, if it got one
    return None


def holds_state(data_dir: Path) -> bool:
    """Whether the directory holds anything but a lock file (a fresh directory holds nothing)."""
    try:
        with os.scandir(data_dir) as scan:
            return any(entry.name != LOCK_FILE for entry in scan)
    except FileNotFoundError:
        return False


def persistent_files(data_dir: Path) -> list[PurePosixPath]:
    """The regular files of the data directory a copy of the node needs, relative to it and
    sorted: everything but the lock, the database files, the journal, what the sandbox makes
    at each start, staging (dot names), extracted trees beside their <sha256>.zip, and what
    is not a regular file or lies on another file system (a worker's mounted /tmp).

    Generic on purpose: a store added later (layers, say) is copied without being named here,
    and its extracted trees are skipped by the same rule as the code store's."""
    # The keys are copied by their role, from wherever the configuration puts them.
    skip = _NOT_STATE | _DATABASE_FILES | {MASTER_KEY_FILE, CREDENTIALS_FILE}
    device = data_dir.stat().st_dev
    found = (
        PurePosixPath(path.relative_to(data_dir).as_posix())
        for path in _walk(data_dir, device, skip=skip)
    )
    return sorted(path for path in found if not any(path.is_relative_to(r) for r in _REBUILT))


def _walk(directory: Path, device: int, *, skip: frozenset[str]) -> Iterator[Path]:
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except FileNotFoundError:  # removed meanwhile (a tree swept as unused)
        return
    names = {entry.name for entry in entries}
    for entry in entries:
        if entry.name in skip or entry.name.startswith("."):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if info.st_dev != device:
            continue
        if stat.S_ISREG(info.st_mode):
            yield Path(entry.path)
        elif stat.S_ISDIR(info.st_mode) and not _extracted_tree(entry.name, names):
            yield from _walk(Path(entry.path), device, skip=frozenset())


def _extracted_tree(name: str, siblings: set[str]) -> bool:
    return _CONTENT_TREE.fullmatch(name) is not None and f"{name}.zip" in siblings
