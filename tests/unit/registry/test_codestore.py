from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from faas.domain import MB, Limits
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.registry.codestore import NOT_A_ZIP, CodeStore

Entry = tuple[str, bytes, int]  # name, content, unix mode (with file type bits)
FILE = stat.S_IFREG | 0o644
EXECUTABLE = stat.S_IFREG | 0o755
LINK = stat.S_IFLNK | 0o777
DIRECTORY = stat.S_IFDIR | 0o755


def make_zip(*entries: Entry, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = compression
            archive.writestr(info, content)
    return buffer.getvalue()


def good_zip() -> bytes:
    return make_zip(
        ("app.py", b"def handler(event, context):\n    return event\n", FILE),
        ("bin/tool", b"#!/bin/sh\necho hi\n", EXECUTABLE),
        ("pkg/", b"", DIRECTORY),
        ("pkg/__init__.py", b"", FILE),
        ("pkg/mod.py", b"X = 1\n", FILE),
    )


def listing(root: Path) -> list[str]:
    found = []
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "code"


@pytest.fixture
def store(root: Path) -> CodeStore:
    return CodeStore(root, Limits())


def test_put_extracts_a_read_only_tree(store: CodeStore, root: Path) -> None:
    data = good_zip()
    info = store.put(data)

    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert info.files == ("app.py", "bin/tool", "pkg/__init__.py", "pkg/mod.py")
    tree = Path(info.code_dir)
    assert tree == root / info.sha256
    assert (tree / "pkg" / "mod.py").read_bytes() == b"X = 1\n"
    assert mode_of(tree) == 0o555
    assert mode_of(tree / "pkg") == 0o555
    assert mode_of(tree / "bin") == 0o555
    assert mode_of(tree / "app.py") == 0o444
    assert mode_of(tree / "bin" / "tool") == 0o555
    assert store.zip_bytes(info.sha256) == data
    assert [p for p in listing(root) if "__pycache__" not in p] == sorted(
        [
            f"{info.sha256}.zip",
            info.sha256,
            *(f"{info.sha256}/{name}" for name in ("app.py", "bin", "pkg")),
            *(f"{info.sha256}/{name}" for name in ("bin/tool", "pkg/__init__.py", "pkg/mod.py")),
        ]
    )
    # Sources are byte-compiled once at deploy, read-only, so no cold start compiles them.
    compiled = sorted((tree / "pkg" / "__pycache__").iterdir())
    assert [c.name.split(".")[0] for c in compiled] == ["__init__", "mod"]
    assert all(mode_of(c) == 0o444 for c in compiled)
    assert mode_of(tree / "pkg" / "__pycache__") == 0o555


def test_put_twice_is_idempotent(store: CodeStore, root: Path) -> None:
    data = good_zip()
    first = store.put(data)
    zip_stat = (root / f"{first.sha256}.zip").stat()
    dir_stat = (root / first.sha256).stat()
    before = listing(root)

    assert store.put(data) == first

    assert listing(root) == before
    again = (root / f"{first.sha256}.zip").stat()
    assert (again.st_ino, again.st_mtime_ns) == (zip_stat.st_ino, zip_stat.st_mtime_ns)
    assert (root / first.sha256).stat().st_ino == dir_stat.st_ino


def test_symlink_inside_the_tree_is_kept(store: CodeStore) -> None:
    data = make_zip(
        ("lib/real.py", b"VALUE = 2\n", FILE),
        ("alias.py", b"lib/real.py", LINK),
        ("lib/up.py", b"../alias.py", LINK),
    )
    tree = Path(store.put(data).code_dir)
    assert os.readlink(tree / "alias.py") == "lib/real.py"
    assert (tree / "lib" / "up.py").read_bytes() == b"VALUE = 2\n"


def test_executable_bit_is_the_only_mode_kept(store: CodeStore) -> None:
    data = make_zip(
        ("setuid", b"x", stat.S_IFREG | stat.S_ISUID | 0o777),
        ("writable", b"x", stat.S_IFREG | 0o666),
    )
    tree = Path(store.put(data).code_dir)
    assert mode_of(tree / "setuid") == 0o555
    assert mode_of(tree / "writable") == 0o444


def not_a_zip() -> bytes:
    return b"this is plain text, not an archive" * 10


def truncated_zip() -> bytes:
    return good_zip()[:-30]


def bad_crc_zip() -> bytes:
    content = b"A" * 1000
    data = bytearray(make_zip(("app.py", content, FILE), compression=zipfile.ZIP_STORED))
    position = data.index(content)
    data[position + 500] = ord("B")
    return bytes(data)


def lying_header_zip() -> bytes:
    # The central directory claims 10 bytes for a member that holds 4000.
    content = b"Z" * 4000
    data = bytearray(make_zip(("big.bin", content, FILE), compression=zipfile.ZIP_STORED))
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    return bytes(data)


def bomb_zip() -> bytes:
    # Compresses to about 2 KB; the 1 MiB limit of the store under test is what trips.
    return make_zip(("zeros.bin", bytes(2 * MB), FILE))


def encrypted_zip() -> bytes:
    # zipfile cannot write encrypted members; set the "encrypted" flag bit by hand.
    data = bytearray(make_zip(("secret.py", b"not really encrypted", FILE)))
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    return bytes(data)


def nul_in_link_target_zip() -> bytes:
    return make_zip(("link", b"app.py\x00/../../x", LINK))


REJECTED: dict[str, tuple[Callable[[], bytes], str]] = {
    "not a zip": (not_a_zip, NOT_A_ZIP),
    "truncated": (truncated_zip, NOT_A_ZIP),
    "bad crc": (bad_crc_zip, NOT_A_ZIP),
    "lying header": (lying_header_zip, ""),
    "zip bomb": (bomb_zip, "Unzipped size must be smaller than 1048576 bytes"),
    "encrypted": (encrypted_zip, "Encrypted"),
    "absolute name": (lambda: make_zip(("/etc/cron.d/x", b"x", FILE)), "Absolute"),
    "dotdot name": (lambda: make_zip(("a/../../escape.py", b"x", FILE)), "leaves the code"),
    "dotdot only": (lambda: make_zip(("..", b"x", FILE)), "leaves the code"),
    "backslash dotdot": (lambda: make_zip(("..\\..\\escape.py", b"x", FILE)), "Invalid file"),
    "drive letter": (lambda: make_zip(("C:/Windows/x.py", b"x", FILE)), "Invalid file"),
    "absolute symlink": (lambda: make_zip(("passwd", b"/etc/passwd", LINK)), "points outside"),
    "escaping symlink": (lambda: make_zip(("sub/up", b"../../etc", LINK)), "points outside"),
    "symlink chain": (
        # Each target stays inside when read on its own; followed together they leave.
        lambda: make_zip(("b", b".", LINK), ("a", b"b/..", LINK), ("c", b"a/etc", LINK)),
        "points outside",
    ),
    "write through symlink": (
        lambda: make_zip(("dir", b"sub", LINK), ("sub/", b"", DIRECTORY), ("dir/x", b"x", FILE)),
        "not a directory",
    ),
    "nul in symlink": (nul_in_link_target_zip, "points outside"),
    "empty symlink": (lambda: make_zip(("empty", b"", LINK)), "points outside"),
    "duplicate": (
        lambda: make_zip(("app.py", b"1", FILE), ("./app.py", b"2", FILE)),
        "Duplicate",
    ),
    "file under file": (
        lambda: make_zip(("app.py", b"1", FILE), ("app.py/inner", b"2", FILE)),
        "not a directory",
    ),
    "too many entries": (
        lambda: make_zip(*((f"f{i}.py", b"", FILE) for i in range(6))),
        "at most 5",
    ),
    "too big zipped": (lambda: make_zip(("noise.bin", os.urandom(70_000), FILE)), "Zipped size"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_rejected_zip_leaves_nothing_behind(root: Path, case: str) -> None:
    store = CodeStore(root, Limits(max_unzipped_bytes=1 * MB, max_zip_bytes=64_000), 5)
    store.put(make_zip(("keep.py", b"kept", FILE)))
    before = listing(root)
    build, message = REJECTED[case]

    with pytest.raises(InvalidParameterValue) as caught:
        store.put(build())

    assert message in caught.value.message
    assert listing(root) == before


def test_bomb_is_rejected_before_anything_is_written(root: Path) -> None:
    # The header sum trips before extraction, so not even a staging directory appears.
    store = CodeStore(root, Limits(max_unzipped_bytes=1 * MB))
    with pytest.raises(InvalidParameterValue, match="Unzipped size"):
        store.put(bomb_zip())
    assert not root.exists() or listing(root) == []


def test_code_dir_reextracts_a_missing_tree(store: CodeStore, root: Path) -> None:
    info = store.put(good_zip())
    tree = Path(info.code_dir)
    for directory, _subdirs, _files in os.walk(tree):
        os.chmod(directory, 0o755)
    shutil.rmtree(tree)

    assert store.code_dir(info.sha256) == tree
    assert (tree / "app.py").read_bytes().startswith(b"def handler")
    assert mode_of(tree) == 0o555


def test_code_dir_of_unknown_code_is_not_found(store: CodeStore) -> None:
    with pytest.raises(ResourceNotFound):
        store.code_dir("0" * 64)
    with pytest.raises(ResourceNotFound):
        store.code_dir("../../etc")
    with pytest.raises(ResourceNotFound):
        store.zip_bytes("f" * 64)


def test_remove_deletes_zip_and_read_only_tree(store: CodeStore, root: Path) -> None:
    kept = store.put(make_zip(("other.py", b"", FILE)))
    info = store.put(good_zip())

    store.remove(info.sha256)

    assert not (root / info.sha256).exists()
    assert not (root / f"{info.sha256}.zip").exists()
    assert store.code_dir(kept.sha256).is_dir()
    store.remove(info.sha256)  # already gone: no error
