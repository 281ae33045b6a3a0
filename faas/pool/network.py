"""The workers' network on root hosts: a network namespace per worker, joined to the
platform's namespace by a veth pair, with egress through NAT and nothing of the host.

Per server process (its "instance", named by its pid in hex, so two servers on one host never
touch each other's and a dead one's leftovers are recognised):
- a /16 of 100.64.0.0/10 (the shared address space no site uses for its own hosts), chosen
  free of the host's routes; its first address, the **gateway**, sits on `lo` (label
  `lo:fs<instance>`) and is where functions find the platform: DNS (the platform's forwarder,
  UDP port 53, faas/pool/dns.py) and, for workers whose function has execution credentials,
  the API (the port the server publishes with publish_api());
- an nftables table `inet faas_<instance>`: slots may leave for anywhere beyond the host
  (masqueraded), may not reach any address of the host (its loopback and its own addresses
  are "local" destinations: dropped, but for the gateway's DNS, and its API port for API
  slots), may not reach each other, and nothing may open a connection into a slot;
- **slots**, prepared ahead in a background thread (each costs three `ip` runs, ~25-50 ms,
  kept off the cold start): a named namespace `fs<instance>n<index>` with `lo` and `eth0`
  (a /30 of the instance's /16; default route through the host side `fs<instance>h<index>`).
  A worker joins its slot's namespace (setns, in runtimes/python/sandbox.py) before it drops
  its privileges; a slot is reused after its worker has gone (namespaces are torn down
  slowly by the kernel under churn, and a function cannot change its namespace: it has no
  CAP_NET_ADMIN).

Kinds of slots: `egress`, `api` (egress plus the gateway's API port) and `allowlist`
(destinations given per function, set when the slot is taken: a cold start of such a function
runs one `nft`). IPv6 is not routed for slots.
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import itertools
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from faas.domain import NetworkDestination
from faas.pool.slotpool import SlotPool

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
SHARED_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
PREFIX = "fs"


class SlotKind(enum.StrEnum):
    EGRESS = "egress"
    API = "api"
    ALLOWLIST = "allowlist"


def destination_matches(destination: NetworkDestination) -> list[str]:
    """nftables match expressions for one allowlist entry (TCP and UDP alike)."""
    rule = f"ip daddr {destination.network}"
    if destination.ports is None:
        return [rule]
    low, high = destination.ports
    port = str(low) if low == high else f"{low}-{high}"
    return [f"{rule} tcp dport {port}", f"{rule} udp dport {port}"]


@dataclass(eq=False)
class NetSlot:
    index: int
    kind: SlotKind
    namespace: str  # the named namespace (its file under /run/netns)
    host_interface: str
    address: ipaddress.IPv4Address  # inside the namespace

    @property
    def path(self) -> str:
        return str(NETNS_DIR / self.namespace)


class WorkerNetwork(Protocol):
    """What SandboxPlanner needs of a network layer: this module's (root hosts) or
    faas/pool/usernet.py's (pasta, non-root hosts). Blocking methods: call from threads."""

    supports_allowlist: bool
    resolv_conf: Path | None

    @property
    def description(self) -> str: ...

    @property
    def api_endpoint(self) -> str: ...

    def setup(self, state_dir: Path) -> None: ...

    def teardown(self) -> None: ...

    def publish_api(self, port: int) -> None: ...

    def has_idle(self, kind: SlotKind) -> bool: ...

    def acquire(
        self, kind: SlotKind, allowed: Sequence[NetworkDestination] = (), *, api: bool = False
    ) -> Any: ...

    def join_plan(self, slot: Any) -> dict[str, str]:
        """The plan entries a worker needs to join the slot ("netns", and "userns")."""

    def release(self, slot: Any) -> None: ...


