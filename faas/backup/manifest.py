"""The manifest of a backup archive: what it holds and where it came from.

It is the archive's first member (`manifest.json`), so a reader learns the format before it
reads anything else, and refuses an archive it does not understand at once:

    {"format": 1, "faas_version": "0.1.0", "schema_revisions": ["0016"],
     "created_at": "2025-01-31T12:00:00Z", "database": "sqlite",
     "files": [{"path": "database/faas.db", "size": 8192, "sha256": "..."}, ...]}

`database` is "sqlite" (its copy is `database/faas.db`) or "postgresql" (not in the archive:
PostgreSQL is backed up with its own tools, pg_dump). Member paths say what a file is:
`database/faas.db`, `keys/master.key`, `keys/credentials`, and `data/<path>` for a file of the
data directory at that relative path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from faas.errors import FaasError

FORMAT_VERSION = 1
MANIFEST_MEMBER = "manifest.json"
DATABASE_MEMBER = "database/faas.db"
MASTER_KEY_MEMBER = "keys/master.key"
CREDENTIALS_MEMBER = "keys/credentials"
DATA_PREFIX = "data/"
# A manifest is a list of paths and digests; anything near this size is not one of ours.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
DATABASE_KINDS = ("sqlite", "postgresql")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BackupProblem(FaasError):
    """An archive that cannot be restored, or a target it cannot be restored into."""


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    faas_version: str
    schema_revisions: tuple[str, ...]
    created_at: str
    database: str
    files: tuple[ArchivedFile, ...]
    format: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        document = {
            "format": self.format,
            "faas_version": self.faas_version,
            "schema_revisions": list(self.schema_revisions),
            "created_at": self.created_at,
            "database": self.database,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }
        return json.dumps(document, indent=1).encode()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, path: str) -> ArchivedFile | None:
        return next((f for f in self.files if f.path == path), None)


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest in `raw`, or BackupProblem saying in one line what is wrong with it."""
    try:
        document = json.loads(raw)
    except ValueError:
        raise BackupProblem("the archive's manifest is not JSON: corrupt archive") from None
    if not isinstance(document, Mapping):
        raise BackupProblem("the archive's manifest is not a JSON object: corrupt archive")
    version = document.get("format")
    if version != FORMAT_VERSION:
        raise BackupProblem(
            f"the archive is in backup format {version!r}, and this faas reads format "
            f"{FORMAT_VERSION} only: restore it with the faas version that made it "
            f"({document.get('faas_version', 'unknown')})"
        )
    return Manifest(
        faas_version=_text(document, "faas_version"),
        schema_revisions=tuple(_texts(document, "schema_revisions")),
        created_at=_text(document, "created_at"),
        database=_database(document),
        files=_files(document.get("files")),
    )


def _text(document: Mapping[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str):
        raise BackupProblem(f"the archive's manifest has no {key}: corrupt archive")
    return value


def _texts(document: Mapping[str, Any], key: str) -> list[str]:
    values = document.get(key)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BackupProblem(f"the archive's manifest has no {key} list: corrupt archive")
    return values


def _database(document: Mapping[str, Any]) -> str:
    kind = _text(document, "database")
    if kind not in DATABASE_KINDS:
        raise BackupProblem(f"the archive's manifest names an unknown database {kind!r}")
    return kind


def _files(raw: Any) -> tuple[ArchivedFile, ...]:
    if not isinstance(raw, list):
        raise BackupProblem("the archive's manifest has no files list: corrupt archive")
    files = tuple(_archived_file(entry) for entry in raw)
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise BackupProblem("the archive's manifest lists a file twice: corrupt archive")
    return files


def _archived_file(entry: Any) -> ArchivedFile:
    if not isinstance(entry, Mapping):
        raise BackupProblem("the archive's manifest has a file entry that is not an object")
    path, size, sha256 = entry.get("path"), entry.get("size"), entry.get("sha256")
    if not isinstance(path, str) or not member_path_allowed(path):
        raise BackupProblem(f"the archive's manifest lists an unsafe path {path!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BackupProblem(f"the archive's manifest has no size for {path}")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise BackupProblem(f"the archive's manifest has no sha256 for {path}")
    return ArchivedFile(path, size, sha256)


def member_path_allowed(path: str) -> bool:
    """One of the fixed members, or a relative path under data/ with no '..', '.' or empty
    part (nothing can be written outside the data directory)."""
    if path in (DATABASE_MEMBER, MASTER_KEY_MEMBER, CREDENTIALS_MEMBER):
        return True
    if not path.startswith(DATA_PREFIX) or "\\" in path or "\0" in path:
        return False
    parts = path[len(DATA_PREFIX) :].split("/")
    return all(part not in ("", ".", "..") for part in parts)


def data_member(relative: PurePosixPath) -> str:
    """The archive path of a data directory file."""
    return f"{DATA_PREFIX}{relative.as_posix()}"
