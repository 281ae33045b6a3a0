"""Requests signed by botocore, as every Lambda client signs them, through the authenticator:
each way a request can fail maps to Lambda's error for it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from faas.auth import sigv4
from faas.auth.authenticator import (
    CODE_URL_KEY_ID,
    MAX_SIGNING_KEYS,
    Authenticator,
)
from faas.auth.keys import AccessKey, KeyRing
from faas.auth.masterkey import MasterKey
from faas.auth.sigv4 import WireRequest
from faas.errors import (
    AccessDenied,
    FaasError,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)
from tests.unit.auth.test_sigv4 import wire_from

REGION = "us-east-1"
ACCOUNT = "123456789012"
HOST = "127.0.0.1:8080"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
LIST = "/2015-03-31/functions/"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "lambda:Get*", "Resource": "*"},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": FN + "team-*"},
    ],
}
UNRECOGNIZED = "The security token included in the request is invalid."


class Clock:
    """The server's clock, set by each test."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def set_to(self, wire: WireRequest, offset_s: float = 0) -> None:
        """The time `wire` says it was signed at, plus `offset_s`."""
        stamp = wire.header("x-amz-date")
        if stamp is None:
            query = wire.raw_target.partition("?")[2]
            stamp = dict(part.split("=", 1) for part in query.split("&"))["X-Amz-Date"]
        self.now = sigv4.parse_timestamp(stamp) + dt.timedelta(seconds=offset_s)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dev(ring: KeyRing) -> AccessKey:
    return ring.create("dev", POLICY)


@pytest.fixture
def authenticator(ring: KeyRing, master: MasterKey, clock: Clock) -> Authenticator:
    return Authenticator(ring, master, region=REGION, account_id=ACCOUNT, clock=clock)


def signed(
    key_id: str,
    secret: str,
    *,
    method: str = "GET",
    target: str = LIST,
    body: bytes = b"",
    token: str | None = None,
    region: str = REGION,
    service: str = "lambda",
) -> WireRequest:
    request = AWSRequest(method=method, url=f"http://{HOST}{target}", data=body)
    SigV4Auth(Credentials(key_id, secret, token), service, region).add_auth(request)
    prepared = request.prepare()
    return wire_from(prepared.method, prepared.url, prepared.headers, prepared.body)


def presigned(
    key_id: str, secret: str, *, method: str = "GET", target: str = LIST, expires_s: int = 300
) -> WireRequest:
    request = AWSRequest(method=method, url=f"http://{HOST}{target}")
    SigV4QueryAuth(Credentials(key_id, secret), "lambda", REGION, expires=expires_s).add_auth(
        request
    )
    prepared = request.prepare()
    return wire_from(prepared.method, prepared.url, prepared.headers, prepared.body)


def unsigned(target: str = LIST, **headers: str) -> WireRequest:
    received = {"host": [HOST], **{name: [value] for name, value in headers.items()}}
    return WireRequest("GET", target, received, b"")


# (how the request differs from a good one, the error, what its message says)
OUTCOMES: dict[str, tuple[dict[str, Any], type[FaasError] | None, str]] = {
    "valid": ({}, None, ""),
    "valid POST with a body": ({"method": "POST", "body": b'{"a": 1}'}, None, ""),
    "4:59 behind the server": ({"skew_s": 299}, None, ""),
    "4:59 ahead of the server": ({"skew_s": -299}, None, ""),
    "an unknown key": ({"key_id": "AKFANOSUCHKEY0000000"}, UnrecognizedClient, UNRECOGNIZED),
    "a session token with a long-term key": (
        {"token": "FwoGZXIvYXdzEXAMPLE"},
        UnrecognizedClient,
        UNRECOGNIZED,
    ),
    "the wrong secret": (
        {"secret": "not-the-secret"},
        InvalidSignature,
        "The request signature we calculated does not match",
    ),
    "another region": (
        {"region": "eu-west-1"},
        InvalidSignature,
        "Credential should be scoped to a valid region, not 'eu-west-1'. "
        "This server's region is 'us-east-1'.",
    ),
    "another service": (
        {"service": "s3"},
        InvalidSignature,
        "Credential should be scoped to correct service: 'lambda'.",
    ),
    "signed too long ago": ({"skew_s": 301}, InvalidSignature, "Signature expired: "),
    "signed in the future": ({"skew_s": -301}, InvalidSignature, "Signature not yet current: "),
}


