"""Backup archives made by faas's own archive writer, from files given as bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from faas.backup.archive import StagedFile, archive_pieces
from faas.backup.manifest import ArchivedFile, Manifest


def make_archive(
    path: Path,
    files: Mapping[str, bytes],
    *,
    revisions: tuple[str, ...] = ("0016",),
    database: str = "sqlite",
) -> Manifest:
    """Write the archive of `files` (member -> content) at `path`; returns its manifest."""
    staging = path.parent / f"{path.name}.staging"
    staged = []
    for index, (member, content) in enumerate(files.items()):
        source = staging / str(index)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(content)
        staged.append(StagedFile(member, source, len(content)))
    manifest = Manifest(
        faas_version="0.1.0",
        schema_revisions=revisions,
        created_at="2025-01-31T12:00:00Z",
        database=database,
        files=tuple(
            ArchivedFile(member, len(content), hashlib.sha256(content).hexdigest())
            for member, content in files.items()
        ),
    )
    with path.open("wb") as out:
        for piece in archive_pieces(manifest, staged, mtime=1_700_000_000):
            out.write(piece if isinstance(piece, bytes) else piece.source.read_bytes())
    return manifest
