"""Opening a key of a bucket without ever following a link: one directory at a time from
the bucket's root (`O_NOFOLLOW` at every step), so that a function that swapped a directory
of a writable bucket for a link never has the platform read a file outside the bucket."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator

_STEP = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_CHUNK = 1024 * 1024


class KeyNotReadable(OSError):
    """The key is missing, a link, not a regular file, or larger than allowed."""


@contextlib.contextmanager
def parent_of(root: str, key: str) -> Iterator[tuple[int, str]]:
    """The directory holding `key` (a descriptor reached from `root` without following any
    link) and the key's last name. OSError when a step is missing or is a link."""
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        *directories, name = key.split("/")
        for directory in directories:
            step = os.open(directory, _STEP, dir_fd=fd)
            os.close(fd)
            fd = step
        yield fd, name
    finally:
        os.close(fd)


def read_key(root: str, key: str, max_bytes: int) -> bytes:
    """The content of the regular file at `key`, at most `max_bytes` (KeyNotReadable
    otherwise). Opened without blocking, so a FIFO swapped in cannot hold the thread."""
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise KeyNotReadable(f"{key!r} is not a key")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        with parent_of(root, key) as (directory, name):
            fd = os.open(name, flags, dir_fd=directory)
    except OSError as exc:
        raise KeyNotReadable(f"{key!r}: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyNotReadable(f"{key!r} is not a regular file")
        raise KeyNotReadable(f"{key!r} is larger than {max_bytes} bytes")
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise KeyNotReadable(f"{key!r} is larger than {max_bytes} bytes")
    return data
