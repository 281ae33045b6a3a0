"""Files in a bucket's directory: which names are keys, a file's version, a directory's
contents, a file's eTag. Blocking (disk): the watcher calls these from threads.

Names ignored (never keys, no events), so that uploads and editors' scratch files do not
fire: any path part starting with `.` (hidden files and directories, rsync's and editors'
temporary names), and names ending in `~`, `.tmp`, `.part`, `.partial`, `.swp` or
`.crdownload`. Such a file renamed to a real name is delivered then, complete. Names that are
not UTF-8, or keys longer than S3's 1,024 bytes, are not keys either.

A key is opened one directory at a time from the bucket's root without following a link
(`O_NOFOLLOW` at every step): a function that swaps a directory of a writable bucket for a
link never has the platform read, hash or stat a file outside the bucket.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from faas.domain import FileVersion
from faas.registry.bucket_paths import parent_of

IGNORED_SUFFIXES = ("~", ".tmp", ".part", ".partial", ".swp", ".crdownload")
ETAG_CHUNK = 1024 * 1024
MAX_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A regular file in a bucket, as stat() saw it."""

    key: str
    version: FileVersion
    uid: int
    device: int = 0

    @property
    def identity(self) -> tuple[int, int]:
        """(device, inode): what an open descriptor of the file points at."""
        return self.device, self.version.inode


def key_of(root: str, path: str) -> str | None:
    """The key of `path` in the bucket at `root` (`a/b.jpg`), or None when the path is not
    a key: outside the bucket, the bucket itself, or an ignored name."""
    relative = os.path.relpath(path, root)
    if relative == "." or relative.startswith(".." + os.sep) or relative == "..":
        return None
    key = relative.replace(os.sep, "/")
    return None if is_ignored(key) else key


def is_ignored(key: str) -> bool:
    try:
        encoded = key.encode()
    except UnicodeEncodeError:
        return True  # not UTF-8 on disk (kept as surrogates): no S3 key
    if len(encoded) > MAX_KEY_BYTES:
        return True
    parts = key.split("/")
    return any(part.startswith(".") for part in parts) or parts[-1].endswith(IGNORED_SUFFIXES)


def version_of(info: os.stat_result) -> FileVersion:
    return FileVersion(info.st_ino, info.st_size, info.st_mtime_ns)


def stat_file(root: str, key: str) -> FoundFile | None:
    """The regular file at `key` (None: gone, a link, or not a regular file)."""
    try:
        with parent_of(root, key) as (directory, name):
            info = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return FoundFile(key, version_of(info), info.st_uid, info.st_dev)


@dataclass(frozen=True, slots=True)
class Scan:
    """What a walk of a bucket found: its files, and the directories it could not read
    (keys under them are unknown, never gone)."""

    files: dict[str, FoundFile]
    unreadable: tuple[str, ...] = field(default=())

    def covers(self, key: str) -> bool:
        """False when `key` lies under a directory the walk could not read."""
        return not any(key.startswith(prefix + "/") for prefix in self.unreadable)


def scan(root: str) -> Scan:
    """Every key in the bucket at `root`. OSError when the bucket's directory itself cannot
    be read (never an empty answer)."""
    found: dict[str, FoundFile] = {}
    unreadable: list[str] = []
    os.listdir(root)  # raises for a missing or unreadable bucket; os.walk would not

    def skipped(error: OSError) -> None:
        if error.filename == root:
            raise error
        if error.filename:
            unreadable.append(os.path.relpath(error.filename, root).replace(os.sep, "/"))

    for directory, subdirectories, files in os.walk(root, onerror=skipped):
        # Ignored directories are not walked into; links to directories are not followed.
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        for name in files:
            key = key_of(root, os.path.join(directory, name))
            if key is None:
                continue
            seen = stat_file(root, key)
            if seen is not None:
                found[key] = seen
    return Scan(found, tuple(unreadable))


def etag_of(root: str, found: FoundFile) -> str | None:
    """S3's eTag of a single-part upload: the MD5 of the content, in hex. None when the file
    is no longer the version `found` saw (replaced, changed, gone, or not a regular file):
    the opened file's own version is checked. Opened without blocking, so a FIFO swapped in
    cannot hold the thread."""
    digest = hashlib.md5(usedforsecurity=False)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        with parent_of(root, found.key) as (directory, name):
            fd = os.open(name, flags, dir_fd=directory)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or version_of(info) != found.version:
            return None
        while chunk := stream.read(ETAG_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_for_writing(files: Iterable[tuple[int, int]], proc: str = "/proc") -> set[tuple[int, int]]:
    """Which of these files ((device, inode) pairs) some process holds open for writing: a
    file found by a scan, whose close the watcher never saw (written before its directory was
    watched, or while the server was down), is complete only if nobody is still writing it.
    Every process's descriptors are looked at (root sees them all; another user only its own,
    so without root a writer of another user is not seen)."""
    wanted = set(files)
    writing: set[tuple[int, int]] = set()
    if not wanted:
        return writing
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        descriptors = os.path.join(proc, pid, "fd")
        try:
            names = os.listdir(descriptors)
        except OSError:
            continue  # gone, or not ours to see
        for name in names:
            try:
                info = os.stat(os.path.join(descriptors, name))
            except OSError:
                continue
            identity = (info.st_dev, info.st_ino)
            if identity in wanted and _writable(os.path.join(proc, pid, "fdinfo", name)):
                writing.add(identity)
    return writing


def _writable(fdinfo: str) -> bool:
    try:
        with open(fdinfo) as stream:
            for line in stream:
                if line.startswith("flags:"):
                    return bool(int(line.split()[1], 8) & (os.O_WRONLY | os.O_RDWR))
    except (OSError, ValueError, IndexError):
        return False
    return False
