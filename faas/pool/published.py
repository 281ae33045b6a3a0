"""What the platform publishes on the network layer's gateway for its workers: the API (a
listening socket the server serves too, open only to slots of workers with execution
credentials) and DNS (the forwarder)."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from faas.pool.dns import DnsForwarder, upstream_servers
from faas.pool.network import NetworkLayer

log = logging.getLogger(__name__)


@dataclass(eq=False)
class GatewayServices:
    api_socket: socket.socket  # bound, not yet listening: the server starts a site on it
    dns: DnsForwarder

    @classmethod
    async def start(
        cls, layer: NetworkLayer, *, api_port: int, dns_servers: Sequence[str]
    ) -> GatewayServices:
        """The API on the gateway at `api_port` (the server's own port, so logs and
        endpoints read alike; any free port when it is taken or 0)."""
        gateway = str(layer.gateway)
        api_socket = _bind(gateway, api_port)
        try:
            layer.publish_api(api_socket.getsockname()[1])
            upstreams = upstream_servers(dns_servers)
            if not upstreams:
                log.warning("no IPv4 nameserver to forward to: functions cannot resolve names")
            dns = await DnsForwarder.start(gateway, upstreams)
        except BaseException:
            api_socket.close()
            raise
        return cls(api_socket, dns)

    def close(self) -> None:
        self.dns.close()
        with contextlib.suppress(OSError):
            self.api_socket.close()


def _bind(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            sock.bind((address, port))
        except OSError:
            sock.bind((address, 0))
    except BaseException:
        sock.close()
        raise
    return sock
