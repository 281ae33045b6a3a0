"""The archive: a tar that standard tools read, checked whole against its manifest."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from faas.backup.archive import RECORD, read_archive
from faas.backup.manifest import BackupProblem
from tests.helpers.backups import make_archive

FILES = {
    "database/faas.db": b"SQLite format 3\0" + b"x" * 5000,
    "data/code/" + "a" * 64 + ".zip": b"PK" + b"z" * 1500,
    "keys/master.key": b"c2VjcmV0\n",
}


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive of FILES."""
    path = tmp_path / "backup.tar"
    make_archive(path, FILES)
    return path


def test_the_archive_is_a_tar_other_tools_read_with_the_manifest_first(
    tmp_path: Path, archive: Path
) -> None:
    assert archive.stat().st_size % RECORD == 0
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["manifest.json", *FILES]
        for member, content in FILES.items():
            extracted = tar.extractfile(member)
            assert extracted is not None and extracted.read() == content
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        assert [f["path"] for f in json.load(manifest)["files"]] == list(FILES)


def test_a_whole_archive_reads_back_and_each_file_reaches_its_sink(tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar"
    written = make_archive(archive, FILES)
    copies: dict[str, io.BytesIO] = {}

    def sink(listed):  # type: ignore[no-untyped-def]
        return copies.setdefault(listed.path, io.BytesIO())

    assert read_archive(archive, sink) == written
    assert {path: copy.getvalue() for path, copy in copies.items()} == FILES


def test_a_compressed_copy_reads_too(tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar"
    written = make_archive(archive, FILES)
    compressed = tmp_path / "backup.tar.gz"
    compressed.write_bytes(gzip.compress(archive.read_bytes()))
    assert read_archive(compressed) == written


@pytest.mark.parametrize("keep", [100, 512 + 300, 3000, 6700])
def test_a_truncated_archive_is_refused_in_one_line(
    tmp_path: Path, archive: Path, keep: int
) -> None:
    archive.write_bytes(archive.read_bytes()[:keep])
    with pytest.raises(BackupProblem, match="truncated") as refused:
        read_archive(archive)
    assert "\n" not in refused.value.message


def test_an_archive_cut_at_a_member_boundary_is_refused_naming_what_is_missing(
    tmp_path: Path,
    archive: Path,
) -> None:
    with tarfile.open(archive) as tar:
        last = tar.getmembers()[-1]
    archive.write_bytes(archive.read_bytes()[: last.offset] + b"\0" * 1024)
    with pytest.raises(BackupProblem, match=r"truncated: 1 file.*keys/master.key"):
        read_archive(archive)


def test_a_changed_byte_is_refused_naming_the_file(tmp_path: Path, archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    position = data.index(b"zzzz")
    data[position] = ord("y")
    archive.write_bytes(bytes(data))
    with pytest.raises(BackupProblem, match=r"data/code/a+\.zip .* does not match its sha256"):
        read_archive(archive)


def test_a_file_the_manifest_does_not_list_is_refused(tmp_path: Path, archive: Path) -> None:
    extra = tmp_path / "extra.tar"
    with tarfile.open(archive) as source, tarfile.open(extra, "w") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member))
        stray = tarfile.TarInfo("data/stray")
        stray.size = 2
        target.addfile(stray, io.BytesIO(b"hi"))
    with pytest.raises(BackupProblem, match="'data/stray', which its manifest does not list"):
        read_archive(extra)


@pytest.mark.parametrize(
    "content", [b"", b"not a tar at all" * 100, gzip.compress(b"still not a tar" * 100)]
)
def test_what_is_not_a_backup_archive_is_refused(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "backup.tar"
    archive.write_bytes(content)
    with pytest.raises(BackupProblem, match="not a whole faas backup"):
        read_archive(archive)


def test_a_tar_that_does_not_start_with_a_manifest_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "other.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("notes.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"notes"))
    with pytest.raises(BackupProblem, match=r"does not start with manifest\.json"):
        read_archive(archive)


def test_a_missing_archive_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackupProblem, match="no such file"):
        read_archive(tmp_path / "nothing.tar")
