"""The records journal: an append-only file of framed, checksummed entries, in segments.

An answered invocation's record is appended with one `os.write` before its response leaves.
That is as durable as SQLite's WAL with synchronous=NORMAL: the bytes are in the kernel's page
cache, so they survive a SIGKILL of the server (not a power cut; `store.durability = "fsync"`
adds a group fsync for that). The ingester (`faas.store.ingester`) moves entries into the
database in the background and deletes each segment once all its rows are committed.

Format of a segment file `<dir>/<seq:012d>.v1.seg`, a sequence of frames:

    length  u32 little-endian   bytes of payload (1..MAX_PAYLOAD)
    crc32   u32 little-endian   zlib.crc32 of the payload
    payload                     JSON: the record's row values (faas.store.repos.RECORD_COLUMNS)

A crash can leave a torn frame at the end of the segment being written; power loss can also
leave zeros there. Readers stop at the first frame that is short, has an impossible length or
a wrong checksum, warn, and keep every frame before it. Writing always continues in a new
segment (at each start, and after a failed write), so a torn frame only ever ends a segment.

Positions are (segment seq, byte offset) tuples, compared as such: everything before a
position is appended (or ingested).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from faas.errors import DiskFull, ServiceError, is_disk_full

_log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
HEADER_BYTES = _HEADER.size
# One record is a few hundred bytes; anything larger than this is a corrupt length.
MAX_PAYLOAD = 1024 * 1024
_SEGMENT_NAME = re.compile(r"^(\d{12})\.v1\.seg$")

Position = tuple[int, int]


def encode_frame(payload: bytes) -> bytes:
    """One entry: header + payload, written with a single write()."""
    if not 0 < len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"a journal entry holds 1..{MAX_PAYLOAD} bytes, not {len(payload)}")
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class Frames:
    """What `decode_frames` found in a buffer."""

    payloads: list[bytes]
    # Bytes of the buffer the payloads took (complete, valid frames only).
    consumed: int
    # Why decoding stopped before the end of the buffer ("" when it reached the end, or only
    # a frame not yet complete was left).
    problem: str


def decode_frames(buffer: bytes | memoryview, *, complete: bool) -> Frames:
    """The valid frames at the start of `buffer`. With `complete`, the buffer ends where the
    segment ends, so a short frame at the end is torn (a problem); otherwise it may just not
    be read yet."""
    view = memoryview(buffer)
    payloads: list[bytes] = []
    offset = 0
    end = len(view)
    while offset < end:
        if end - offset < HEADER_BYTES:
            return Frames(payloads, offset, "a torn entry header" if complete else "")
        length, crc = _HEADER.unpack_from(view, offset)
        if not 0 < length <= MAX_PAYLOAD:
            return Frames(payloads, offset, f"an impossible entry length {length}")
        start = offset + HEADER_BYTES
        if end - start < length:
            return Frames(payloads, offset, "a torn entry" if complete else "")
        payload = bytes(view[start : start + length])
        if zlib.crc32(payload) != crc:
            return Frames(payloads, offset, "an entry whose checksum does not match")
        payloads.append(payload)
        offset = start + length
    return Frames(payloads, offset, "")


def segment_path(directory: Path, seq: int) -> Path:
    return directory / f"{seq:012d}.v1.seg"


def segment_seqs(directory: Path) -> list[int]:
    """The sequence numbers of the segments in `directory`, oldest first."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            match = _SEGMENT_NAME.match(entry.name)
            if match:
                found.append(int(match.group(1)))
    return sorted(found)


def read_entries(path: Path, offset: int = 0, size: int | None = None) -> Frames:
    """The entries of a segment from byte `offset`: up to `size` bytes (the part of the
    segment being written that is known to be complete) or, without `size`, to the end of a
    segment nobody writes any more, where a torn or corrupt tail is skipped with a warning,
    keeping every entry before it. A missing file holds no entries."""
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            data = stream.read(-1 if size is None else size)
    except FileNotFoundError:
        return Frames([], 0, "")
    frames = decode_frames(data, complete=size is None)
    if frames.problem:
        _log.warning(
            "records journal %s: %s at byte %d; the %d entries before it are kept, the %d "
            "bytes from there on are skipped",
            path,
            frames.problem,
            frames.consumed,
            len(frames.payloads),
            len(data) - frames.consumed,
        )
    return frames


