"""The SigV4 verifier against botocore's signer, the reference every Lambda client uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faas.auth import sigv4
from faas.auth.sigv4 import SignatureProblem, WireRequest

KEY_ID = "AKFAEXAMPLEKEY000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
HOST = "127.0.0.1:8080"


def wire_from(method: str, url: str, headers: Any, body: Any) -> WireRequest:
    """What the server receives for a request botocore prepared (urllib3 adds Host)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    received: dict[str, list[str]] = {"host": [parts.netloc]}
    for name, value in headers.items():
        text = value.decode() if isinstance(value, bytes) else str(value)
        received.setdefault(name.lower(), []).append(text)
    if body is None:
        payload = b""
    elif isinstance(body, bytes):
        payload = body
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = body.read()
    return WireRequest(method, target, received, payload)


def check(wire: WireRequest, secret: str = SECRET) -> sigv4.SignedRequest:
    signed = sigv4.parse_signed_request(wire)
    sigv4.verify(wire, signed, sigv4.signing_key(secret, signed.credential))
    return signed


# --- every Lambda operation as boto3 really sends it ---------------------------------------


@pytest.fixture
def sent() -> Iterator[tuple[Any, list[WireRequest]]]:
    captured: list[WireRequest] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        captured.append(wire_from(request.method, request.url, request.headers, request.body))
        return AWSResponse(request.url, 200, {}, _Raw(b"{}"))

    session = botocore.session.get_session()
    client = session.create_client(
        "lambda",
        region_name=REGION,
        endpoint_url=f"http://{HOST}",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    client.meta.events.register("before-send.lambda.*", capture)
    yield client, captured


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


ARN = "arn:aws:lambda:us-east-1:000000000000:function:my-fn"


def test_every_request_boto3_sends_verifies(sent: tuple[Any, list[WireRequest]]) -> None:
    client, captured = sent
    client.list_functions()
    client.list_functions(Marker="bWFya2Vy", MaxItems=7)
    client.get_function(FunctionName=ARN)
    client.get_function(FunctionName=f"{ARN}:prod")
    client.get_function_configuration(FunctionName="my-fn", Qualifier="$LATEST")
    client.invoke(FunctionName=ARN, Payload=b'{"a": [1, 2, "\xc3\xa9"]}', Qualifier="7")
    client.invoke(FunctionName="my-fn", InvocationType="DryRun", LogType="Tail")
    client.create_function(
        FunctionName="my-fn",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/r",
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
        Environment={"Variables": {"K": "v w", "U": "\u00fc"}},
    )
    client.update_function_configuration(FunctionName=ARN, MemorySize=256)
    client.put_function_concurrency(FunctionName="my-fn", ReservedConcurrentExecutions=3)
    client.get_provisioned_concurrency_config(FunctionName="my-fn", Qualifier="$LATEST")
    client.delete_function(FunctionName=ARN)
    assert len(captured) == 12
    assert any("%3A" in w.raw_target for w in captured)  # the ARN's colons, encoded once
    for wire in captured:
        signed = check(wire)
        assert signed.credential.access_key_id == KEY_ID
        assert signed.credential.service == "lambda"


def test_an_arn_path_is_signed_twice_encoded() -> None:
    assert sigv4.canonical_uri("/2015-03-31/functions/arn%3Aaws%3Alambda/x") == (
        "/2015-03-31/functions/arn%253Aaws%253Alambda/x"
    )


# --- generated requests ---------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)
_HEADER_NAMES = st.from_regex(r"\Ax-[a-z0-9-]{1,12}\Z")
_HEADER_VALUES = st.from_regex(r"\A[ -~]{0,20}\Z").map(str.strip)


@st.composite
def botocore_requests(draw: st.DrawFn) -> AWSRequest:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    segments = draw(st.lists(_TEXT, min_size=0, max_size=4))
    path = "/" + "/".join(percent_encode(s, safe="") for s in segments)
    query = draw(st.lists(st.tuples(_TEXT, _TEXT), max_size=4))
    url = f"http://{HOST}{path}"
    if query:
        url += "?" + percent_encode_sequence(query)
    headers = draw(st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=4))
    body = draw(st.binary(max_size=64)) if method in ("POST", "PUT") else b""
    return AWSRequest(method=method, url=url, headers=headers, data=body)


def sign_with_botocore(request: AWSRequest, token: str | None = None) -> WireRequest:
    credentials = Credentials(KEY_ID, SECRET, token)
    SigV4Auth(credentials, "lambda", REGION).add_auth(request)
    prepared = request.prepare()
    return wire_from(prepared.method, prepared.url, prepared.headers, prepared.body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(botocore_requests())
def test_whatever_botocore_signs_verifies(request: AWSRequest) -> None:
    check(sign_with_botocore(request))


@settings(max_examples=100, deadline=None)
@given(botocore_requests(), st.binary(min_size=1, max_size=8))
def test_a_changed_body_does_not_verify(request: AWSRequest, extra: bytes) -> None:
    wire = sign_with_botocore(request)
    tampered = WireRequest(wire.method, wire.raw_target, wire.headers, wire.body + extra)
    with pytest.raises(SignatureProblem) as problem:
        check(tampered)
    assert problem.value.kind == SignatureProblem.INVALID


def test_a_token_is_signed_and_checked() -> None:
    wire = sign_with_botocore(
        AWSRequest(method="GET", url=f"http://{HOST}/2015-03-31/functions/"), token="session-1"
    )
    assert check(wire).security_token == "session-1"
    headers = {**wire.headers, "x-amz-security-token": ["session-2"]}
    with pytest.raises(SignatureProblem):
        check(WireRequest(wire.method, wire.raw_target, headers, wire.body))


def test_changing_a_signed_header_breaks_it_and_an_unsigned_one_does_not() -> None:
    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}/2015-03-31/functions/f/invocations",
        headers={"X-Amz-Invocation-Type": "Event"},
        data=b"{}",
    )
    wire = sign_with_botocore(request)
    unsigned = {**wire.headers, "user-agent": ["something else"]}
    check(WireRequest(wire.method, wire.raw_target, unsigned, wire.body))
    signed = {**wire.headers, "x-amz-invocation-type": ["RequestResponse"]}
    with pytest.raises(SignatureProblem, match="does not match"):
        check(WireRequest(wire.method, wire.raw_target, signed, wire.body))


