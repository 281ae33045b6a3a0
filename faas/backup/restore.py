"""Restore a backup archive onto a fresh data directory, offline (`faas restore`).

Only into a data directory that holds nothing and that no server holds: a restore never
merges into, or overwrites, a node's state. The whole archive is checked against its manifest
before anything is written (a damaged or cut-short archive is refused and leaves nothing),
then read again and unpacked under the data directory's lock, so a server started meanwhile
refuses the directory instead of finding half of it. A failure while unpacking removes what
was written. `faas serve` on the directory then starts with everything: its migrations bring
a database from an older faas to the current schema, as at any start.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from faas.backup.archive import read_archive
from faas.backup.manifest import (
    CREDENTIALS_MEMBER,
    DATA_PREFIX,
    DATABASE_MEMBER,
    MASTER_KEY_MEMBER,
    ArchivedFile,
    BackupProblem,
    Manifest,
)
from faas.config import Settings
from faas.datadir import data_dir_holder, holds_state, lock_data_dir
from faas.store.engine import sqlite_file, url_kind
from faas.store.schema import known_revisions


@dataclass(frozen=True, slots=True)
class RestoreTarget:
    """Where a node's state goes (the settings `faas serve` will run with)."""

    data_dir: Path
    database: str  # "sqlite" or "postgresql"
    database_file: Path | None  # SQLite's file; None for PostgreSQL
    master_key: Path
    credentials: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> RestoreTarget:
        url = settings.store_url
        return cls(
            settings.data_dir,
            url_kind(url),
            sqlite_file(url),
            settings.master_key_path,
            settings.credentials_path,
        )

    def destination(self, member: str) -> Path:
        if member == DATABASE_MEMBER and self.database_file is not None:
            return self.database_file
        if member == MASTER_KEY_MEMBER:
            return self.master_key
        if member == CREDENTIALS_MEMBER:
            return self.credentials
        if member.startswith(DATA_PREFIX):  # checked safe when the manifest was read
            return self.data_dir / member[len(DATA_PREFIX) :]
        raise BackupProblem(f"the archive holds {member}, which has no place here")


def restore(
    archive: Path, target: RestoreTarget, revisions: frozenset[str] | None = None
) -> Manifest:
    """Unpack `archive` for `target`; `revisions`: the schema revisions this faas knows."""
    refuse_used_data_dir(target.data_dir)
    manifest = read_archive(archive)  # the whole archive, checked; nothing written yet
    check_restorable(manifest, target, known_revisions() if revisions is None else revisions)
    lock = lock_data_dir(target.data_dir)
    try:
        unpacker = _Unpacker(target)
        try:
            read_archive(archive, unpacker.open)
            unpacker.finish()
        except BaseException:
            unpacker.undo()
            raise
    finally:
        lock.release()
    return manifest


def refuse_used_data_dir(data_dir: Path) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        raise BackupProblem(f"{data_dir} is not a directory")
    holder = data_dir_holder(data_dir)
    if holder is not None:
        raise BackupProblem(
            f"the data directory {data_dir} is in use by a running faas server ({holder}); "
            "restore into a new data directory, with no server on it"
        )
    if holds_state(data_dir):
        raise BackupProblem(
            f"the data directory {data_dir} is not empty; restore into a new or empty one "
            "(a restore never merges into or overwrites a node's state)"
        )


def check_restorable(manifest: Manifest, target: RestoreTarget, revisions: frozenset[str]) -> None:
    """The archive suits this faas and these settings; nothing outside the data directory
    would be overwritten."""
    newer = [revision for revision in manifest.schema_revisions if revision not in revisions]
    if newer:
        raise BackupProblem(
            f"the backup's database is at schema revision {', '.join(newer)}, newer than this "
            f"faas knows: restore it with faas {manifest.faas_version} or later"
        )
    if manifest.database != target.database:
        raise BackupProblem(_database_mismatch(manifest.database, target.database))
    if manifest.database == "sqlite" and target.database_file is None:
        raise BackupProblem("store.url names no database file to restore the backup's into")
    for archived in manifest.files:
        path = target.destination(archived.path)
        if not path.is_relative_to(target.data_dir) and path.exists():
            raise BackupProblem(f"{path} exists; a restore does not overwrite it")


def _database_mismatch(archived: str, configured: str) -> str:
    if archived == "postgresql":
        return (
            "the backup is of a node whose database is PostgreSQL, which is not in the "
            "archive: restore that database from its pg_dump and set store.url to it"
        )
    return (
        f"the backup holds a SQLite database, but store.url names {configured}: restore "
        "with the settings of the node it came from"
    )


@dataclass
class _Unpacker:
    """Writes each archived file to its place, new files only; remembers what it made."""

    target: RestoreTarget
    made_files: list[Path] = field(default_factory=list)
    made_dirs: list[Path] = field(default_factory=list)
    current: BinaryIO | None = None

    def open(self, archived: ArchivedFile) -> BinaryIO:
        self._close_current()
        path = self.target.destination(archived.path)
        self._make_parents(path.parent)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.made_files.append(path)
        self.current = os.fdopen(descriptor, "wb")
        return self.current

    def finish(self) -> None:
        self._close_current()
        for directory in {path.parent for path in self.made_files}:
            _fsync_dir(directory)

    def undo(self) -> None:
        with contextlib.suppress(OSError):
            self._close_current()
        for path in reversed(self.made_files):
            path.unlink(missing_ok=True)
        for directory in reversed(self.made_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()

    def _close_current(self) -> None:
        if self.current is not None:
            stream, self.current = self.current, None
            try:
                stream.flush()
                os.fsync(stream.fileno())
            finally:
                stream.close()

    def _make_parents(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            path.mkdir(mode=0o700)
            self.made_dirs.append(path)


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