class SegmentWriter:
    """Appends frames to the newest segment (on the event loop thread only) and starts a new
    segment past `segment_bytes`. With `fsync`, `synced()` waits for a group fsync that began
    after the call: requests arriving while one runs wait for the next, and it runs in a
    thread, off the loop."""

    def __init__(self, directory: Path, seq: int, *, segment_bytes: int, fsync: bool) -> None:
        if segment_bytes < 1:
            raise ValueError("segment_bytes must be at least 1")
        self._directory = directory
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        # One tuple, replaced whole: the ingester thread reads it without a lock.
        self._position: Position = (seq, 0)
        self._fd = self._create(seq)
        # fsync mode: descriptors of earlier segments, closed by the next fsync after
        # syncing them; and whether the directory holds a new name not yet synced.
        self._unsynced_fds: list[int] = []
        self._directory_dirty = fsync
        self._sync_running = False
        self._sync_waiters: list[asyncio.Future[None]] = []
        self._closed = False

    @property
    def position(self) -> Position:
        """Everything before this position has been written."""
        return self._position

    def append(self, payload: bytes) -> Position:
        """Write one entry; the position after it. ServiceError if it could not be written."""
        frame = encode_frame(payload)
        try:
            written = os.write(self._fd, frame)
        except OSError as exc:
            self._start_over_after_failure()
            if is_disk_full(exc):
                raise DiskFull("the invocation's record") from exc
            raise ServiceError(f"the records journal could not be written: {exc}") from exc
        if written != len(frame):  # only a full disk makes a regular file's write short
            self._start_over_after_failure()
            raise DiskFull("the invocation's record")
        seq, offset = self._position
        end = self._position = (seq, offset + written)
        if end[1] >= self._segment_bytes:
            self._rotate()
        return end

    def synced(self) -> asyncio.Future[None]:
        """Resolves once an fsync that began after this call has finished."""
        waiter = asyncio.get_running_loop().create_future()
        self._sync_waiters.append(waiter)
        if not self._sync_running:
            self._start_sync()
        return waiter

    async def close(self) -> None:
        """Sync (in fsync mode) and close every descriptor; the files stay."""
        if self._closed:
            return
        if self._fsync:
            await self.synced()
            while self._sync_running:  # a sync of other waiters may still be running
                await self.synced()
        self._closed = True
        for fd in [self._fd, *self._unsynced_fds]:
            os.close(fd)
        self._unsynced_fds = []

    def _create(self, seq: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        return os.open(segment_path(self._directory, seq), flags, 0o600)

    def _rotate(self) -> None:
        seq = self._position[0] + 1
        fd = self._create(seq)
        if self._fsync:
            self._unsynced_fds.append(self._fd)
            self._directory_dirty = True
        else:
            os.close(self._fd)
        self._fd = fd
        # The new file exists before the position names it.
        self._position = (seq, 0)

    def _start_over_after_failure(self) -> None:
        """A failed write may have left part of a frame: continue in a new segment, so that it
        ends the old one (readers stop at a torn frame)."""
        with contextlib.suppress(OSError):
            self._rotate()

    def _start_sync(self) -> None:
        waiters, self._sync_waiters = self._sync_waiters, []
        fds, self._unsynced_fds = [self._fd, *self._unsynced_fds], []
        directory, self._directory_dirty = self._directory_dirty, False
        self._sync_running = True
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(None, self._sync_files, fds, directory)
        done.add_done_callback(lambda outcome: self._sync_finished(outcome, waiters))

    def _sync_files(self, fds: list[int], directory: bool) -> None:
        try:
            for fd in fds:
                os.fsync(fd)
        finally:
            for fd in fds[1:]:  # earlier segments: nobody writes them any more
                os.close(fd)
        if directory:
            dir_fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _sync_finished(
        self, outcome: asyncio.Future[None], waiters: list[asyncio.Future[None]]
    ) -> None:
        self._sync_running = False
        failure = outcome.exception()
        for waiter in waiters:
            if waiter.done():
                continue
            if failure is None:
                waiter.set_result(None)
            else:
                error = ServiceError(f"the records journal could not be synced: {failure}")
                error.__cause__ = failure
                waiter.set_exception(error)
        if self._sync_waiters:
            self._start_sync()
