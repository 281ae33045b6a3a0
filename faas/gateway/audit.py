"""The API's audit trail: the event an audited call leaves, and where the call came from.

Which calls are audited is decided by the guard (`faas/gateway/auth.py`): every management
call (every API call but Invoke and `/health`), and every refused one (a 403 from
authentication or authorization, or the key's rate limit), Invoke and `/health` included.
Events go to an `AuditSink` that writes them off the event loop; building one costs a few
microseconds and happens after the answer is ready, never before the handler.

The caller's address is the connection's peer, unless that peer is a trusted proxy
(`server.trusted_proxies`): then X-Forwarded-For is read from the right, each trusted proxy's
own entry skipped, and the first address that is not a trusted proxy is the caller (what a
trusted proxy says it saw). Whatever a client writes into the header itself sits further
left, so it is never believed.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from aiohttp import web

from faas.auth.authenticator import Caller
from faas.domain import AuditEvent, AuditOutcome, AuditQuery
from faas.request_ids import RequestIds

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_FOR = "X-Forwarded-For"
REQUEST_ID_HEADER = "x-amzn-RequestId"
UNKNOWN_PEER = "unknown"


class AuditSink(Protocol):
    """Where audit events go (the store's AuditLog); `submit` runs on the event loop and
    never blocks, `recent` blocks (the gateway calls it from a thread)."""

    def submit(self, event: AuditEvent) -> None: ...

    async def flushed(self) -> bool: ...

    def recent(self, query: AuditQuery) -> list[AuditEvent]: ...


class AuditTrail:
    def __init__(self, sink: AuditSink, trusted_proxies: Iterable[str] = ()) -> None:
        self.sink = sink
        self._trusted = tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies
        )
        self._request_ids = RequestIds()

    def record(
        self,
        request: web.Request,
        response: web.StreamResponse | None,
        *,
        status: int,
        caller: Caller | None,
        authorization: tuple[str, str] | None,
        operation: str,
        outcome: AuditOutcome,
    ) -> None:
        """Submit the event of `request`, answered `status` (with `response` unless aiohttp
        answers itself); the request id is the answer's, or a new one it then carries."""
        error_code = None if response is None else response.headers.get("X-Amzn-ErrorType")
        request_id = None if response is None else response.headers.get(REQUEST_ID_HEADER)
        if request_id is None:
            request_id = self._request_ids.new()
            if response is not None and not response.prepared:
                response.headers[REQUEST_ID_HEADER] = request_id
        action, resource = authorization if authorization is not None else (operation, None)
        self.sink.submit(
            AuditEvent(
                time_ms=time.time_ns() // 1_000_000,
                request_id=request_id,
                key_id=(caller.key.access_key_id or None) if caller is not None else None,
                key_name=caller.key.name if caller is not None else None,
                action=action,
                resource=resource,
                outcome=outcome,
                status=status,
                error_code=error_code,
                method=request.method,
                path=request.rel_url.raw_path,
                source_ip=self.source_address(request),
            )
        )

    def source_address(self, request: web.Request) -> str:
        forwarded = request.headers.getall(FORWARDED_FOR, ()) if self._trusted else ()
        return client_address(request.remote, forwarded, self._trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IpNetwork]
) -> str:
    """The caller's address: `peer`, or, when `peer` is a trusted proxy, the right-most
    X-Forwarded-For entry that is not one (`forwarded_for`: the header's values in order).

    When every entry is a trusted proxy, the left-most is the caller. An entry that is not an
    address ends the walk: the trusted hop to its right is the last one that can be vouched
    for."""
    if peer is None:
        return UNKNOWN_PEER
    peer_address = _address(peer)
    if peer_address is None or not _is_trusted(peer_address, trusted):
        return peer
    hops = [part.strip() for value in forwarded_for for part in value.split(",")]
    caller = str(peer_address)
    for hop in reversed([hop for hop in hops if hop]):
        address = _address(hop)
        if address is None:
            return caller
        caller = str(address)
        if not _is_trusted(address, trusted):
            return caller
    return caller


def _address(text: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IpAddress, trusted: Sequence[IpNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
