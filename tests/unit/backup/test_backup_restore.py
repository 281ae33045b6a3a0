"""Restore: only onto a fresh data directory, only a whole archive this faas can run, and
nothing written when it refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faas.backup.manifest import BackupProblem
from faas.backup.restore import RestoreTarget, restore
from faas.datadir import lock_data_dir
from tests.helpers.backups import make_archive

CODE = "data/code/" + "c" * 64 + ".zip"
FILES = {
    "database/faas.db": b"SQLite format 3\0" + b"d" * 3000,
    CODE: b"PK" + b"z" * 700,
    "keys/master.key": b"a2V5\n",
    "keys/credentials": b"[default]\n",
}
KNOWN = frozenset({"0015", "0016"})


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive of FILES."""
    path = tmp_path / "backup.tar"
    make_archive(path, FILES)
    return path


def target_in(data_dir: Path, *, keys_dir: Path | None = None) -> RestoreTarget:
    keys = keys_dir or data_dir
    return RestoreTarget(
        data_dir=data_dir,
        database="sqlite",
        database_file=data_dir / "faas.db",
        master_key=keys / "master.key",
        credentials=keys / "credentials",
    )


def postgres_target(data_dir: Path) -> RestoreTarget:
    return RestoreTarget(
        data_dir, "postgresql", None, data_dir / "master.key", data_dir / "credentials"
    )


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_each_file_goes_to_its_place_readable_by_its_owner_only(tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar"
    written = make_archive(archive, FILES)
    data_dir = tmp_path / "node"
    assert restore(archive, target_in(data_dir), KNOWN) == written
    assert tree(data_dir) == {
        "faas.db": FILES["database/faas.db"],
        "code/" + "c" * 64 + ".zip": FILES[CODE],
        "master.key": FILES["keys/master.key"],
        "credentials": FILES["keys/credentials"],
        "faas.lock": (data_dir / "faas.lock").read_bytes(),  # held while unpacking
    }
    for path in data_dir.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path


def test_keys_configured_outside_the_data_directory_go_there(tmp_path: Path, archive: Path) -> None:
    keys_dir = tmp_path / "etc-faas"
    restore(archive, target_in(tmp_path / "node", keys_dir=keys_dir), KNOWN)
    assert (keys_dir / "master.key").read_bytes() == FILES["keys/master.key"]
    assert not (tmp_path / "node" / "master.key").exists()


def test_an_existing_key_outside_the_data_directory_is_never_overwritten(
    tmp_path: Path, archive: Path
) -> None:
    keys_dir = tmp_path / "etc-faas"
    keys_dir.mkdir()
    (keys_dir / "master.key").write_bytes(b"the key in use\n")
    with pytest.raises(BackupProblem, match=r"master.key exists; a restore does not overwrite"):
        restore(archive, target_in(tmp_path / "node", keys_dir=keys_dir), KNOWN)
    assert (keys_dir / "master.key").read_bytes() == b"the key in use\n"
    assert not (tmp_path / "node").exists()


def test_a_data_directory_that_holds_anything_is_refused_and_left_alone(
    tmp_path: Path, archive: Path
) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    (data_dir / "faas.db").write_bytes(b"a node's own database")
    with pytest.raises(BackupProblem, match=r"node is not empty; restore into a new or empty"):
        restore(archive, target_in(data_dir), KNOWN)
    assert tree(data_dir) == {"faas.db": b"a node's own database"}


def test_a_data_directory_a_server_holds_is_refused_naming_it(
    tmp_path: Path, archive: Path
) -> None:
    data_dir = tmp_path / "node"
    held = lock_data_dir(data_dir)
    try:
        with pytest.raises(
            BackupProblem, match=rf"in use by a running faas server \(pid {os.getpid()}\)"
        ):
            restore(archive, target_in(data_dir), KNOWN)
    finally:
        held.release()
    assert sorted(p.name for p in data_dir.iterdir()) == ["faas.lock"]


def test_an_empty_or_lock_only_data_directory_is_fresh(tmp_path: Path, archive: Path) -> None:
    data_dir = tmp_path / "node"
    lock_data_dir(data_dir).release()  # a server that started, then stopped at once
    restore(archive, target_in(data_dir), KNOWN)
    assert (data_dir / "faas.db").read_bytes() == FILES["database/faas.db"]


@pytest.mark.parametrize("keep", [700, 4000])
def test_a_truncated_archive_writes_nothing(tmp_path: Path, archive: Path, keep: int) -> None:
    archive.write_bytes(archive.read_bytes()[:keep])
    with pytest.raises(BackupProblem, match="truncated"):
        restore(archive, target_in(tmp_path / "node"), KNOWN)
    assert not (tmp_path / "node").exists()


def test_a_corrupt_archive_writes_nothing(tmp_path: Path, archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[data.index(b"zzzz")] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(BackupProblem, match="does not match its sha256"):
        restore(archive, target_in(tmp_path / "node"), KNOWN)
    assert not (tmp_path / "node").exists()


def test_a_database_newer_than_this_faas_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar"
    make_archive(archive, FILES, revisions=("0099",))
    with pytest.raises(BackupProblem, match=r"schema revision 0099, newer than this faas knows"):
        restore(archive, target_in(tmp_path / "node"), KNOWN)
    assert not (tmp_path / "node").exists()


def test_an_older_schema_restores_and_is_migrated_at_the_next_start(tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar"
    make_archive(archive, FILES, revisions=("0015",))
    restore(archive, target_in(tmp_path / "node"), KNOWN)
    assert (tmp_path / "node" / "faas.db").exists()


def test_a_postgresql_node_restores_its_files_only_where_the_settings_name_postgresql(
    tmp_path: Path,
) -> None:
    files = {k: v for k, v in FILES.items() if k != "database/faas.db"}
    archive = tmp_path / "backup.tar"
    make_archive(archive, files, database="postgresql")
    with pytest.raises(BackupProblem, match="PostgreSQL, which is not in the archive"):
        restore(archive, target_in(tmp_path / "node"), KNOWN)
    postgres = postgres_target(tmp_path / "pg")
    restore(archive, postgres, KNOWN)
    assert (tmp_path / "pg" / "master.key").read_bytes() == FILES["keys/master.key"]


def test_a_sqlite_node_is_not_restored_under_postgresql_settings(
    tmp_path: Path, archive: Path
) -> None:
    postgres = postgres_target(tmp_path / "pg")
    with pytest.raises(BackupProblem, match=r"SQLite database, but store\.url names postgresql"):
        restore(archive, postgres, KNOWN)
