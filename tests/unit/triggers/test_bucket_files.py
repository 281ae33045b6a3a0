"""Files in a bucket's directory (faas/triggers/bucket_files.py): keys, ignored names, scans,
eTags."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from faas.triggers.bucket_files import (
    etag_of,
    is_ignored,
    key_of,
    open_for_writing,
    scan,
    stat_file,
)


@pytest.mark.parametrize(
    "key",
    [".hidden.jpg", "a/.git/config", "x.jpg.part", "x.tmp", "notes~", "y.swp", "z.crdownload"],
)
def test_temporary_and_hidden_names_are_ignored(key: str) -> None:
    assert is_ignored(key)


def test_keys_are_relative_to_the_bucket_with_slashes(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert key_of(root, str(tmp_path / "a" / "b c.jpg")) == "a/b c.jpg"
    assert key_of(root, root) is None
    assert key_of(root, str(tmp_path.parent / "elsewhere.jpg")) is None
    assert key_of(root, str(tmp_path / "up.part")) is None


def test_a_scan_finds_regular_files_only_and_skips_ignored_directories(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(b"a")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "b.jpg").write_bytes(b"b")
    (tmp_path / "c.jpg.part").write_bytes(b"c")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jpg"
    outside.write_bytes(b"outside")
    os.symlink(outside, tmp_path / "link.jpg")
    found = scan(str(tmp_path))
    assert sorted(found) == ["in/a.jpg"]
    assert found["in/a.jpg"].version.size == 1
    assert stat_file(str(tmp_path), "link.jpg") is None


def test_a_missing_bucket_directory_is_an_error_not_an_empty_bucket(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        scan(str(tmp_path / "gone"))


def test_the_etag_is_the_md5_of_the_version_seen(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 3_000_000)
    seen = stat_file(str(tmp_path), "f.bin")
    assert seen is not None
    assert etag_of(str(tmp_path), seen) == hashlib.md5(b"x" * 3_000_000).hexdigest()
    # Changed since it was seen, or replaced by a link to a file outside: no eTag.
    (tmp_path / "f.bin").write_bytes(b"y")
    assert etag_of(str(tmp_path), seen) is None
    outside = tmp_path.parent / f"{tmp_path.name}-secret"
    outside.write_bytes(b"secret")
    (tmp_path / "f.bin").unlink()
    os.symlink(outside, tmp_path / "f.bin")
    assert etag_of(str(tmp_path), seen) is None
    (tmp_path / "f.bin").unlink()
    assert etag_of(str(tmp_path), seen) is None


def test_files_open_for_writing_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "reading").write_bytes(b"r")
    with (tmp_path / "writing").open("ab") as writer, (tmp_path / "reading").open("rb"):
        found = scan(str(tmp_path))
        identities = {key: f.identity for key, f in found.items()}
        assert open_for_writing(identities.values()) == {identities["writing"]}
    assert open_for_writing(identities.values()) == set()
    assert open_for_writing([]) == set()
    del writer
