"""The workers' network on hosts where faas is not root: user-mode networking with `pasta`
(Debian package passt).

A slot is a **holder**: a process (`unshare --user --map-current-user --net cat`) that owns a
user namespace mapping only the platform's uid, and a network namespace in it, which `pasta`
connects to the world through the platform's own sockets:
- the namespace gets a copy of the host's address and default route, so the host's own
  address leads back into the namespace, not to the host;
- `--no-map-gw`: the gateway is not mapped to the host's loopback, so nothing on the host's
  loopback is reachable;
- no port is forwarded from the namespace to the host, but for API slots the platform's port
  (`-T PORT`: the namespace's 127.0.0.1:PORT is the platform's);
- DNS: `--dns-forward` answers on 169.254.0.53 with the host's resolver.

Weaker than the root layer (faas/pool/network.py), and said so: a host address other than
the one copied (another interface's) is reached as pasta's own outbound connection, and
allowlists cannot be enforced (no firewall without root), so `allowlist` is refused.

A worker joins a slot with setns() into its user namespace, then its network namespace
(runtimes/python/sandbox.py). Slots are prepared ahead (a holder and a pasta cost ~15-30 ms)
and reused.

pasta does not exit when a namespace it serves is left empty (it holds the namespace itself),
and a parent-death signal does not survive the user namespaces both make; so every holder and
pasta runs in the process group of a **guard** (`sh`: read stdin, then kill the group), whose
stdin is a pipe from the platform: when the platform dies, even by SIGKILL, the guard reads
EOF and takes them all with it.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faas.domain import NetworkDestination
from faas.pool.network import SlotKind
from faas.pool.slotpool import SlotPool

log = logging.getLogger(__name__)

DNS_ADDRESS = "169.254.0.53"
TUN_DEVICE = "/dev/net/tun"
READY_TIMEOUT_S = 10.0
# Reads until the platform is gone, then kills its process group: itself, holders, pastas.
GUARD = "cat >/dev/null; kill -KILL 0"


def usernet_supported(pasta: str = "pasta") -> str:
    """'' when this (non-root) host can give workers user-mode networking, else why not."""
    if shutil.which(pasta) is None:
        return "pasta is not installed (Debian package passt)"
    if shutil.which("unshare") is None:
        return "unshare is not installed (Debian package util-linux)"
    try:
        os.close(os.open(TUN_DEVICE, os.O_RDWR))
    except OSError as exc:
        return f"pasta cannot open {TUN_DEVICE}: {exc.strerror} (it is usually mode 0666)"
    return ""


@dataclass(eq=False)
class UserSlot:
    index: int
    kind: SlotKind
    holder: subprocess.Popen[bytes]
    pasta: subprocess.Popen[bytes] | None = None
    namespaces: dict[str, str] = field(default_factory=dict)

    @property
    def pasta_pid(self) -> int:
        return self.pasta.pid if self.pasta is not None else 0


class UserNetworkLayer:
    """The same contract as NetworkLayer (what SandboxPlanner uses), for non-root hosts."""

    supports_allowlist = False

    def __init__(self, *, prepared_per_kind: int, pasta: str = "pasta") -> None:
        self._pasta = pasta
        self._indexes = itertools.count(1)
        self._api_port: int | None = None
        # API slots forward the API's port: only kept ready once it is published.
        self._slots: SlotPool[SlotKind, UserSlot] = SlotPool(
            target=prepared_per_kind,
            make=self._make,
            kinds=lambda: [SlotKind.EGRESS] + ([SlotKind.API] if self._api_port else []),
            name="faas-usernet",
        )
        self.resolv_conf: Path | None = None
        self._guard: subprocess.Popen[bytes] | None = None

    @property
    def description(self) -> str:
        return "pasta user-mode networking"

    @property
    def gateway(self) -> None:
        """No address of the host is published: the API is forwarded by pasta."""
        return None

    @property
    def api_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._api_port}" if self._api_port else ""

    def setup(self, state_dir: Path) -> None:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._guard = subprocess.Popen(
            ["sh", "-c", GUARD],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=0,
        )
        self.resolv_conf = state_dir / "resolv.conf"
        self.resolv_conf.write_text(f"nameserver {DNS_ADDRESS}\noptions timeout:2 attempts:2\n")
        self.resolv_conf.chmod(0o644)
        self._slots.start()

    def publish_api(self, port: int) -> None:
        """API slots forward the namespace's 127.0.0.1:`port` to the platform's."""
        self._api_port = port
        self._slots.wake()

    def has_idle(self, kind: SlotKind) -> bool:
        return self._slots.has_idle(kind)

    def acquire(
        self, kind: SlotKind, allowed: Sequence[NetworkDestination] = (), *, api: bool = False
    ) -> UserSlot:
        if kind is SlotKind.ALLOWLIST:
            raise OSError(errno.ENOTSUP, "allowlists need the root network layer (nftables)")
        slot = self._slots.take(kind)
        while slot is not None and slot.holder.poll() is not None:
            self._destroy(slot)  # its holder died: never hand out a namespace that is gone
            slot = self._slots.take(kind)
        return slot if slot is not None else self._make(kind)

    def join_plan(self, slot: UserSlot) -> dict[str, str]:
        return dict(slot.namespaces)

    def release(self, slot: UserSlot) -> None:
        if slot.holder.poll() is not None or not self._slots.give_back(slot.kind, slot):
            self._destroy(slot)

    def teardown(self) -> None:
        for slot in self._slots.stop():
            self._destroy(slot)
        if self._guard is not None:  # EOF: it kills whatever is left in its group
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                if self._guard.stdin is not None:
                    self._guard.stdin.close()
                self._guard.wait(timeout=5)
            self._guard = None

    def _make(self, kind: SlotKind) -> UserSlot:
        if kind is SlotKind.API and not self._api_port:
            raise OSError(errno.EAGAIN, "the platform's API port is not published yet")
        index = next(self._indexes)
        assert self._guard is not None, "setup() first"
        holder = subprocess.Popen(
            ["unshare", "--user", "--map-current-user", "--net", "--", "cat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=self._guard.pid,
        )
        slot = UserSlot(index, kind, holder)
        try:
            _wait_unshared(holder)
            slot.namespaces = {
                "userns": f"/proc/{holder.pid}/ns/user",
                "netns": f"/proc/{holder.pid}/ns/net",
            }
            slot.pasta = self._start_pasta(slot)
        except BaseException:
            self._destroy(slot)
            raise
        return slot

    def _start_pasta(self, slot: UserSlot) -> subprocess.Popen[bytes]:
        assert self._guard is not None
        inbound = ["-T", str(self._api_port)] if slot.kind is SlotKind.API else ["-T", "none"]
        argv = [
            self._pasta,
            "--foreground",
            "--config-net",
            "--no-map-gw",
            "--dns-forward",
            DNS_ADDRESS,
            "-t",
            "none",
            "-u",
            "none",
            *inbound,
            "-U",
            "none",
            "--quiet",
            str(slot.holder.pid),
        ]
        pasta = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            process_group=self._guard.pid,
        )
        # Ready once the namespace has its default route (read from the holder's view).
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _has_default_route(slot.holder.pid):
            if pasta.poll() is not None:
                assert pasta.stderr is not None
                lines = [line for line in pasta.stderr.read().decode().splitlines()]
                reason = " ".join(line for line in lines if "syslog" not in line).strip()
                raise OSError(f"pasta failed: {reason or pasta.returncode}")
            if time.monotonic() > deadline:
                pasta.kill()
                pasta.wait()
                raise OSError("pasta did not configure the namespace in time")
            time.sleep(0.001)
        return pasta

    def _destroy(self, slot: UserSlot) -> None:
        for process in (slot.pasta, slot.holder):
            if process is None:
                continue
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                for stream in (process.stdin, process.stderr):
                    if stream is not None:
                        stream.close()
                process.wait(timeout=5)


def _wait_unshared(holder: subprocess.Popen[bytes]) -> None:
    """Until the holder has its own user namespace (unshare runs before it execs cat)."""
    own = os.readlink("/proc/self/ns/user")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if holder.poll() is not None:
            raise OSError(f"unshare --user --net failed (exit status {holder.returncode})")
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{holder.pid}/ns/user") != own and _comm(holder.pid) == "cat":
                return
        time.sleep(0.001)
    raise OSError("unshare --user --net did not start in time")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _has_default_route(pid: int) -> bool:
    try:
        table = Path(f"/proc/{pid}/net/route").read_text()
    except OSError:
        return False
    return any(line.split()[1:2] == ["00000000"] for line in table.splitlines()[1:])
