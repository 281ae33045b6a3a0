"""The manifest: what an archive says about itself, refused in one line when it is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from faas.backup.manifest import (
    FORMAT_VERSION,
    ArchivedFile,
    BackupProblem,
    Manifest,
    member_path_allowed,
    parse_manifest,
)

SHA = "ab" * 32


def manifest_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        Manifest(
            faas_version="1.2.3",
            schema_revisions=("0016",),
            created_at="2025-01-31T12:00:00Z",
            database="sqlite",
            files=(ArchivedFile("database/faas.db", 10, SHA),),
        ).to_json()
    )
    document.update(changes)
    return document


def test_a_manifest_reads_back_as_written() -> None:
    written = Manifest(
        faas_version="1.2.3",
        schema_revisions=("0016",),
        created_at="2025-01-31T12:00:00Z",
        database="postgresql",
        files=(ArchivedFile("keys/master.key", 44, SHA), ArchivedFile("data/code/a.zip", 3, SHA)),
    )
    assert parse_manifest(written.to_json()) == written
    assert written.total_bytes == 47


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, "1", None])
def test_another_format_version_is_refused_naming_the_faas_that_made_it(version: Any) -> None:
    raw = json.dumps(manifest_document(format=version)).encode()
    with pytest.raises(
        BackupProblem, match=r"backup format .* faas version that made it \(1.2.3\)"
    ):
        parse_manifest(raw)


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"files": "everything"}, "no files list"),
        ({"files": [{"path": "data/x", "size": -1, "sha256": SHA}]}, "no size for data/x"),
        ({"files": [{"path": "data/x", "size": True, "sha256": SHA}]}, "no size for data/x"),
        ({"files": [{"path": "data/x", "size": 1, "sha256": "nope"}]}, "no sha256 for data/x"),
        ({"files": [{"path": "data/../etc/passwd", "size": 1, "sha256": SHA}]}, "unsafe path"),
        ({"files": [{"path": "/etc/passwd", "size": 1, "sha256": SHA}]}, "unsafe path"),
        (
            {"files": [{"path": "data/x", "size": 1, "sha256": SHA}] * 2},
            "lists a file twice",
        ),
        ({"database": "mysql"}, "unknown database 'mysql'"),
        ({"schema_revisions": "0016"}, "no schema_revisions list"),
        ({"created_at": 5}, "no created_at"),
    ],
)
def test_a_damaged_manifest_is_refused_saying_what_is_wrong(
    changes: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(BackupProblem, match=complaint):
        parse_manifest(json.dumps(manifest_document(**changes)).encode())


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]"])
def test_what_is_not_a_json_object_is_a_corrupt_archive(raw: bytes) -> None:
    with pytest.raises(BackupProblem, match="corrupt archive"):
        parse_manifest(raw)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("database/faas.db", True),
        ("keys/master.key", True),
        ("keys/credentials", True),
        ("data/code/abc.zip", True),
        ("data/layers/x/y.zip", True),
        ("data/", False),
        ("data/a//b", False),
        ("data/./a", False),
        ("data/a/../../b", False),
        ("keys/other", False),
        ("database/other.db", False),
        ("data\\a", False),
    ],
)
def test_only_fixed_members_and_plain_paths_under_data_are_allowed(
    path: str, allowed: bool
) -> None:
    assert member_path_allowed(path) is allowed
