"""The data directory lock: one holder at a time, named in the refusal, gone with it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faas.datadir import DataDirInUse, lock_data_dir


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
