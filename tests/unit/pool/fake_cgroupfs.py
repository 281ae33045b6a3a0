"""A fake cgroup2 mount: plain directories and files in tmp_path, plus the few kernel rules
faas relies on, so the v2 code can be tested on hosts whose cgroup2 has no controllers.

While installed, os.mkdir, os.rmdir, os.write and os.access act like cgroupfs for paths
under the fake mount (and unchanged everywhere else):
- mkdir makes a cgroup: core files, plus the controller files of every controller the
  parent's cgroup.subtree_control enables;
- rmdir refuses a cgroup with processes or child cgroups (EBUSY) and takes its files along;
- a write to cgroup.procs moves that process (ESRCH when it does not exist; EBUSY into a
  non-root cgroup that enables controllers for its children);
- a write to cgroup.subtree_control enables controllers: ENOENT for one the cgroup does not
  have, EBUSY while a non-root cgroup holds processes;
- a write to cgroup.kill empties the cgroup and its descendants (as if the processes died;
  nothing is signalled) and is recorded;
- a write to cgroup.freeze is recorded, and cgroup.events says frozen 1 or 0 after it;
- any other write replaces the file's content; interface files are never created;
- with `unprivileged`, access() answers by the files' "other" permission bits.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

ROOT_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids")
MEMORY_EVENTS = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"


class FakeCgroupFs:
    def __init__(
        self,
        mount: Path,
        monkeypatch: pytest.MonkeyPatch,
        *,
        controllers: Iterable[str] = ROOT_CONTROLLERS,
        swap: bool = True,
        cgroup_kill: bool = True,
        cgroup_freeze: bool = True,
    ) -> None:
        self.mount = mount
        self.swap = swap
        self.cgroup_kill = cgroup_kill
        self.cgroup_freeze = cgroup_freeze
        self.freezes: list[tuple[Path, str]] = []  # (cgroup, "1" or "0") per write
        self.unprivileged = False
        self.moves: list[tuple[int, Path]] = []  # (pid, cgroup) per write to cgroup.procs
        self.kills: list[Path] = []  # cgroups written to cgroup.kill
        self.fail_enable: dict[Path, int] = {}  # cgroup -> errno its next enable fails with
        self._real_mkdir = os.mkdir
        self._real_rmdir = os.rmdir
        self._real_write = os.write
        self._real_access = os.access
        mount.mkdir(parents=True)
        # The root cgroup: no cgroup.type, cgroup.events or cgroup.kill, as on a real mount.
        self._files(mount, {"cgroup.controllers": " ".join(controllers)})
        self._files(mount, {"cgroup.subtree_control": "", "cgroup.procs": ""})
        monkeypatch.setattr(os, "mkdir", self._mkdir)
        monkeypatch.setattr(os, "rmdir", self._rmdir)
        monkeypatch.setattr(os, "write", self._write)
        monkeypatch.setattr(os, "access", self._access)

    # -- what a test sets up and reads -------------------------------------------------

    def mountinfo(self, root: str = "/") -> str:
        return (
            "25 1 254:1 / / rw,relatime - ext4 /dev/vda rw\n"
            f"99 25 0:99 {root} {self.mount} rw,nosuid,nodev - cgroup2 cgroup2 rw\n"
        )

    def make(self, relative: str, *, procs: Iterable[int] = (), enable: str = "") -> Path:
        """A cgroup (and its parents) with these processes and subtree_control."""
        path = self.mount / relative.strip("/")
        current = self.mount
        for part in path.relative_to(self.mount).parts:
            current = current / part
            if not current.exists():
                os.mkdir(current)
        if enable:
            self._enable(path, enable)
        self.place(path, procs)
        return path

    def place(self, cgroup: Path, procs: Iterable[int]) -> None:
        """Put processes in a cgroup directly (what was there before faas started)."""
        listed = self.procs(cgroup) + list(procs)
        (cgroup / "cgroup.procs").write_text("".join(f"{p}\n" for p in listed))
        self._update_populated()

    def procs(self, cgroup: Path) -> list[int]:
        return [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]

    def enabled(self, cgroup: Path) -> set[str]:
        return set((cgroup / "cgroup.subtree_control").read_text().split())

    def read(self, path: Path) -> str:
        return path.read_text()

    # -- the kernel's side ---------------------------------------------------------------

    def _under(self, path: Any) -> bool:
        try:
            return Path(os.fsdecode(path)).resolve().is_relative_to(self.mount.resolve())
        except (TypeError, ValueError):
            return False

    def _mkdir(self, path: Any, mode: int = 0o777, **kwargs: Any) -> None:
        self._real_mkdir(path, mode, **kwargs)
        if self._under(path):
            self._populate(Path(os.fsdecode(path)))

    def _populate(self, cgroup: Path) -> None:
        enabled = self.enabled(cgroup.parent)
        self._files(
            cgroup,
            {
                "cgroup.procs": "",
                "cgroup.controllers": " ".join(sorted(enabled)),
                "cgroup.subtree_control": "",
                "cgroup.events": "populated 0\nfrozen 0\n",
                "cgroup.type": "domain\n",
            },
        )
        if self.cgroup_kill:
            self._files(cgroup, {"cgroup.kill": ""}, mode=0o200)
        if self.cgroup_freeze:
            self._files(cgroup, {"cgroup.freeze": "0\n"})
        self._controller_files(cgroup, enabled)

    def _controller_files(self, cgroup: Path, controllers: set[str]) -> None:
        if "memory" in controllers:
            files = {
                "memory.max": "max\n",
                "memory.current": "0\n",
                "memory.oom.group": "0\n",
                "memory.events": MEMORY_EVENTS,
            }
            if self.swap:
                files["memory.swap.max"] = "max\n"
            self._files(cgroup, files)
        if "pids" in controllers:
            self._files(cgroup, {"pids.max": "max\n", "pids.current": "0\n"})
        if "cpu" in controllers:
            self._files(cgroup, {"cpu.weight": "100\n", "cpu.max": "max 100000\n"})

    def _files(self, cgroup: Path, files: dict[str, str], mode: int = 0o644) -> None:
        for name, content in files.items():
            if not (cgroup / name).exists():
                (cgroup / name).write_text(content)
                (cgroup / name).chmod(mode)

    def _rmdir(self, path: Any, **kwargs: Any) -> None:
        if not self._under(path):
            self._real_rmdir(path, **kwargs)
            return
        cgroup = Path(os.fsdecode(path))
        if not cgroup.exists():
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(cgroup))
        if self.procs(cgroup) or any(child.is_dir() for child in cgroup.iterdir()):
            raise OSError(errno.EBUSY, "Device or resource busy", str(cgroup))
        for file in cgroup.iterdir():
            file.unlink()
        self._real_rmdir(cgroup)

    def _write(self, fd: int, data: bytes) -> int:
        try:
            path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return self._real_write(fd, data)
        if not self._under(path):
            return self._real_write(fd, data)
        text = bytes(data).decode()
        handlers: dict[str, Callable[[Path, str], None]] = {
            "cgroup.procs": self._move,
            "cgroup.subtree_control": self._enable,
            "cgroup.kill": self._kill,
            "cgroup.freeze": self._freeze,
        }
        handler = handlers.get(path.name)
        if handler is not None:
            handler(path.parent, text)
        else:
            path.write_text(text)
        return len(data)

    def _move(self, cgroup: Path, text: str) -> None:
        pid = int(text)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise ProcessLookupError(errno.ESRCH, "No such process") from None
        if cgroup != self.mount and self.enabled(cgroup):
            raise OSError(errno.EBUSY, "Device or resource busy")
        for procs in self.mount.rglob("cgroup.procs"):
            listed = [int(p) for p in procs.read_text().split()]
            if pid in listed:
                procs.write_text("".join(f"{p}\n" for p in listed if p != pid))
        self.place(cgroup, [pid])
        self.moves.append((pid, cgroup))

    def _enable(self, cgroup: Path, text: str) -> None:
        failure = self.fail_enable.pop(cgroup, None)
        if failure is not None:
            raise OSError(failure, os.strerror(failure))
        enabled = self.enabled(cgroup)
        available = set((cgroup / "cgroup.controllers").read_text().split())
        for token in text.split():
            name = token[1:]
            if token.startswith("+"):
                if name not in available:
                    raise OSError(errno.ENOENT, "No such file or directory")
                if cgroup != self.mount and self.procs(cgroup):
                    raise OSError(errno.EBUSY, "Device or resource busy")
                enabled.add(name)
            else:
                enabled.discard(name)
        order = [c for c in ROOT_CONTROLLERS if c in enabled]
        (cgroup / "cgroup.subtree_control").write_text(" ".join(order) + "\n")
        self._propagate(cgroup)

    def _propagate(self, cgroup: Path) -> None:
        """Children get the controller files of what their parent now enables."""
        enabled = self.enabled(cgroup)
        for child in cgroup.iterdir():
            if child.is_dir():
                (child / "cgroup.controllers").write_text(" ".join(sorted(enabled)))
                self._controller_files(child, enabled)

    def _kill(self, cgroup: Path, text: str) -> None:
        assert text.strip() == "1", text
        self.kills.append(cgroup)
        for procs in cgroup.rglob("cgroup.procs"):
            procs.write_text("")
        self._update_populated()

    def _freeze(self, cgroup: Path, text: str) -> None:
        assert text.strip() in ("0", "1"), text
        self.freezes.append((cgroup, text.strip()))
        (cgroup / "cgroup.freeze").write_text(text)
        self._update_populated()

    def _update_populated(self) -> None:
        for events in self.mount.rglob("cgroup.events"):
            cgroup = events.parent
            populated = any(p.read_text().split() for p in cgroup.rglob("cgroup.procs"))
            freeze = cgroup / "cgroup.freeze"
            frozen = freeze.exists() and freeze.read_text().strip() == "1"
            events.write_text(f"populated {int(populated)}\nfrozen {int(frozen)}\n")

    def _access(self, path: Any, mode: int, **kwargs: Any) -> bool:
        if not (self.unprivileged and self._under(path)):
            return self._real_access(path, mode, **kwargs)
        bits = os.stat(path).st_mode
        wanted = {os.W_OK: stat.S_IWOTH, os.R_OK: stat.S_IROTH, os.X_OK: stat.S_IXOTH}
        return all(bits & bit for flag, bit in wanted.items() if mode & flag)
