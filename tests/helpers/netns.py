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

    def close(self) -> None:
        for process in self._listeners:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for namespace in (self.host, self.remote):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


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
