"""The workers' DNS: a forwarder on the network layer's gateway (UDP port 53).

A worker's namespace reaches nothing of the host but this, so a function resolves names
without seeing the host's resolver (often on the host's loopback, say systemd-resolved on
127.0.0.53). Each query goes to the upstream servers in turn (sandbox.dns_servers, else the
nameservers of /etc/resolv.conf) from a socket of its own, so answers cannot be mixed up or
spoofed across queries; the answer goes back to the worker unchanged. The number of queries
in flight is bounded, so a function flooding the forwarder costs it only its own answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import typing
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

DNS_PORT = 53
MAX_IN_FLIGHT = 256
UPSTREAM_TIMEOUT_S = 2.0
MAX_MESSAGE = 4096


def nameservers(resolv_conf: str) -> list[str]:
    """The IPv4 nameservers a resolv.conf names, in order."""
    found = []
    for line in resolv_conf.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            with contextlib.suppress(ValueError):
                found.append(str(ipaddress.IPv4Address(words[1])))
    return found


def upstream_servers(
    configured: Sequence[str], resolv_conf: Path = Path("/etc/resolv.conf")
) -> list[str]:
    if configured:
        return [str(ipaddress.IPv4Address(server)) for server in configured]
    try:
        return nameservers(resolv_conf.read_text())
    except OSError:
        return []


class DnsForwarder(asyncio.DatagramProtocol):
    def __init__(self, upstreams: Sequence[str], port: int = DNS_PORT) -> None:
        self._upstreams = list(upstreams)
        self._upstream_port = port
        self._transport: asyncio.DatagramTransport | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(
        cls, address: str, upstreams: Sequence[str], *, upstream_port: int = DNS_PORT
    ) -> DnsForwarder:
        loop = asyncio.get_running_loop()
        forwarder = cls(upstreams, upstream_port)
        await loop.create_datagram_endpoint(lambda: forwarder, local_addr=(address, DNS_PORT))
        return forwarder

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport has DatagramTransport's methods, not its class.
        self._transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if len(self._in_flight) >= MAX_IN_FLIGHT or len(data) < 12 or not self._upstreams:
            return  # dropped: the client retries (resolv.conf says attempts:2)
        task = asyncio.get_running_loop().create_task(self._forward(data, addr))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _forward(self, query: bytes, client: tuple[str | object, int]) -> None:
        for upstream in self._upstreams:
            answer = await self._ask(upstream, query)
            if answer is not None:
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.sendto(answer, client)
                return

    async def _ask(self, upstream: str, query: bytes) -> bytes | None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (upstream, self._upstream_port))
                await loop.sock_sendall(sock, query)
                answer = await asyncio.wait_for(
                    loop.sock_recv(sock, MAX_MESSAGE), UPSTREAM_TIMEOUT_S
                )
            except (OSError, TimeoutError):
                return None
        # The same transaction id, or it is not the answer to this query.
        return answer if answer[:2] == query[:2] else None

    def close(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        if self._transport is not None:
            self._transport.close()
