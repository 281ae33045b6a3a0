"""Content-addressed code bundles: validated zips and their read-only extracted trees.

Layout under `root`: `<sha256>.zip` (the upload, byte for byte) and `<sha256>/` (its tree).
A zip is checked completely from its central directory before anything is written, then
extracted into a temporary directory that is renamed into place only once every member has
been written and verified. A rejected upload leaves nothing behind.
"""

from __future__ import annotations

import compileall
import contextlib
import errno
import hashlib
import io
import os
import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from faas.domain import CodeInfo, Limits
from faas.errors import InvalidParameterValue, ResourceNotFound

MAX_ENTRIES = 20_000
NOT_A_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 64 * 1024
_MAX_LINK_TARGET = 4096
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
# Errors while creating files that only a malformed archive causes (odd names, clashes).
_ARCHIVE_ERRNOS = frozenset(
    {errno.ENAMETOOLONG, errno.EILSEQ, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EINVAL}
)
# What zipfile raises on damaged archives besides BadZipFile.
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


@dataclass(frozen=True, slots=True)
class _Member:
    """One zip entry, validated: where it goes and what it is."""

    info: zipfile.ZipInfo
    path: PurePosixPath
    kind: str  # "dir", "file" or "link"
    executable: bool


class CodeStore:
    """Stores validated code zips by sha256 and serves their extracted, read-only trees."""

    def __init__(self, root: Path, limits: Limits, max_entries: int = MAX_ENTRIES) -> None:
        self._root = root
        self._limits = limits
        self._max_entries = max_entries

    @property
    def root(self) -> Path:
        return self._root

    def put(self, zip_bytes: bytes) -> CodeInfo:
        """Validate and store a zip; storing the same bytes again changes nothing."""
        if len(zip_bytes) > self._limits.max_zip_bytes:
            raise InvalidParameterValue(
                f"Zipped size must be smaller than {self._limits.max_zip_bytes} bytes"
            )
        sha256 = hashlib.sha256(zip_bytes).hexdigest()
        with _open_zip(zip_bytes) as archive:
            members = self._plan(archive)
            self._root.mkdir(parents=True, exist_ok=True)
            if not self._dir(sha256).is_dir():
                self._extract(archive, members, sha256)
        if not self._zip(sha256).is_file():
            self._write_zip(zip_bytes, sha256)
        files = tuple(sorted(str(m.path) for m in members if m.kind != "dir"))
        return CodeInfo(
            sha256=sha256,
            size=len(zip_bytes),
            code_dir=str(self._dir(sha256)),
            files=files,
            unzipped_size=_unzipped_size(members),
        )

    def code_dir(self, sha256: str) -> Path:
        """The extracted tree of `sha256`, re-extracted from the stored zip when missing."""
        directory = self._dir(_checked_sha(sha256))
        if directory.is_dir():
            return directory
        with _open_zip(self.zip_bytes(sha256)) as archive:
            self._extract(archive, self._plan(archive), sha256)
        return directory

    def zip_bytes(self, sha256: str) -> bytes:
        try:
            return self._zip(_checked_sha(sha256)).read_bytes()
        except FileNotFoundError:
            raise ResourceNotFound(f"Code not found: {sha256}") from None

    def file_names(self, sha256: str) -> tuple[str, ...]:
        """The files (not directories) in the stored zip, from its central directory."""
        with _open_zip(self.zip_bytes(sha256)) as archive:
            return tuple(sorted(str(m.path) for m in self._plan(archive) if m.kind != "dir"))

    def unzipped_size(self, sha256: str) -> int:
        """The bytes of the stored zip's files, from its central directory."""
        with _open_zip(self.zip_bytes(sha256)) as archive:
            return _unzipped_size(self._plan(archive))

    def stored(self) -> list[str]:
        """The sha256 of every stored zip."""
        if not self._root.is_dir():
            return []
        return sorted(
            path.name.removesuffix(".zip")
            for path in self._root.glob("*.zip")
            if _SHA256_RE.fullmatch(path.name.removesuffix(".zip"))
        )

    def contains(self, sha256: str) -> bool:
        return _SHA256_RE.fullmatch(sha256) is not None and self._zip(sha256).is_file()

    def remove(self, sha256: str) -> None:
        """Delete the zip and the tree of `sha256`; absent parts are not an error."""
        _checked_sha(sha256)
        self._zip(sha256).unlink(missing_ok=True)
        force_rmtree(self._dir(sha256))

    # -- validation -------------------------------------------------------------------------

    def _plan(self, archive: zipfile.ZipFile) -> list[_Member]:
        """Check every entry from the central directory alone; nothing is written."""
        infos = archive.infolist()
        if len(infos) > self._max_entries:
            raise InvalidParameterValue(
                f"The zip has {len(infos)} entries; at most {self._max_entries} are allowed"
            )
        unzipped = sum(info.file_size for info in infos)
        if unzipped > self._limits.max_unzipped_bytes:
            raise InvalidParameterValue(
                f"Unzipped size must be smaller than {self._limits.max_unzipped_bytes} bytes"
            )
        members = [m for m in (_member(info) for info in infos) if m is not None]
        _check_layout(members)
        for member in members:
            if member.kind == "link":
                _check_link_target(member, _read_link_target(archive, member))
        return members

    # -- writing ----------------------------------------------------------------------------

    def _extract(self, archive: zipfile.ZipFile, members: list[_Member], sha256: str) -> None:
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=self._root))
        try:
            _extract_into(archive, members, staging)
            _check_links_resolve_inside(staging, members)
            _precompile(staging)
            _make_read_only(staging, members)
            rename_into_place(staging, self._dir(sha256))
        finally:
            force_rmtree(staging)

    def _write_zip(self, zip_bytes: bytes, sha256: str) -> None:
        handle, temp_name = tempfile.mkstemp(prefix=".upload-", suffix=".zip", dir=self._root)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(zip_bytes)
                stream.flush()
                # The database row that names this sha is committed after this returns.
                os.fsync(stream.fileno())
            os.chmod(temp_name, 0o444)
            os.replace(temp_name, self._zip(sha256))
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(self._root)

    def _zip(self, sha256: str) -> Path:
        return self._root / f"{sha256}.zip"

    def _dir(self, sha256: str) -> Path:
        return self._root / sha256


