"""A data directory belongs to one server at a time.

Two servers on one directory would share its database, code store and /tmp images, and each
would clean up what it takes for the other's leftovers. So `faas serve` takes an exclusive
lock on `<data_dir>/faas.lock` before it touches anything else in the directory, and holds it
until the process ends. The lock is flock(2): the kernel drops it when the holder exits, even
on SIGKILL, so a crash never leaves a directory locked. The holder's pid is written into the
file for the refusal message only; the lock, not the file's content, decides.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from faas.errors import FaasError

LOCK_FILE = "faas.lock"


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
