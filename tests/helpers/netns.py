"""Test networks of the tests' own: network namespaces joined by veth pairs, never the
machine's real interfaces.

`IsolatedNetwork` makes a namespace that plays the server's host (`host`) and one that plays a
machine beyond it (`remote`, 198.18.0.2, from the benchmarking range no real network uses),
joined by a veth pair, with the host's default route through the remote one. Tests run the
server (or the part under test) inside `host` with `ip netns exec`, and listeners in either.
Everything is removed at the end, also when a test fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

HOST_ADDRESS = "198.18.0.1"
REMOTE_ADDRESS = "198.18.0.2"

# A TCP listener that answers every connection with `<greeting> <peer address>` and exits
# after `lifetime` seconds: python listener.py ADDRESS PORT GREETING LIFETIME
LISTENER = """
import socket, sys, time
address, port, greeting, lifetime = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((address, port))
server.listen()
print("listening", flush=True)
deadline = time.monotonic() + lifetime
while time.monotonic() < deadline:
    server.settimeout(max(deadline - time.monotonic(), 0.01))
    try:
        client, peer = server.accept()
    except OSError:
        break
    with client:
        client.sendall(f"{greeting} {peer[0]}".encode())
"""


# A DNS server for one zone: A queries for names under ZONE get ADDRESS, others NXDOMAIN; it
# exits after `lifetime` seconds: python dns.py ADDRESS ZONE ANSWER LIFETIME
DNS_SERVER = """
import socket, struct, sys, time
address, zone, answer, lifetime = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((address, 53))
print("listening", flush=True)
deadline = time.monotonic() + lifetime
while time.monotonic() < deadline:
    server.settimeout(max(deadline - time.monotonic(), 0.01))
    try:
        query, client = server.recvfrom(512)
    except OSError:
        break
    labels, at = [], 12
    while query[at]:
        labels.append(query[at + 1 : at + 1 + query[at]].decode())
        at += 1 + query[at]
    question = query[12 : at + 5]
    name = ".".join(labels)
    found = name == zone or name.endswith("." + zone)
    flags = 0x8180 if found else 0x8183
    header = query[:2] + struct.pack(">HHHHH", flags, 1, 1 if found else 0, 0, 0)
    record = b"\\xc0\\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(answer)
    server.sendto(header + question + (record if found else b""), client)
"""


def network_namespaces_usable() -> str:
    """'' when this machine lets tests make network namespaces, else why not."""
    if os.geteuid() != 0:
        return "network namespaces for tests need root"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed"
    probe = f"faasprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return ""


def require_network_namespaces() -> None:
    why = network_namespaces_usable()
    if why:
        pytest.skip(why)


@dataclass
class IsolatedNetwork:
    host: str
    remote: str
    _listeners: list[subprocess.Popen[str]]

    def run_in(
        self, namespace: str, argv: Sequence[str], **options: object
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", namespace, *argv],
            capture_output=True,
            text=True,
            timeout=options.pop("timeout", 60),  # type: ignore[arg-type]
            check=False,
            **options,  # type: ignore[arg-type]
        )

    def popen_in(
        self, namespace: str, argv: Sequence[str], **options: object
    ) -> subprocess.Popen[str]:
        """A process in the namespace's network only (nsenter, not `ip netns exec`, which
        would give it a mount namespace of its own: namespaces it names there would be
        invisible to everyone else)."""
        entered = ["nsenter", f"--net=/run/netns/{namespace}", *argv]
        return subprocess.Popen(entered, text=True, **options)  # type: ignore[call-overload]

    def listen(
        self, namespace: str, address: str, port: int, greeting: str, lifetime_s: float = 60
    ) -> None:
        """A listener answering `greeting <peer>`, ready when this returns."""
        process = self.popen_in(
            namespace,
            [sys.executable, "-c", LISTENER, address, str(port), greeting, str(lifetime_s)],
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "listening"
        self._listeners.append(process)

    def serve_dns(
        self, namespace: str, address: str, zone: str, answer: str, lifetime_s: float = 60
    ) -> None:
        """A DNS server answering `answer` for names under `zone`, ready when this returns."""
        process = self.popen_in(
            namespace,
            [sys.executable, "-c", DNS_SERVER, address, zone, answer, str(lifetime_s)],
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "listening"
        self._listeners.append(process)

    def close(self) -> None:
        for process in self._listeners:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for namespace in (self.host, self.remote):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


_LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if _LIBC.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """Run the body in the namespace's network: this thread (and every process it starts:
    servers, the CLI) is in it; the test's other threads are not. Back where it was after."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)


@contextlib.contextmanager
def isolated_network() -> Iterator[IsolatedNetwork]:
    require_network_namespaces()
    tag = uuid.uuid4().hex[:6]
    host, remote = f"fth{tag}", f"ftr{tag}"
    network = IsolatedNetwork(host, remote, [])
    try:
        for namespace in (host, remote):
            _ip("netns", "add", namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        _ip(
            "link",
            "add",
            f"vh{tag}",
            "netns",
            host,
            "type",
            "veth",
            "peer",
            "name",
            f"vr{tag}",
            "netns",
            remote,
        )
        _ip("-n", host, "addr", "add", f"{HOST_ADDRESS}/24", "dev", f"vh{tag}")
        _ip("-n", remote, "addr", "add", f"{REMOTE_ADDRESS}/24", "dev", f"vr{tag}")
        _ip("-n", host, "link", "set", f"vh{tag}", "up")
        _ip("-n", remote, "link", "set", f"vr{tag}", "up")
        _ip("-n", host, "route", "add", "default", "via", REMOTE_ADDRESS)
        yield network
    finally:
        network.close()


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=30)