def test_wrong_secret_and_missing_or_malformed_authorization() -> None:
    wire = sign_with_botocore(AWSRequest(method="GET", url=f"http://{HOST}/x"))
    with pytest.raises(SignatureProblem) as wrong:
        check(wire, secret="not-the-secret")
    assert wrong.value.kind == SignatureProblem.INVALID
    for authorization in (
        None,
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 Credential=x",
        "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=K/20240101/r/s/aws4_request, SignedHeaders=host, "
        "Signature=xyz",
    ):
        headers = {k: v for k, v in wire.headers.items() if k != "authorization"}
        if authorization is not None:
            headers["authorization"] = [authorization]
        with pytest.raises(SignatureProblem) as missing:
            check(WireRequest(wire.method, wire.raw_target, headers, wire.body))
        assert missing.value.kind == SignatureProblem.MISSING, authorization


def test_a_date_of_the_right_shape_that_is_no_moment_is_malformed() -> None:
    wire = sign_with_botocore(AWSRequest(method="GET", url=f"http://{HOST}/x"))
    signed = check(wire)
    authorization = wire.headers["authorization"][0].replace(
        f"/{signed.credential.date}/", "/20241399/"
    )
    headers = {**wire.headers, "authorization": [authorization], "x-amz-date": ["20241399T256099Z"]}
    with pytest.raises(SignatureProblem) as malformed:
        sigv4.parse_signed_request(WireRequest(wire.method, wire.raw_target, headers, b""))
    assert malformed.value.kind == SignatureProblem.MISSING


def test_a_presigned_query_without_its_signature_is_malformed() -> None:
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=K%2F20240101%2Fr%2Fs%2Faws4_request"
        "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
        "&note=X-Amz-Signature="
    )
    with pytest.raises(SignatureProblem) as malformed:
        sigv4.parse_signed_request(WireRequest("GET", f"/x?{query}", {"host": [HOST]}, b""))
    assert malformed.value.kind == SignatureProblem.MISSING


def test_the_clock_window_is_five_minutes_both_ways() -> None:
    wire = sign_with_botocore(AWSRequest(method="GET", url=f"http://{HOST}/x"))
    signed = check(wire)
    signed_at = sigv4.parse_timestamp(signed.timestamp)
    sigv4.check_clock(signed, signed_at + dt.timedelta(minutes=4, seconds=59), 300)
    sigv4.check_clock(signed, signed_at - dt.timedelta(minutes=4, seconds=59), 300)
    with pytest.raises(SignatureProblem, match=r"^Signature expired: \d{8}T\d{6}Z is now "):
        sigv4.check_clock(signed, signed_at + dt.timedelta(minutes=6), 300)
    with pytest.raises(SignatureProblem, match=r"^Signature not yet current: "):
        sigv4.check_clock(signed, signed_at - dt.timedelta(minutes=6), 300)


def test_our_own_signer_verifies_with_botocore_recomputing_it() -> None:
    """The CLI's signer, checked the other way round: botocore recomputes its signature."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    target = (
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction%3Af"
        "?Qualifier=%24LATEST"
    )
    body = b'{"x": 1}'
    headers = sigv4.sign_headers(
        "POST",
        target,
        HOST,
        body,
        {"Content-Type": "application/json"},
        access_key_id=KEY_ID,
        secret=SECRET,
        region=REGION,
        service="lambda",
        now=now,
    )
    reference = AWSRequest(
        method="POST",
        url=f"http://{HOST}{target}",
        headers={"Content-Type": "application/json", "Host": HOST},
        data=body,
    )
    reference.context["timestamp"] = headers["X-Amz-Date"]
    reference.headers["X-Amz-Date"] = headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(KEY_ID, SECRET), "lambda", REGION)
    canonical = signer.canonical_request(reference)
    expected = signer.signature(signer.string_to_sign(reference, canonical), reference)
    assert headers["Authorization"].endswith(f"Signature={expected}")


def test_a_presigned_target_verifies_until_it_expires() -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    target = sigv4.presign_target(
        "GET",
        "/faas/v1/code/abc",
        HOST,
        access_key_id=KEY_ID,
        secret=SECRET,
        region=REGION,
        service="lambda",
        now=now,
        expires_s=600,
    )
    wire = WireRequest("GET", target, {"host": [HOST]}, b"")
    signed = check(wire)
    assert signed.presigned and signed.expires_s == 600
    sigv4.check_clock(signed, now + dt.timedelta(seconds=599), 300)
    with pytest.raises(SignatureProblem, match="Signature expired"):
        sigv4.check_clock(signed, now + dt.timedelta(seconds=601), 300)
    sigv4.check_clock(signed, now - dt.timedelta(seconds=299), 300)
    with pytest.raises(SignatureProblem, match="Signature not yet current"):
        sigv4.check_clock(signed, now - dt.timedelta(seconds=301), 300)
    with pytest.raises(SignatureProblem):
        check(WireRequest("GET", target.replace("/abc", "/abd"), {"host": [HOST]}, b""))
