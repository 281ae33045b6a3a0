"""Temporary credentials: nothing stored, nothing forgeable, nothing that outlives its expiry."""

from __future__ import annotations

import base64
import secrets

import pytest

from faas.auth.masterkey import MasterKey
from faas.auth.sessions import SessionIssuer
from faas.errors import ExpiredToken, UnrecognizedClient


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(clock: Clock) -> SessionIssuer:
    return SessionIssuer(MasterKey(secrets.token_bytes(32)), clock)


def test_issued_credentials_open_to_their_claims(issuer: SessionIssuer, clock: Clock) -> None:
    issued = issuer.issue("reader", "fn", ttl_s=60)
    claims = issuer.open(issued.access_key_id, issued.session_token)
    assert (claims.role, claims.function, claims.expires_at) == ("reader", "fn", clock.now + 60)
    assert issued.access_key_id.startswith("ASFA") and len(issued.access_key_id) == 20
    assert issuer.secret_for(issued.access_key_id, issued.session_token) == (
        issued.secret_access_key
    )
    assert issued.secret_access_key not in repr(issued)


def test_a_token_with_another_key_id_or_altered_or_foreign_is_unrecognized(
    issuer: SessionIssuer,
) -> None:
    issued = issuer.issue("reader", "fn", ttl_s=60)
    other = issuer.issue("reader", "fn", ttl_s=60)
    raw = bytearray(base64.urlsafe_b64decode(issued.session_token))
    raw[-1] ^= 1
    altered = base64.urlsafe_b64encode(bytes(raw)).decode()
    foreign = SessionIssuer(MasterKey(secrets.token_bytes(32))).issue("reader", "fn", 60)
    for key_id, token in (
        (other.access_key_id, issued.session_token),
        (issued.access_key_id, altered),
        (foreign.access_key_id, foreign.session_token),
        (issued.access_key_id, "not base64 !"),
        (issued.access_key_id, ""),
    ):
        with pytest.raises(UnrecognizedClient):
            issuer.open(key_id, token)


def test_a_token_expires(issuer: SessionIssuer, clock: Clock) -> None:
    issued = issuer.issue("reader", "fn", ttl_s=60)
    clock.now += 59.9
    issuer.open(issued.access_key_id, issued.session_token)
    clock.now += 0.1
    with pytest.raises(ExpiredToken, match="expired"):
        issuer.open(issued.access_key_id, issued.session_token)


def test_secrets_differ_per_key(issuer: SessionIssuer) -> None:
    first, second = issuer.issue("r", "f", 60), issuer.issue("r", "f", 60)
    assert first.secret_access_key != second.secret_access_key
    assert first.access_key_id != second.access_key_id
