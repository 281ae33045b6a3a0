"""The backup archive: a plain POSIX tar whose first member is the manifest.

Written as a stream whose length is known before the first byte (every file is staged and
hashed first), so the server can send a Content-Length and a reader can tell a cut-short
download from a whole one. Read back in one sequential pass that checks every member against
the manifest (listed once, a regular file, the size and sha256 it names) and that every listed
file came; compressed copies (`gzip backup.tar`) are read as well.
"""

from __future__ import annotations

import hashlib
import lzma
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from faas.backup.manifest import (
    MANIFEST_MEMBER,
    MAX_MANIFEST_BYTES,
    ArchivedFile,
    BackupProblem,
    Manifest,
    parse_manifest,
)

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
CHUNK = 1024 * 1024
# What a damaged or cut-short archive makes the tar and decompression modules raise.
_DAMAGED = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A file ready to go into an archive under `member`."""

    member: str
    source: Path
    size: int


# An archive is bytes written as they are, and staged files copied in between.
Piece = bytes | StagedFile


def archive_pieces(manifest: Manifest, files: Sequence[StagedFile], mtime: int) -> list[Piece]:
    """The archive, in order: the manifest, then each file (header, content, padding), then
    the end-of-archive blocks padded to a whole record, as tar writes them."""
    manifest_json = manifest.to_json()
    pieces: list[Piece] = [_header(MANIFEST_MEMBER, len(manifest_json), mtime), manifest_json]
    pieces.append(_padding(len(manifest_json)))
    for staged in files:
        pieces += [_header(staged.member, staged.size, mtime), staged, _padding(staged.size)]
    length = archive_length(pieces)
    end = 2 * BLOCK
    end += -(length + end) % RECORD
    pieces.append(b"\0" * end)
    return pieces


def archive_length(pieces: Sequence[Piece]) -> int:
    return sum(p.size if isinstance(p, StagedFile) else len(p) for p in pieces)


def _header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o600
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


# Called with each archived file (after the manifest is read): a stream to copy it into, or
# None to only check it.
Sink = Callable[[ArchivedFile], BinaryIO | None]


def read_archive(path: Path, sink: Sink | None = None) -> Manifest:
    """Check the whole archive against its manifest and return the manifest; with `sink`, also
    copy each file into the stream it gives. BackupProblem, in one line, for an archive that
    is not one, is damaged or cut short, or does not match its manifest. (What the sink wrote
    before such a failure is the caller's to remove.)"""
    try:
        with tarfile.open(path, "r|*") as archive:
            manifest = _read_manifest(archive)
            seen = _read_files(archive, manifest, sink)
    except FileNotFoundError:
        raise BackupProblem(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BackupProblem(f"{path} is a directory, not a backup archive") from None
    except _DAMAGED as exc:
        raise BackupProblem(
            f"{path} is not a whole faas backup: the archive is truncated or corrupt ({exc})"
        ) from None
    except OSError as exc:  # gzip.BadGzipFile, an unreadable file
        raise BackupProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    missing = [f.path for f in manifest.files if f.path not in seen]
    if missing:
        raise BackupProblem(
            f"{path} is truncated: {len(missing)} file(s) its manifest lists are not in it "
            f"(first: {missing[0]})"
        )
    return manifest


def _read_manifest(archive: tarfile.TarFile) -> Manifest:
    first = archive.next()
    if first is None or first.name != MANIFEST_MEMBER or not first.isreg():
        raise BackupProblem(f"not a faas backup archive: it does not start with {MANIFEST_MEMBER}")
    if first.size > MAX_MANIFEST_BYTES:
        raise BackupProblem("not a faas backup archive: its manifest is far too large")
    return parse_manifest(_content(archive, first))


def _content(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = archive.extractfile(member)
    assert stream is not None  # a regular file
    data = stream.read()
    if len(data) != member.size:
        raise tarfile.ReadError("unexpected end of data")
    return data


def _read_files(archive: tarfile.TarFile, manifest: Manifest, sink: Sink | None) -> set[str]:
    seen: set[str] = set()
    # next(), not iteration: iterating a stream starts over with the members read so far.
    while (member := archive.next()) is not None:
        listed = manifest.file(member.name)
        if listed is None or member.name in seen:
            raise BackupProblem(
                f"the archive holds {member.name!r}, which its manifest does not list once: "
                "corrupt archive"
            )
        if not member.isreg() or member.size != listed.size:
            raise BackupProblem(f"{member.name} in the archive is not the file its manifest lists")
        _check_file(archive, member, listed, sink(listed) if sink is not None else None)
        seen.add(member.name)
    return seen


def _check_file(
    archive: tarfile.TarFile, member: tarfile.TarInfo, listed: ArchivedFile, out: BinaryIO | None
) -> None:
    digest = hashlib.sha256()
    received = 0
    for chunk in _chunks(archive, member):
        digest.update(chunk)
        received += len(chunk)
        if out is not None:
            out.write(chunk)
    if received != listed.size:
        raise tarfile.ReadError("unexpected end of data")
    if digest.hexdigest() != listed.sha256:
        raise BackupProblem(
            f"{listed.path} in the archive does not match its sha256 in the manifest: "
            "corrupt archive"
        )


def _chunks(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
    stream = archive.extractfile(member)
    assert stream is not None
    while chunk := stream.read(CHUNK):
        yield chunk


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