@pytest.mark.parametrize(("changes", "error", "message"), OUTCOMES.values(), ids=OUTCOMES.keys())
def test_outcomes(
    authenticator: Authenticator,
    clock: Clock,
    dev: AccessKey,
    *,
    changes: dict[str, Any],
    error: type[FaasError] | None,
    message: str,
) -> None:
    options = dict(changes)
    skew_s = options.pop("skew_s", 0)
    key_id = options.pop("key_id", dev.access_key_id)
    wire = signed(key_id, options.pop("secret", dev.secret), **options)
    clock.set_to(wire, skew_s)
    if error is None:
        caller = authenticator.authenticate(wire)
        assert caller.key == dev
        assert caller.arn == f"arn:aws:iam::{ACCOUNT}:user/dev"
        assert not caller.presigned
        return
    with pytest.raises(FaasError) as problem:
        authenticator.authenticate(wire)
    assert type(problem.value) is error
    assert message in problem.value.message


@pytest.mark.parametrize(
    "wire",
    [
        unsigned(),
        unsigned(authorization="Basic dXNlcjpwYXNz"),
        unsigned(authorization="AWS4-HMAC-SHA256 Credential=x"),
        unsigned(target=f"{LIST}?X-Amz-Signature=" + "0" * 64),
    ],
    ids=["none", "basic", "malformed", "incomplete presigned"],
)
def test_missing_or_unreadable_authentication(
    authenticator: Authenticator, wire: WireRequest
) -> None:
    with pytest.raises(MissingAuthenticationToken):
        authenticator.authenticate(wire)


def test_a_key_rotated_or_deleted_away_is_unrecognized(
    authenticator: Authenticator, ring: KeyRing, clock: Clock, dev: AccessKey
) -> None:
    before = signed(dev.access_key_id, dev.secret)
    clock.set_to(before)
    authenticator.authenticate(before)  # its signing key is cached now
    rotated = ring.rotate("dev")
    with pytest.raises(UnrecognizedClient, match=UNRECOGNIZED):
        authenticator.authenticate(before)
    after = signed(rotated.access_key_id, rotated.secret)
    assert authenticator.authenticate(after).key == rotated
    ring.delete("dev")
    with pytest.raises(UnrecognizedClient, match=UNRECOGNIZED):
        authenticator.authenticate(after)


def test_a_cached_signing_key_does_not_accept_another_secret(
    authenticator: Authenticator, clock: Clock, dev: AccessKey
) -> None:
    good = signed(dev.access_key_id, dev.secret)
    clock.set_to(good)
    authenticator.authenticate(good)
    with pytest.raises(InvalidSignature):
        # Another first character, whatever the random secret starts with.
        other = ("x" if dev.secret[0] != "x" else "y") + dev.secret[1:]
        authenticator.authenticate(signed(dev.access_key_id, other))
    changed = WireRequest(good.method, good.raw_target + "?x=1", good.headers, good.body)
    with pytest.raises(InvalidSignature):
        authenticator.authenticate(changed)


def test_a_presigned_request_of_a_key(
    authenticator: Authenticator, clock: Clock, dev: AccessKey
) -> None:
    wire = presigned(dev.access_key_id, dev.secret, expires_s=60)
    clock.set_to(wire, 59)
    caller = authenticator.authenticate(wire)
    assert caller.key == dev
    assert caller.presigned
    clock.set_to(wire, 61)
    with pytest.raises(InvalidSignature, match="Signature expired"):
        authenticator.authenticate(wire)


def test_require_names_the_action_and_the_resource(
    authenticator: Authenticator, clock: Clock, dev: AccessKey
) -> None:
    wire = signed(dev.access_key_id, dev.secret)
    clock.set_to(wire)
    caller = authenticator.authenticate(wire)
    caller.require("lambda:GetFunction", FN + "anything")
    caller.require("lambda:InvokeFunction", FN + "team-a")
    assert caller.allows("lambda:InvokeFunction", FN + "team-a")
    assert not caller.allows("lambda:InvokeFunction", FN + "other")
    with pytest.raises(AccessDenied) as denied:
        caller.require("lambda:InvokeFunction", FN + "other")
    assert denied.value.message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/dev is not authorized to perform: "
        f"lambda:InvokeFunction on resource: {FN}other because no identity-based policy "
        "allows the lambda:InvokeFunction action"
    )


