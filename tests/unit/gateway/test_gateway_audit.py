"""The audit trail's pure parts: whose address a call came from (X-Forwarded-For believed only
from trusted proxies), and the audit API's query parameters."""

from __future__ import annotations

import ipaddress

import pytest

from faas.domain import AuditQuery
from faas.errors import InvalidParameterValue
from faas.gateway.audit import UNKNOWN_PEER, client_address
from faas.gateway.audit_api import audit_query, parse_time_ms

PROXY = "10.0.0.5"
TRUSTED = (ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8::/64"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # No trusted peer: the header is the client's own say-so and ignored.
        ("192.0.2.1", ["203.0.113.9"], "192.0.2.1"),
        ("192.0.2.1", [], "192.0.2.1"),
        # A trusted proxy: the address it appended is the caller.
        (PROXY, ["203.0.113.9"], "203.0.113.9"),
        # What the client wrote itself sits left of the proxy's entry and is not believed.
        (PROXY, ["198.51.100.7, 203.0.113.9"], "203.0.113.9"),
        # A chain of trusted proxies: each one's own entry is skipped.
        (PROXY, ["198.51.100.7, 203.0.113.9, 10.0.0.7"], "203.0.113.9"),
        (PROXY, ["198.51.100.7", "203.0.113.9, 10.0.0.7"], "203.0.113.9"),  # two header lines
        # Every entry a trusted proxy: the left-most is as far back as it goes.
        (PROXY, ["10.0.0.8, 10.0.0.7"], "10.0.0.8"),
        # A trusted proxy that sent no header: the proxy itself.
        (PROXY, [], PROXY),
        (PROXY, [" , "], PROXY),
        # Garbage where an address should be: the last hop that can be vouched for.
        (PROXY, ["not-an-address"], PROXY),
        (PROXY, ["203.0.113.9, junk, 10.0.0.7"], "10.0.0.7"),
        # IPv6, bracketed entries, and IPv4 peers as a dual-stack socket reports them.
        ("2001:db8::1", ["2001:db8:ffff::9"], "2001:db8:ffff::9"),
        (PROXY, ["[2001:db8:ffff::9]"], "2001:db8:ffff::9"),
        ("::ffff:10.0.0.5", ["203.0.113.9"], "203.0.113.9"),
        # A peer aiohttp could not name.
        (None, ["203.0.113.9"], UNKNOWN_PEER),
    ],
)
def test_client_address(peer: str | None, forwarded_for: list[str], expected: str) -> None:
    assert client_address(peer, forwarded_for, TRUSTED) == expected


def test_without_trusted_proxies_the_peer_is_always_the_caller() -> None:
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("1700000000123", 1_700_000_000_123),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20.5+00:00", 1_700_000_000_500),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
        ("2023-11-14T22:13:20", 1_700_000_000_000),  # no offset: UTC
    ],
)
def test_since_is_epoch_ms_or_iso_8601(text: str, expected_ms: int) -> None:
    assert parse_time_ms(text) == expected_ms


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "many"},
        {"key": "k" * 129},
    ],
)
def test_bad_query_parameters_are_400s(params: dict[str, str]) -> None:
    with pytest.raises(InvalidParameterValue):
        audit_query(params)


def test_query_parameters() -> None:
    assert audit_query({}) == AuditQuery(limit=50)
    assert audit_query(
        {"since": "1000", "key": "ci", "outcome": "denied", "limit": "5"}
    ) == AuditQuery(since_ms=1000, key="ci", outcome="denied", limit=5)