@contextlib.contextmanager
def _open_zip(zip_bytes: bytes) -> Iterator[zipfile.ZipFile]:
    """Open `zip_bytes`; damage found at any point inside the block is a user error."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except (*_CORRUPT, ValueError, OSError):
        raise InvalidParameterValue(NOT_A_ZIP) from None
    with archive:
        try:
            yield archive
        except _CORRUPT:
            raise InvalidParameterValue(NOT_A_ZIP) from None


def _unzipped_size(members: list[_Member]) -> int:
    return sum(member.info.file_size for member in members if member.kind != "dir")


def _checked_sha(sha256: str) -> str:
    # The sha becomes a path component: anything but 64 hex digits cannot name stored code.
    if not _SHA256_RE.fullmatch(sha256):
        raise ResourceNotFound(f"Code not found: {sha256}")
    return sha256


def _member(info: zipfile.ZipInfo) -> _Member | None:
    """Classify one entry; None for entries that name the root itself (`./`)."""
    if info.flag_bits & 0x1:
        raise InvalidParameterValue(f"Encrypted zip entries are not supported: {info.filename}")
    path = _safe_path(info.filename)
    if path is None:
        return None
    mode = info.external_attr >> 16
    if info.is_dir():
        kind = "dir"
    elif stat.S_ISLNK(mode):
        kind = "link"
    else:
        kind = "file"
    return _Member(info=info, path=path, kind=kind, executable=bool(mode & 0o111))


def _safe_path(name: str) -> PurePosixPath | None:
    """The entry's path relative to the code root; rejects anything that could leave it."""
    if "\\" in name or _DRIVE_RE.match(name):
        raise InvalidParameterValue(f"Invalid file name in the zip: {name!r}")
    if name.startswith("/"):
        raise InvalidParameterValue(f"Absolute file name in the zip: {name!r}")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidParameterValue(f"File name in the zip leaves the code directory: {name!r}")
    return PurePosixPath(*parts) if parts else None


def _check_layout(members: list[_Member]) -> None:
    """No duplicates, and nothing nested under a file or a symlink."""
    seen: dict[PurePosixPath, str] = {}
    for member in members:
        previous = seen.get(member.path)
        if previous is not None and not (previous == "dir" == member.kind):
            raise InvalidParameterValue(f"Duplicate entry in the zip: {member.path}")
        seen[member.path] = member.kind
    for member in members:
        for parent in member.path.parents:
            if seen.get(parent, "dir") != "dir":
                raise InvalidParameterValue(
                    f"Entry {member.path} is inside {parent}, which is not a directory"
                )


