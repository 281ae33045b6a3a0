"""The running server's side of a backup: one consistent copy of the node, as a tar stream.

Consistent means: every invocation answered before the backup started is in it (the records
journal is drained into the database first), the database is one snapshot (SQLite's online
backup API: writers go on meanwhile), and every content-addressed file the snapshot names is
there. The last needs one rule from the rest of the server: whoever deletes a
content-addressed file (the sweep of unused code) holds `content_hold` while doing so. The
backup holds it from the database snapshot until every such file is hard-linked into its
staging directory, so a file named by the snapshot cannot go in between; files written after
the snapshot are taken too and are harmless (nothing names them, and the next sweep of the
restored node removes them).

Everything is staged under `<data_dir>/.backup-<id>/` (links, not copies, where the file
system allows), hashed for the manifest, streamed, then removed. One backup runs at a time.
PostgreSQL is not copied: it is backed up with its own tools (pg_dump), and the manifest says
so.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from faas.backup.archive import (
    CHUNK,
    Piece,
    StagedFile,
    archive_length,
    archive_pieces,
    file_sha256,
)
from faas.backup.manifest import (
    CREDENTIALS_MEMBER,
    DATABASE_MEMBER,
    MASTER_KEY_MEMBER,
    ArchivedFile,
    Manifest,
    data_member,
)
from faas.datadir import persistent_files
from faas.errors import FaasError, ResourceConflict
from faas.store.engine import copy_sqlite, sqlite_file, url_kind
from faas.store.schema import schema_revisions

log = logging.getLogger(__name__)

STAGING_PREFIX = ".backup-"


@dataclass(frozen=True, slots=True)
class NodeFiles:
    """Where this node's state lives (from the settings)."""

    data_dir: Path
    store_url: str
    master_key: Path
    credentials: Path


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A staged backup, ready to stream."""

    manifest: Manifest
    pieces: tuple[Piece, ...]
    directory: Path

    @property
    def length(self) -> int:
        return archive_length(self.pieces)


class NodeBackup:
    def __init__(
        self,
        files: NodeFiles,
        engine: Engine,
        *,
        drain: Callable[[], Awaitable[None]],
        content_hold: asyncio.Lock,
        faas_version: str,
    ) -> None:
        self._files = files
        self._engine = engine
        self._drain = drain
        self._content_hold = content_hold
        self._faas_version = faas_version
        self._database = url_kind(files.store_url)
        self._running = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Snapshot]:
        """Stage a consistent copy (removed again when the block ends)."""
        if self._running.locked():
            raise ResourceConflict("a backup of this server is running; try again once it is done")
        async with self._running:
            # Every invocation answered so far: in the database before the snapshot.
            await self._drain()
            staging = self._files.data_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
            try:
                async with self._content_hold:
                    staged, revisions = await asyncio.to_thread(self._stage, staging)
                yield await asyncio.to_thread(self._describe, staging, staged, revisions)
            finally:
                await asyncio.to_thread(shutil.rmtree, staging, True)

    async def write(self, snapshot: Snapshot, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Stream the archive; `send` applies the back-pressure."""
        for piece in snapshot.pieces:
            if isinstance(piece, bytes):
                await send(piece)
            else:
                await _send_file(piece, send)

    def _stage(self, staging: Path) -> tuple[list[StagedFile], tuple[str, ...]]:
        """Blocking: the database snapshot, then links to every file it may name."""
        _remove_stale_staging(self._files.data_dir)
        staging.mkdir(mode=0o700)
        staged: list[StagedFile] = []
        if self._database == "sqlite":
            target = staging / DATABASE_MEMBER
            target.parent.mkdir(mode=0o700)
            copy_sqlite(self._engine, target)
            staged.append(StagedFile(DATABASE_MEMBER, target, target.stat().st_size))
        revisions = schema_revisions(self._engine)
        data_dir = self._files.data_dir
        for relative in persistent_files(data_dir):
            if self._is_database_file(data_dir / relative):
                continue
            member = data_member(relative)
            linked = _linked(data_dir / relative, staging / member, member)
            if linked is not None:
                staged.append(linked)
        for member, source in (
            (MASTER_KEY_MEMBER, self._files.master_key),
            (CREDENTIALS_MEMBER, self._files.credentials),
        ):
            if source.is_file():
                staged.append(_copied(source, staging / member, member))
        return staged, revisions

    def _is_database_file(self, path: Path) -> bool:
        """A SQLite database kept in the data directory under another name than faas.db
        (store.url): copied through its backup API, never as files."""
        database = sqlite_file(self._files.store_url)
        if database is None:
            return False
        names = {database.name + suffix for suffix in ("", "-wal", "-shm", "-journal")}
        return path.parent.resolve() == database.parent and path.name in names

    def _describe(
        self, staging: Path, staged: list[StagedFile], revisions: tuple[str, ...]
    ) -> Snapshot:
        """Blocking: hash what was staged and lay the archive out."""
        files = tuple(ArchivedFile(s.member, s.size, file_sha256(s.source)) for s in staged)
        now = time.time()
        manifest = Manifest(
            faas_version=self._faas_version,
            schema_revisions=revisions,
            created_at=dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            database=self._database,
            files=files,
        )
        log.info(
            "backup: %d files, %d bytes, database %s at schema %s",
            len(files),
            manifest.total_bytes,
            self._database,
            ", ".join(revisions) or "none",
        )
        return Snapshot(manifest, tuple(archive_pieces(manifest, staged, int(now))), staging)


class BackupCutShort(FaasError):
    """A staged file changed size while it was streamed (the answer is then cut short)."""


async def _send_file(staged: StagedFile, send: Callable[[bytes], Awaitable[None]]) -> None:
    stream = await asyncio.to_thread(staged.source.open, "rb")
    sent = 0
    try:
        while sent < staged.size:
            chunk = await asyncio.to_thread(stream.read, min(CHUNK, staged.size - sent))
            if not chunk:
                break
            await send(chunk)
            sent += len(chunk)
    finally:
        stream.close()
    if sent != staged.size:
        raise BackupCutShort(f"{staged.member} changed while it was backed up")


def _linked(source: Path, target: Path, member: str) -> StagedFile | None:
    """A hard link (the file can then be deleted from the data directory without the backup
    losing it), or a copy where the file system refuses links; None when the file went
    since it was listed (nothing the database names: those stay while the hold is held)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        try:
            os.link(source, target)
        except FileNotFoundError:
            raise
        except OSError:
            shutil.copyfile(source, target)
    except FileNotFoundError:
        return None
    return StagedFile(member, target, target.stat().st_size)


def _copied(source: Path, target: Path, member: str) -> StagedFile:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return StagedFile(member, target, target.stat().st_size)


def _remove_stale_staging(data_dir: Path) -> None:
    """Staging left by a backup that a crash or a kill interrupted (one runs at a time, so any
    found now is such a leftover)."""
    for entry in data_dir.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(entry, ignore_errors=True)
