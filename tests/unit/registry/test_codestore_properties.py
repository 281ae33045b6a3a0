"""The zip validator against generated archives: hostile member names, symlinks, duplicates,
bombs and headers that lie. Whatever the archive, the store either keeps it exactly or refuses
it with InvalidParameterValue: never another exception, never a file outside its root, never
more bytes on disk than the unzipped limit."""

from __future__ import annotations

import io
import os
import stat
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from faas.domain import Limits
from faas.errors import InvalidParameterValue
from faas.registry.codestore import CodeStore, force_rmtree

FILE = stat.S_IFREG | 0o644
LINK = stat.S_IFLNK | 0o777
DIRECTORY = stat.S_IFDIR | 0o755
MAX_UNZIPPED = 64 * 1024
LIMITS = Limits(max_unzipped_bytes=MAX_UNZIPPED, max_zip_bytes=256 * 1024)
# Offsets of the fields a lying header changes: the local header's CRC, compressed and
# uncompressed sizes (14, 18, 22) and the central directory's (16, 20, 24).
LOCAL_FIELDS = (14, 18, 22)
CENTRAL_FIELDS = (16, 20, 24)

_SEGMENTS = st.sampled_from(
    ["app.py", "pkg", "a", "b", "..", ".", "", "x" * 300, "a\x00b", "C:", "..\\..", "é"]
)
_SAFE_NAMES = st.sampled_from(["app.py", "lib/util.py", "pkg/__init__.py", "data.bin", "bin/x"])
_NAMES = st.one_of(
    _SAFE_NAMES,
    _SAFE_NAMES,
    st.lists(_SEGMENTS, min_size=1, max_size=4).map("/".join),
    st.sampled_from(["/etc/passwd", "//x", "a/../../x", "./app.py", "app.py", "pkg/"]),
    st.text(min_size=1, max_size=40),
)
_LINK_TARGETS = st.sampled_from(
    ["app.py", "../x", "/etc", ".", "a/../..", "pkg/../app.py", "", "a\x00b", "x" * 5000]
)


@dataclass(frozen=True)
class Entry:
    name: str
    content: bytes
    mode: int


_ENTRIES = st.one_of(
    st.builds(Entry, _NAMES, st.binary(max_size=64), st.just(FILE)),
    st.builds(Entry, _NAMES, _LINK_TARGETS.map(str.encode), st.just(LINK)),
    st.builds(
        Entry, _NAMES.map(lambda name: name.rstrip("/") + "/"), st.just(b""), st.just(DIRECTORY)
    ),
    # A bomb: highly compressible, more than the unzipped limit once inflated.
    st.builds(Entry, _NAMES, st.just(bytes(4 * MAX_UNZIPPED)), st.just(FILE)),
)


def build_zip(entries: list[Entry], compression: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", compression) as archive:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are on purpose
        for entry in entries:
            info = zipfile.ZipInfo(entry.name)
            info.external_attr = entry.mode << 16
            info.compress_type = compression
            archive.writestr(info, entry.content)
    return buffer.getvalue()


@st.composite
def lies(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with one header field (CRC or a size, local or central) overwritten."""
    marker, fields = draw(
        st.sampled_from([(b"PK\x03\x04", LOCAL_FIELDS), (b"PK\x01\x02", CENTRAL_FIELDS)])
    )
    starts = [i for i in range(len(data)) if data.startswith(marker, i)]
    if not starts:
        return data
    start = draw(st.sampled_from(starts)) + draw(st.sampled_from(fields))
    value = draw(
        st.sampled_from([0, 1, 10, MAX_UNZIPPED * 8, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1)
    )
    changed = bytearray(data)
    changed[start : start + 4] = value.to_bytes(4, "little")
    return bytes(changed)


@st.composite
def archives(draw: st.DrawFn) -> tuple[bytes, list[Entry], bool]:
    entries = draw(st.lists(_ENTRIES, min_size=1, max_size=6))
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    data = build_zip(entries, compression)
    lying = draw(st.booleans())
    return (draw(lies(data)) if lying else data), entries, lying


def tree(root: Path) -> dict[str, Path]:
    found = {}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory, name)
            found[str(path.relative_to(root))] = path
    return found


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(archives())
def test_an_archive_is_kept_exactly_or_refused(archive: tuple[bytes, list[Entry], bool]) -> None:
    data, entries, lying = archive
    with tempfile.TemporaryDirectory() as scratch:
        workspace = Path(scratch)
        root = workspace / "code"
        store = CodeStore(root, LIMITS)
        try:
            info = store.put(data)
        except InvalidParameterValue:
            info = None
        event("refused" if info is None else "kept")
        try:
            assert set(tree(workspace)) <= {"code"} | {f"code/{p}" for p in tree(root)}
            if info is not None:
                check_kept(Path(info.code_dir), info.files, entries, lying)
        finally:
            force_rmtree(workspace)


def check_kept(code_dir: Path, files: tuple[str, ...], entries: list[Entry], lying: bool) -> None:
    on_disk = tree(code_dir)
    for name, path in on_disk.items():
        # Links resolve inside the tree (a loop among them stays inside, harmlessly).
        assert Path(os.path.realpath(path)).is_relative_to(os.path.realpath(code_dir)), name
    # What the archive held, less the bytecode the store compiles for the runtime.
    kept = {name: path for name, path in on_disk.items() if "__pycache__" not in name}
    regular = {name for name, path in kept.items() if path.is_symlink() or not path.is_dir()}
    assert regular == set(files)
    written = sum(path.lstat().st_size for path in kept.values() if path.is_file())
    assert written <= MAX_UNZIPPED
    if lying:
        return  # accepted despite a changed header: what zipfile could read, within bounds
    by_name = {entry.name.removeprefix("./"): entry for entry in entries}
    for name in regular:
        entry = by_name.get(name)
        if entry is not None and entry.mode == FILE:
            assert (code_dir / name).read_bytes() == entry.content, name