def _read_link_target(archive: zipfile.ZipFile, member: _Member) -> str:
    if member.info.file_size > _MAX_LINK_TARGET:
        raise InvalidParameterValue(f"Symlink target too long in the zip: {member.path}")
    try:
        return archive.read(member.info).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameterValue(f"Invalid symlink target in the zip: {member.path}") from None


def _check_link_target(member: _Member, target: str) -> None:
    """A symlink may only point at a relative path that stays inside the code root."""
    bad = (
        not target
        or target.startswith("/")
        or "\\" in target
        or "\x00" in target
        or _DRIVE_RE.match(target)
    )
    joined = posixpath.normpath(posixpath.join(str(member.path.parent), target))
    if bad or joined == ".." or joined.startswith("../"):
        raise InvalidParameterValue(
            f"Symlink {member.path} in the zip points outside the code directory: {target!r}"
        )


def _extract_into(archive: zipfile.ZipFile, members: list[_Member], staging: Path) -> None:
    # Links last, so that no file is ever written through one.
    for member in sorted(members, key=lambda m: m.kind == "link"):
        destination = staging.joinpath(*member.path.parts)
        try:
            _extract_member(archive, member, destination)
        except OSError as exc:
            if exc.errno not in _ARCHIVE_ERRNOS:
                raise
            raise InvalidParameterValue(
                f"Could not extract {member.path} from the zip: {exc.strerror}"
            ) from None


def _extract_member(archive: zipfile.ZipFile, member: _Member, destination: Path) -> None:
    if member.kind == "dir":
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    if member.kind == "link":
        os.symlink(archive.read(member.info).decode("utf-8"), destination)
        return
    _copy_member(archive, member.info, destination)


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path) -> None:
    """Stream one member to disk, never writing more than its header promised."""
    written = 0
    with archive.open(info) as source, destination.open("xb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise InvalidParameterValue(
                    f"{info.filename} in the zip is larger than its header says"
                )
            sink.write(chunk)
    if written != info.file_size:
        raise InvalidParameterValue(NOT_A_ZIP)


def _check_links_resolve_inside(staging: Path, members: list[_Member]) -> None:
    # The lexical check cannot see chains (a -> b/.., b -> .); the real filesystem can.
    root = os.path.realpath(staging)
    for member in members:
        if member.kind != "link":
            continue
        resolved = os.path.realpath(staging.joinpath(*member.path.parts))
        if resolved != root and not resolved.startswith(root + os.sep):
            raise InvalidParameterValue(
                f"Symlink {member.path} in the zip points outside the code directory"
            )


def _make_read_only(staging: Path, members: list[_Member]) -> None:
    for member in members:
        if member.kind == "file":
            mode = 0o555 if member.executable else 0o444
            staging.joinpath(*member.path.parts).chmod(mode)
    # Deepest first, so that each directory is still writable while its children change.
    for directory, _subdirs, _files in os.walk(staging, topdown=False):
        os.chmod(directory, 0o555)


def rename_into_place(staging: Path, final: Path) -> None:
    try:
        os.rename(staging, final)
    except OSError as exc:
        # Someone else extracted the same sha first: theirs is identical.
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not final.is_dir():
            raise
        return
    _fsync_dir(final.parent)


def _precompile(staging: Path) -> None:
    """Byte-compile the Python sources once, here, so no cold start spends time compiling
    them (workers run with -B and a read-only code directory, so they never write .pyc).
    Compiling runs no user code; a file that does not compile is left for the import to
    report. The caches are made readable by every function uid."""
    compileall.compile_dir(staging, quiet=2, workers=1, legacy=False)
    for cache in staging.rglob("__pycache__"):
        if cache.is_symlink() or not cache.is_dir():
            continue
        for compiled in cache.iterdir():
            if compiled.is_file() and not compiled.is_symlink():
                compiled.chmod(0o444)
        cache.chmod(0o555)


def force_rmtree(path: Path) -> None:
    """rmtree that also removes read-only trees (deleting needs write on the parent dir)."""
    if not path.exists() or path.is_symlink():
        return
    for directory, _subdirs, _files in os.walk(path):
        os.chmod(directory, 0o700)
    shutil.rmtree(path)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
