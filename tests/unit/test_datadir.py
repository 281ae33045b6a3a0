"""The data directory lock: one holder at a time, named in the refusal, gone with it; and
which files of the directory are state worth copying."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from faas.datadir import (
    DataDirInUse,
    data_dir_holder,
    holds_state,
    lock_data_dir,
    persistent_files,
)


def test_a_second_lock_is_refused_naming_the_holder_until_the_first_is_released(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = lock_data_dir(data_dir)
    assert (data_dir / "faas.lock").read_text() == f"{os.getpid()}\n"
    with pytest.raises(DataDirInUse, match=rf"in use by another faas server \(pid {os.getpid()}\)"):
        lock_data_dir(data_dir)
    first.release()
    lock_data_dir(data_dir).release()


def test_the_lock_file_is_private(tmp_path: Path) -> None:
    held = lock_data_dir(tmp_path / "data")
    try:
        assert (tmp_path / "data" / "faas.lock").stat().st_mode & 0o077 == 0
    finally:
        held.release()


def test_the_probe_of_a_held_directory_names_the_holder_and_writes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert data_dir_holder(data_dir) is None  # no directory at all
    held = lock_data_dir(data_dir)
    before = (data_dir / "faas.lock").stat().st_mtime_ns
    try:
        assert data_dir_holder(data_dir) == f"pid {os.getpid()}"
    finally:
        held.release()
    assert data_dir_holder(data_dir) is None
    assert (data_dir / "faas.lock").stat().st_mtime_ns == before


def test_a_directory_with_only_its_lock_holds_no_state(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert not holds_state(data_dir)
    lock_data_dir(data_dir).release()
    assert not holds_state(data_dir)
    (data_dir / "faas.db").write_bytes(b"")
    assert holds_state(data_dir)


def test_persistent_files_are_the_state_and_not_what_is_made_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code_sha, layer_sha = "a" * 64, "b" * 64
    kept = [
        f"code/{code_sha}.zip",
        f"layers/{layer_sha}.zip",  # a store this module does not name: kept all the same
        "notes/kept.txt",
    ]
    skipped = [
        "faas.lock",
        "faas.db",
        "faas.db-wal",
        "faas.db-shm",
        "master.key",  # copied by its role, wherever the settings put it
        "credentials",
        "journal/00000001.seg",
        "scratch/slot-1-0.img",
        "tmp/1-2/file",
        "net/resolv.conf",
        f"code/{code_sha}/app.py",  # extracted again from the zip beside it
        f"layers/{layer_sha}/python/lib.py",
        "code/.extract-x/app.py",
        "code/.upload-x.zip",
        ".backup-1/database/faas.db",
        "runtime-sdk/python-0123456789abcdef/boto3/__init__.py",  # made at each start
        f"layers/opt/{'c' * 64}/python/lib.py",  # merged again from the layers' contents
    ]
    for name in kept + skipped:
        (data_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / name).write_bytes(b"x")
    (data_dir / "code" / "link.zip").symlink_to(data_dir / "notes" / "kept.txt")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(data_dir / "api.sock"))
        found = persistent_files(data_dir)
    assert [str(path) for path in found] == sorted(kept)


def test_a_tree_named_like_a_sha_without_its_zip_is_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "store" / ("c" * 64)).mkdir(parents=True)
    (data_dir / "store" / ("c" * 64) / "part").write_bytes(b"x")
    assert [str(p) for p in persistent_files(data_dir)] == [f"store/{'c' * 64}/part"]
