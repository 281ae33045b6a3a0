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
    found = scan(str(tmp_path)).files
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
        found = scan(str(tmp_path)).files
        identities = {key: f.identity for key, f in found.items()}
        assert open_for_writing(identities.values()) == {identities["writing"]}
    assert open_for_writing(identities.values()) == set()
    assert open_for_writing([]) == set()
    del writer


def test_names_that_are_not_utf8_or_too_long_are_not_keys(tmp_path: Path) -> None:
    os.close(os.open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg"), os.O_CREAT, 0o644))
    (tmp_path / ("k" * 1025)[:255]).write_bytes(b"fine: 255 bytes")
    deep = tmp_path.joinpath(*["d" * 250] * 5)
    deep.mkdir(parents=True)
    (deep / "too-long.jpg").write_bytes(b"over 1024 bytes as a key")
    assert sorted(scan(str(tmp_path)).files) == ["k" * 255]


def test_a_directory_swapped_for_a_link_is_never_followed(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    (bucket / "sub").mkdir(parents=True)
    (bucket / "sub" / "f.txt").write_bytes(b"inside")
    seen = stat_file(str(bucket), "sub/f.txt")
    assert seen is not None
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "f.txt").write_bytes(b"inside")  # the same size: only the link tells
    os.rename(bucket / "sub", bucket / "sub2")
    os.symlink(secret, bucket / "sub")
    assert stat_file(str(bucket), "sub/f.txt") is None
    assert etag_of(str(bucket), seen) is None


def test_a_fifo_never_blocks_the_etag(tmp_path: Path) -> None:
    (tmp_path / "p").write_bytes(b"x")
    seen = stat_file(str(tmp_path), "p")
    assert seen is not None
    (tmp_path / "p").unlink()
    os.mkfifo(tmp_path / "p")
    assert etag_of(str(tmp_path), seen) is None
    assert stat_file(str(tmp_path), "p") is None


def test_an_unreadable_directory_is_unknown_not_empty(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every directory")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "a.jpg").write_bytes(b"a")
    (tmp_path / "locked").chmod(0)
    try:
        walked = scan(str(tmp_path))
        assert walked.unreadable == ("locked",)
        assert not walked.covers("locked/a.jpg") and walked.covers("other.jpg")
    finally:
        (tmp_path / "locked").chmod(0o755)