def network_supported() -> str:
    """'' when this host can give workers a network of their own, else why not."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces, veth pairs and nftables rules"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package})"
    return ""


def instance_name(pid: int) -> str:
    return f"{pid:x}"


class NetworkLayer:
    """Slots by kind. Thread-safe: acquire/release run in worker threads, not the loop."""

    supports_allowlist = True

    def __init__(self, *, prepared_per_kind: int, pid: int | None = None) -> None:
        self._instance = instance_name(pid if pid is not None else os.getpid())
        self._api_port: int | None = None
        self._indexes = itertools.count(1)  # next() is atomic: slots are made in threads
        self._slots: SlotPool[SlotKind, NetSlot] = SlotPool(
            target=prepared_per_kind,
            make=self._make,
            kinds=lambda: (SlotKind.EGRESS, SlotKind.API),
            name="faas-net-slots",
        )
        self._subnet: ipaddress.IPv4Network | None = None
        self.resolv_conf: Path | None = None

    @property
    def table(self) -> str:
        return f"faas_{self._instance}"

    @property
    def description(self) -> str:
        return "a network namespace per worker (veth, nftables)"

    def join_plan(self, slot: NetSlot) -> dict[str, str]:
        return {"netns": slot.path}

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        assert self._subnet is not None, "setup() first"
        return self._subnet.network_address + 1

    def setup(self, state_dir: Path) -> None:
        """Blocking: sweep what dead servers left, take a /16, start forwarding, load the
        rules, write the workers' resolv.conf and prepare the first slots."""
        sweep_stale(own=self._instance)
        self._subnet = pick_subnet(_host_networks())
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.resolv_conf = state_dir / "resolv.conf"
        # Bound over /etc/resolv.conf in each worker's mount namespace: the platform's
        # forwarder on the gateway, the only DNS server a slot may reach.
        self.resolv_conf.write_text(f"nameserver {self.gateway}\noptions timeout:2 attempts:2\n")
        self.resolv_conf.chmod(0o644)
        _write("/proc/sys/net/ipv4/ip_forward", "1")
        _run("ip", "addr", "add", f"{self.gateway}/32", "dev", "lo", "label", self._label())
        _nft(self._ruleset())
        self._slots.start()

    @property
    def api_endpoint(self) -> str:
        """The platform's API as API slots reach it ('' until publish_api())."""
        return f"http://{self.gateway}:{self._api_port}" if self._api_port else ""

    def publish_api(self, port: int) -> None:
        """Open the gateway's `port` to API slots (the server listens there)."""
        _nft(f"add element inet {self.table} api_ports {{ {port} }}")
        self._api_port = port

    def has_idle(self, kind: SlotKind) -> bool:
        """A slot of this kind is waiting: acquire() runs no command."""
        return self._slots.has_idle(kind)

    def acquire(
        self, kind: SlotKind, allowed: Sequence[NetworkDestination] = (), *, api: bool = False
    ) -> NetSlot:
        """A slot for one worker; an allowlist slot gets `allowed` (and the API with `api`)."""
        slot = self._slots.take(kind) or self._make(kind)
        if kind is SlotKind.ALLOWLIST:
            script = self._allowlist_rules(slot, allowed)
            if api:
                script += f"add element inet {self.table} api_slots {{ {slot.host_interface} }}\n"
            try:
                _nft(script)
            except BaseException:
                self._destroy(slot)
                raise
        return slot

    def release(self, slot: NetSlot) -> None:
        """Back to the pool for the next worker (blocking: call from a thread)."""
        if slot.kind is SlotKind.ALLOWLIST:
            try:
                _nft(self._allowlist_reset(slot))
            except (subprocess.SubprocessError, OSError):
                self._destroy(slot)  # never hand out a slot whose rules are unknown
                return
        if not self._slots.give_back(slot.kind, slot):
            self._destroy(slot)

    def teardown(self) -> None:
        self._slots.stop()  # its idle slots go with everything else of the instance
        remove_instance(self._instance)

    # -- slots ----------------------------------------------------------------------------------

    def _make(self, kind: SlotKind) -> NetSlot:
        index = next(self._indexes)
        assert self._subnet is not None
        base = self._subnet.network_address + 4 * index
        host_side, inside = base + 1, base + 2
        slot = NetSlot(
            index,
            kind,
            f"{PREFIX}{self._instance}n{index}",
            f"{PREFIX}{self._instance}h{index}",
            inside,
        )
        _run("ip", "netns", "add", slot.namespace)
        try:
            _ip_batch(
                [
                    f"link add {slot.host_interface} type veth peer name eth0 netns "
                    f"{slot.namespace}",
                    f"addr add {host_side}/30 dev {slot.host_interface}",
                    f"link set {slot.host_interface} up",
                ]
            )
            _ip_batch(
                [
                    "link set lo up",
                    f"addr add {inside}/30 dev eth0",
                    "link set eth0 up",
                    f"route add default via {host_side}",
                ],
                namespace=slot.namespace,
            )
            if kind is SlotKind.API:
                _nft(f"add element inet {self.table} api_slots {{ {slot.host_interface} }}")
            if kind is SlotKind.ALLOWLIST:
                _nft(self._allowlist_chain(slot))
        except BaseException:
            self._destroy(slot)
            raise
        return slot

    def _destroy(self, slot: NetSlot) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run("ip", "link", "del", slot.host_interface)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run("ip", "netns", "del", slot.namespace)

    # -- rules ----------------------------------------------------------------------------------

    def _label(self) -> str:
        return f"lo:{PREFIX}{self._instance}"

    def _ruleset(self) -> str:
        slots = f'"{PREFIX}{self._instance}h*"'
        gateway = self.gateway
        return f"""
table inet {self.table} {{
    set api_slots {{ type ifname; }}
    set api_ports {{ type inet_service; }}
    chain input {{
        type filter hook input priority -10; policy accept;
        iifname {slots} ct state established,related accept
        iifname {slots} ip daddr {gateway} udp dport 53 accept
        iifname @api_slots ip daddr {gateway} tcp dport @api_ports accept
        iifname {slots} reject with icmpx type admin-prohibited
    }}
    chain forward {{
        type filter hook forward priority -10; policy accept;
        oifname {slots} ct state established,related accept
        oifname {slots} reject with icmpx type admin-prohibited
        iifname {slots} meta nfproto ipv6 reject with icmpx type admin-prohibited
        iifname {slots} fib daddr type local reject with icmpx type admin-prohibited
        iifname {slots} jump slots_out
    }}
    chain slots_out {{
    }}
    chain postrouting {{
        type nat hook postrouting priority 100; policy accept;
        ip saddr {self._subnet} oifname != {slots} masquerade
    }}
}}
"""

    def _allowlist_chain(self, slot: NetSlot) -> str:
        chain = _allow_chain(slot)
        return (
            f"add chain inet {self.table} {chain}\n"
            # Closed until a function's destinations are set (an empty chain would return
            # to the general egress).
            f"add rule inet {self.table} {chain} reject with icmpx type admin-prohibited\n"
            f"insert rule inet {self.table} slots_out iifname {slot.host_interface} "
            f"jump {chain}\n"
        )

    def _allowlist_reset(self, slot: NetSlot) -> str:
        """Nothing allowed (the chain's last rule rejects), no API."""
        chain = _allow_chain(slot)
        return (
            f"flush chain inet {self.table} {chain}\n"
            f"add rule inet {self.table} {chain} reject with icmpx type admin-prohibited\n"
            # Adding first makes the delete succeed whether or not the slot had the API.
            f"add element inet {self.table} api_slots {{ {slot.host_interface} }}\n"
            f"delete element inet {self.table} api_slots {{ {slot.host_interface} }}\n"
        )

    def _allowlist_rules(self, slot: NetSlot, allowed: Iterable[NetworkDestination]) -> str:
        chain = _allow_chain(slot)
        lines = [f"flush chain inet {self.table} {chain}"]
        for destination in allowed:
            for match in destination_matches(destination):
                lines.append(f"add rule inet {self.table} {chain} {match} accept")
        lines.append(f"add rule inet {self.table} {chain} reject with icmpx type admin-prohibited")
        return "\n".join(lines) + "\n"