# --- the code download key ----------------------------------------------------------------

CODE = "/faas/v1/code/" + "ab" * 32


def code_secret(master: MasterKey) -> str:
    """The code download key's secret: with it, only the key's own rules stop a request."""
    return master.derive("code-download-urls").hex()


def test_a_code_url_downloads_that_code_and_does_nothing_else(
    authenticator: Authenticator, clock: Clock
) -> None:
    target = authenticator.presign_code_url(CODE, HOST, expires_s=600)
    wire = WireRequest("GET", target, {"host": [HOST]}, b"")
    caller = authenticator.authenticate(wire)
    assert caller.presigned
    assert caller.key.access_key_id == CODE_URL_KEY_ID
    caller.require("lambda:GetFunction", FN + "f")
    for action in ("lambda:InvokeFunction", "lambda:DeleteFunction", "lambda:ListFunctions"):
        with pytest.raises(AccessDenied):
            caller.require(action, FN + "f")
    clock.now += dt.timedelta(seconds=601)
    with pytest.raises(InvalidSignature, match="Signature expired"):
        authenticator.authenticate(wire)


def test_botocore_presigns_a_code_url_with_the_code_key(
    authenticator: Authenticator, clock: Clock, master: MasterKey
) -> None:
    """The control for the refusals below: the same secret works where the key is usable."""
    wire = presigned(CODE_URL_KEY_ID, code_secret(master), target=CODE)
    clock.set_to(wire)
    assert authenticator.authenticate(wire).key.access_key_id == CODE_URL_KEY_ID


REFUSED_CODE_REQUESTS = {
    "signed in a header": lambda secret: signed(CODE_URL_KEY_ID, secret, target=CODE),
    "a POST": lambda secret: presigned(CODE_URL_KEY_ID, secret, method="POST", target=CODE),
    "a DELETE": lambda secret: presigned(CODE_URL_KEY_ID, secret, method="DELETE", target=CODE),
    "another path": lambda secret: presigned(CODE_URL_KEY_ID, secret, target=LIST),
    "a function path": lambda secret: presigned(CODE_URL_KEY_ID, secret, target=LIST + "f"),
    "a path that only starts alike": lambda secret: presigned(
        CODE_URL_KEY_ID, secret, target="/faas/v1/codex/" + "ab" * 32
    ),
}


@pytest.mark.parametrize("build", REFUSED_CODE_REQUESTS.values(), ids=REFUSED_CODE_REQUESTS.keys())
def test_the_code_key_is_refused_for_anything_else(
    authenticator: Authenticator, clock: Clock, master: MasterKey, build: Any
) -> None:
    wire = build(code_secret(master))
    clock.set_to(wire)
    with pytest.raises(UnrecognizedClient, match=UNRECOGNIZED):
        authenticator.authenticate(wire)


# --- the signing-key cache ----------------------------------------------------------------


def test_the_signing_key_cache_stays_bounded(
    authenticator: Authenticator, clock: Clock, dev: AccessKey
) -> None:
    start = dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC)
    for day in range(MAX_SIGNING_KEYS + 10):
        clock.now = start + dt.timedelta(days=day)
        headers = sigv4.sign_headers(
            "GET",
            LIST,
            HOST,
            b"",
            {},
            access_key_id=dev.access_key_id,
            secret=dev.secret,
            region=REGION,
            service="lambda",
            now=clock.now,
        )
        wire = WireRequest(
            "GET", LIST, {"host": [HOST], **{k.lower(): [v] for k, v in headers.items()}}, b""
        )
        assert authenticator.authenticate(wire).key == dev
        assert len(_signing_keys(authenticator)) <= MAX_SIGNING_KEYS


def _signing_keys(authenticator: Authenticator) -> dict[Any, bytes]:
    return authenticator._signing_keys
