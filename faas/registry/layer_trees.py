"""A function's layers merged into the one tree its workers see at /opt.

Lambda extracts a function's layers into /opt in order, a later layer's file replacing an
earlier one's at the same path. faas builds that tree once per ordered list of layer contents:
a directory named by a hash of the list, made of hard links to the layers' extracted (read-only)
files, so it costs directory entries, not copies. It is built in a temporary directory and
renamed into place, like an extracted code bundle: a tree that exists is complete, and a failed
build leaves nothing behind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path

from faas.registry.codestore import force_rmtree, rename_into_place

# Hard links fail across filesystems (EXDEV) and, with fs.protected_hardlinks, on files the
# platform does not own (EPERM): those are copied instead.
_COPY_INSTEAD = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK})


def tree_name(shas: Sequence[str]) -> str:
    """The tree's directory name: the same list of contents in the same order, the same tree."""
    return hashlib.sha256("\n".join(shas).encode()).hexdigest()


class LayerTrees:
    """Merged /opt trees under `root` (which must be on the layers' filesystem to link)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root

    def tree(self, layers: Sequence[tuple[str, Path]]) -> Path:
        """The merged tree of `layers` ((sha256, extracted directory), first to last),
        built when missing. Blocking."""
        final = self._root / tree_name([sha for sha, _ in layers])
        if final.is_dir():
            return final
        self._root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".merge-", dir=self._root))
        try:
            for _, directory in layers:
                _merge_into(directory, staging)
            _make_read_only(staging)
            rename_into_place(staging, final)
        finally:
            force_rmtree(staging)
        return final

    def remove_unused(self, keep: Collection[str]) -> int:
        """Remove the trees whose paths are not in `keep`; how many went. Blocking."""
        if not self._root.is_dir():
            return 0
        removed = 0
        for entry in self._root.iterdir():
            if entry.name.startswith(".") or str(entry) in keep:
                continue
            force_rmtree(entry)
            removed += 1
        return removed


def _merge_into(source: Path, target: Path) -> None:
    """Lay `source`'s entries over `target`: what `source` has at a path replaces what
    `target` had there (a directory merges into a directory). Nothing is ever written through
    a link: a link in `target` where `source` has a directory is replaced by a directory."""
    with os.scandir(source) as entries:
        for entry in entries:
            destination = target / entry.name
            if entry.is_dir(follow_symlinks=False):
                if not _is_real_dir(destination):
                    _clear(destination)
                    destination.mkdir(mode=0o755)
                _merge_into(Path(entry.path), destination)
                continue
            _clear(destination)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), destination)
            else:
                _link_or_copy(Path(entry.path), destination)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _clear(path: Path) -> None:
    """Remove whatever is at `path` (nothing there is fine)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        force_rmtree(path)
    else:
        path.unlink()


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _COPY_INSTEAD:
            raise
        shutil.copy2(source, destination, follow_symlinks=False)


def _make_read_only(staging: Path) -> None:
    # The files are the layers' own (read-only already); the directories are the tree's.
    for directory, _subdirs, _files in os.walk(staging, topdown=False):
        os.chmod(directory, 0o555)