def pick_subnet(taken: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first /16 of the shared address space that no route of the host overlaps."""
    taken = list(taken)
    for candidate in SHARED_SPACE.subnets(new_prefix=16):
        if not any(candidate.overlaps(network) for network in taken):
            return candidate
    raise OSError("every /16 of 100.64.0.0/10 is in use on this host: no room for workers")


def sweep_stale(own: str) -> None:
    """Remove the namespaces, links, gateway addresses and tables of faas servers that are
    gone (their pid is in every name), and any left by an earlier process of our own pid."""
    for instance in _instances_present():
        if instance == own or not _alive(instance):
            remove_instance(instance)


def remove_instance(instance: str) -> None:
    """Everything one server instance made; what is already gone is no error."""
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        _nft(f"delete table inet faas_{instance}")
    for link in _lines("ip", "-o", "link", "show"):
        name = link.split(":")[1].strip().split("@")[0] if ":" in link else ""
        if name.startswith(f"{PREFIX}{instance}h"):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                _run("ip", "link", "del", name)
    for address in _lines("ip", "-o", "-4", "addr", "show", "dev", "lo"):
        tokens = [token.rstrip("\\") for token in address.split()]
        if f"lo:{PREFIX}{instance}" in tokens:
            cidr = tokens[3]
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                _run("ip", "addr", "del", cidr, "dev", "lo")
    if NETNS_DIR.is_dir():
        for entry in NETNS_DIR.iterdir():
            if entry.name.startswith(f"{PREFIX}{instance}n"):
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    _run("ip", "netns", "del", entry.name)


def _instances_present() -> set[str]:
    found: set[str] = set()
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        for line in _lines("nft", "list", "tables"):
            name = line.split()[-1]
            if name.startswith("faas_"):
                found.add(name.removeprefix("faas_"))
    if NETNS_DIR.is_dir():
        for entry in NETNS_DIR.iterdir():
            if entry.name.startswith(PREFIX) and "n" in entry.name[len(PREFIX) :]:
                found.add(entry.name[len(PREFIX) :].rsplit("n", 1)[0])
    return {name for name in found if _is_hex(name)}


def _alive(instance: str) -> bool:
    try:
        os.kill(int(instance, 16), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _allow_chain(slot: NetSlot) -> str:
    return f"allow_{slot.index}"


def _host_networks() -> list[ipaddress.IPv4Network]:
    networks = []
    for line in _lines("ip", "-4", "route", "show", "table", "all"):
        first = line.split()[0] if line.split() else ""
        if first in ("default", "broadcast", "local", "unreachable", "blackhole", "prohibit"):
            first = line.split()[1] if len(line.split()) > 1 else ""
        with contextlib.suppress(ValueError):
            networks.append(ipaddress.ip_network(first, strict=False))
    for line in _lines("ip", "-o", "-4", "addr", "show"):
        with contextlib.suppress(ValueError, IndexError):
            networks.append(ipaddress.ip_network(line.split()[3], strict=False))
    return [n for n in networks if isinstance(n, ipaddress.IPv4Network)]


def _ip_batch(commands: Sequence[str], namespace: str | None = None) -> None:
    argv = ["ip"] + (["-n", namespace] if namespace else []) + ["-batch", "-"]
    subprocess.run(
        argv,
        input="\n".join(commands) + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=30,
    )


def _nft(script: str) -> None:
    subprocess.run(
        ["nft", "-f", "-"], input=script, text=True, check=True, capture_output=True, timeout=30
    )


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def _lines(*argv: str) -> list[str]:
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    return completed.stdout.splitlines()


def _write(path: str, value: str) -> None:
    Path(path).write_text(value)
