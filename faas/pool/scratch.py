"""Disk-backed /tmp for workers: a pool of size-capped ext4 images, loop-mounted ahead of time.

Lambda's /tmp is disk, not memory. A tmpfs would be charged to the worker's memory cgroup, so
each worker instead gets a slot: an ext4 filesystem in a sparse image file of exactly its
EphemeralStorage size, mounted under the data directory and bound onto /tmp inside the
worker's mount namespace. Writing past the size fails with ENOSPC inside the function and
never fills the host disk beyond it. Formatting (~6 ms) and mounting (~8 ms) happen off the
request path where possible; a released slot is wiped and reused, unmounting (~270 ms) only
happens at shutdown or when too many slots sit idle.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from faas.pool.cgroups import process_alive

log = logging.getLogger(__name__)

MAX_IDLE_SLOTS_PER_SIZE = 8
# How long after a slot is taken its replacement is started (as for spare workers).
REFILL_DELAY_S = 0.02
# No journal, no reserved blocks, one inode per 64 KB: the filesystem's own overhead is then
# ~2.5% of the image, which image_bytes() adds so that the function gets its full size.
MKFS = (
    "mkfs.ext4",
    "-q",
    "-F",
    "-m",
    "0",
    "-i",
    "65536",
    "-O",
    "^has_journal",
    "-E",
    "nodiscard,lazy_itable_init=1",
)
FS_OVERHEAD = 1.025


def image_bytes(size_mb: int) -> int:
    return int(size_mb * FS_OVERHEAD) * 1024 * 1024


CLONE_NEWNS = 0x00020000
MS_REC = 16384
MS_SLAVE = 1 << 19


@dataclass(eq=False)
class ScratchSlot:
    directory: Path
    image: Path
    size_mb: int


def scratch_supported() -> str:
    """'' when this host can loop-mount ext4 images, else why not."""
    if os.geteuid() != 0:
        return "needs root to loop-mount filesystem images"
    for tool in ("mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (e2fsprogs / util-linux)"
    if not Path("/dev/loop-control").exists():
        return "no /dev/loop-control (loop devices unavailable)"
    return ""


class ScratchPool:
    """Slots by size. Thread-safe: acquire/release run in worker threads, not the loop."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._idle: dict[int, list[ScratchSlot]] = {}
        self._lock = threading.Lock()
        self._count = 0
        # Kept ready by a background thread, so a cold start of the default size never
        # waits for mkfs and mount (~15 ms, far more under load).
        self._ready_target: dict[int, int] = {}
        self._wanted = threading.Event()
        self._stopping = False
        self._refiller: threading.Thread | None = None

    def setup(self) -> None:
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._unmount_stale()

    def prepare(self, size_mb: int, count: int) -> None:
        """Make `count` idle slots of `size_mb` now, and keep that many ready from now on."""
        self._ready_target[size_mb] = count
        self._top_up()
        if count and self._refiller is None:
            self._refiller = threading.Thread(target=self._refill_forever, name="faas-tmp-slots")
            self._refiller.start()

    def _top_up(self) -> None:
        for size_mb, target in self._ready_target.items():
            while not self._stopping:
                with self._lock:
                    if len(self._idle.get(size_mb, [])) >= target:
                        break
                slot = self._make(size_mb)
                with self._lock:
                    self._idle.setdefault(size_mb, []).append(slot)

    def _refill_forever(self) -> None:
        while not self._stopping:
            self._wanted.wait()
            # Let the cold start that took a slot finish first: mkfs and mount next to it
            # (two subprocesses, the GIL, a core) would slow exactly that request down.
            time.sleep(REFILL_DELAY_S)
            self._wanted.clear()
            try:
                self._top_up()
            except (OSError, subprocess.SubprocessError):
                log.exception("could not prepare a /tmp image; retrying on the next demand")

    def has_idle(self, size_mb: int) -> bool:
        with self._lock:
            return bool(self._idle.get(size_mb))

    def acquire(self, size_mb: int, uid: int | None) -> ScratchSlot:
        with self._lock:
            idle = self._idle.get(size_mb)
            slot = idle.pop() if idle else None
        if size_mb in self._ready_target:
            self._wanted.set()
        if slot is None:
            slot = self._make(size_mb)
        if uid is not None:
            os.chown(slot.directory, uid, uid)
        os.chmod(slot.directory, 0o700 if uid is not None else 0o1777)
        return slot

    def release(self, slot: ScratchSlot) -> None:
        """Wipe the slot and keep it for the next worker (blocking: call from a thread)."""
        try:
            _wipe(slot.directory)
        except OSError:
            log.exception("cannot wipe scratch slot %s; dropping it", slot.directory)
            self._destroy(slot)
            return
        with self._lock:
            idle = self._idle.setdefault(slot.size_mb, [])
            if len(idle) < MAX_IDLE_SLOTS_PER_SIZE:
                idle.append(slot)
                return
        self._destroy(slot)

    def teardown(self) -> None:
        self._stopping = True
        self._wanted.set()
        if self._refiller is not None:
            self._refiller.join()
            self._refiller = None
        with self._lock:
            slots = [s for idle in self._idle.values() for s in idle]
            self._idle.clear()
        for slot in slots:
            self._destroy(slot)
        self._unmount_stale()

    def _make(self, size_mb: int) -> ScratchSlot:
        with self._lock:
            self._count += 1
            name = f"slot-{os.getpid()}-{self._count}"
        image = self._root / f"{name}.img"
        directory = self._root / name
        with image.open("wb") as sparse:
            sparse.truncate(image_bytes(size_mb))
        directory.mkdir(mode=0o700)
        try:
            _run(*MKFS, str(image))
            _run("mount", "-o", "loop,nosuid,nodev,discard", str(image), str(directory))
        except BaseException:
            with contextlib.suppress(OSError):
                directory.rmdir()
            image.unlink(missing_ok=True)
            raise
        (directory / "lost+found").rmdir()
        return ScratchSlot(directory, image, size_mb)

    def _destroy(self, slot: ScratchSlot) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            _run("umount", "-l", str(slot.directory))
        with contextlib.suppress(OSError):
            slot.directory.rmdir()
        slot.image.unlink(missing_ok=True)

    def _unmount_stale(self) -> None:
        """Slots left behind by a platform process that is gone (killed, crashed), and at
        teardown this process's own. A slot of a live process is never touched: its worker
        may be using it (`slot-<pid>-<n>` names the process that made it)."""
        root = str(self._root) + "/"
        with contextlib.suppress(OSError), open("/proc/self/mounts") as mounts:
            for line in mounts:
                target = line.split()[1]
                if target.startswith(root) and self._is_leftover(Path(target).name):
                    with contextlib.suppress(subprocess.CalledProcessError):
                        _run("umount", "-l", target)
        for leftover in self._root.glob("slot-*"):
            if not self._is_leftover(leftover.name.removesuffix(".img")):
                continue
            if leftover.is_dir():
                with contextlib.suppress(OSError):
                    leftover.rmdir()
            else:
                leftover.unlink(missing_ok=True)

    def _is_leftover(self, slot_name: str) -> bool:
        owner = slot_owner(slot_name)
        if owner is None:
            return False
        return owner == os.getpid() or not process_alive(owner)


def slot_owner(slot_name: str) -> int | None:
    """The pid in `slot-<pid>-<n>`, or None for a name that is not a slot's."""
    parts = slot_name.split("-")
    if len(parts) != 3 or parts[0] != "slot" or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1])


def isolate_mounts() -> str:
    """Move this (still single-threaded) process into a mount namespace of its own whose
    mounts do not propagate to the host. The host's later mounts and unmounts still reach it
    (a slave, not private): a disk mounted on a bucket's directory after the start is the
    one the server watches and new workers see. '' on success, else why not."""
    if os.geteuid() != 0:
        return "not root"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return f"unshare: {os.strerror(ctypes.get_errno())}"
    if libc.mount(b"none", b"/", None, ctypes.c_ulong(MS_REC | MS_SLAVE), None) != 0:
        return f"mount --make-rslave /: {os.strerror(ctypes.get_errno())}"
    return ""


def _wipe(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)
