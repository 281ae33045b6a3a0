"""Signatures against a real `faas serve`: what an unsigned, malformed, forged, stale or
tampered request gets (Lambda's 403 codes and messages), presigned URLs, and GetFunction's
Code.Location, a presigned download anyone holding it may use until it expires."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.auth import (
    ECHO,
    FUNCTION_ARN,
    FUNCTIONS,
    Reply,
    allow,
    call,
    create_key,
    policy,
    presigned,
    request,
    send,
    signed,
    unique,
)
from tests.helpers.server import AccessKey, FaasServer

MISSING_TOKEN = (403, "MissingAuthenticationTokenException")
UNRECOGNIZED = (403, "UnrecognizedClientException")
INVALID_SIGNATURE = (403, "InvalidSignatureException")
SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you provided"


@pytest.fixture(scope="module")
def echo(server: FaasServer) -> str:
    """A deployed function with a plain name (nothing to percent-encode in its path)."""
    name = unique("echo")
    server.deploy(name, {"app.py": ECHO})
    return name


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    """A server with a one-minute clock window and code URLs good for two seconds."""
    running = FaasServer.start(
        tmp_path_factory.mktemp("tight") / "data",
        env={"FAAS_AUTH_MAX_SKEW_S": "60", "FAAS_AUTH_CODE_URL_EXPIRY_S": "2"},
    )
    try:
        yield running
    finally:
        running.stop()


def invoke_path(name: str) -> str:
    return f"{FUNCTIONS}/{urllib.parse.quote(name, safe='')}/invocations"


def _download(url: str) -> Reply:
    """A plain GET, as a browser or any HTTP client would fetch a URL: nothing signed."""
    return send(request(url))


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


# -- no signature, or one that cannot be read -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", FUNCTIONS + "/"),
        ("GET", FUNCTIONS + "/anything"),
        ("POST", FUNCTIONS + "/anything/invocations"),
        ("DELETE", FUNCTIONS + "/anything"),
        ("GET", "/faas/v1/keys"),
        ("GET", "/faas/v1/invocations"),
        ("GET", "/2015-03-31/no-such-operation"),
    ],
)
def test_an_unsigned_request_is_missing_its_token(
    server: FaasServer, method: str, path: str
) -> None:
    reply = call(server, path, None, method=method, body=b"{}" if method == "POST" else None)
    assert reply.refusal == MISSING_TOKEN, reply
    assert reply.message == "Missing Authentication Token"


def _valid_headers(server: FaasServer) -> dict[str, str]:
    """The Authorization and X-Amz-Date of a ListFunctions botocore signed with admin's key."""
    good = signed(server.url + FUNCTIONS + "/", server.admin_key)
    return {
        "Authorization": good.headers["Authorization"],
        "X-amz-date": good.headers["X-amz-date"],
    }


def _without(authorization: str, field: str) -> str:
    algorithm, _, rest = authorization.partition(" ")
    kept = [part for part in rest.split(", ") if not part.startswith(field + "=")]
    return f"{algorithm} {', '.join(kept)}"


MALFORMED: dict[str, Any] = {
    "wrong algorithm": lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1),
    "no Credential": lambda a: _without(a, "Credential"),
    "no SignedHeaders": lambda a: _without(a, "SignedHeaders"),
    "no Signature": lambda a: _without(a, "Signature"),
    "short Signature": lambda a: a[:-10],
    "garbage": lambda a: "garbage",
    "empty": lambda a: "",
}


@pytest.mark.parametrize("damage", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_authorization_header_is_missing_its_token(
    server: FaasServer, damage: Any
) -> None:
    headers = _valid_headers(server)
    headers["Authorization"] = damage(headers["Authorization"])
    reply = send(request(server.url + FUNCTIONS + "/", headers=headers))
    assert reply.refusal == MISSING_TOKEN, reply


def test_an_authorization_without_its_date_is_missing_its_token(server: FaasServer) -> None:
    headers = _valid_headers(server)
    del headers["X-amz-date"]
    reply = send(request(server.url + FUNCTIONS + "/", headers=headers))
    assert reply.refusal == MISSING_TOKEN, reply


def test_a_date_that_looks_right_but_is_no_date_is_refused_not_a_server_error(
    server: FaasServer,
) -> None:
    # The key id is a real one (key ids are not secret), so the date is what gets checked.
    headers = _valid_headers(server)
    today = headers["X-amz-date"][:8]
    headers["Authorization"] = headers["Authorization"].replace(f"/{today}/", "/20261399/")
    headers["X-amz-date"] = "20261399T256099Z"
    reply = send(request(server.url + FUNCTIONS + "/", headers=headers))
    assert reply.refusal == MISSING_TOKEN, reply
    assert "Traceback" not in server.log()


def test_a_presigned_query_without_its_signature_is_refused_not_a_server_error(
    server: FaasServer,
) -> None:
    key = server.admin_key
    now = dt.datetime.now(dt.UTC)
    query = urllib.parse.urlencode(
        {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{key.access_key_id}/{now:%Y%m%d}/us-east-1/lambda/aws4_request",
            "X-Amz-Date": stamp(now),
            "X-Amz-Expires": "60",
            "X-Amz-SignedHeaders": "host",
            # The parameter's name, but only inside another parameter's value.
            "note": "X-Amz-Signature=",
        },
        safe="=",
    )
    reply = send(request(f"{server.url}{FUNCTIONS}/?{query}"))
    assert reply.refusal == MISSING_TOKEN, reply


# -- who signed, and when ---------------------------------------------------------------------


def test_an_unknown_key_id_is_unrecognized(server: FaasServer) -> None:
    stranger = AccessKey("AKFA" + "Q" * 16, "x" * 40)
    reply = call(server, FUNCTIONS + "/", stranger)
    assert reply.refusal == UNRECOGNIZED, reply
    assert reply.message == "The security token included in the request is invalid."


def test_a_wrong_secret_is_an_invalid_signature(server: FaasServer) -> None:
    impostor = AccessKey(server.admin_key.access_key_id, "not-the-secret-" + "x" * 25)
    reply = call(server, FUNCTIONS + "/", impostor)
    assert reply.refusal == INVALID_SIGNATURE, reply
    assert reply.message is not None and reply.message.startswith(SIGNATURE_MISMATCH)


def test_a_request_signed_six_minutes_ago_has_expired(server: FaasServer) -> None:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    reply = call(server, FUNCTIONS + "/", server.admin_key, at=moment)
    assert reply.refusal == INVALID_SIGNATURE, reply
    assert reply.message is not None
    assert reply.message.startswith(f"Signature expired: {stamp(moment)} is now earlier than ")
    assert reply.message.endswith(" - 5 min.)")


def test_a_request_signed_six_minutes_ahead_is_not_yet_current(server: FaasServer) -> None:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    reply = call(server, FUNCTIONS + "/", server.admin_key, at=moment)
    assert reply.refusal == INVALID_SIGNATURE, reply
    assert reply.message is not None
    assert reply.message.startswith(f"Signature not yet current: {stamp(moment)} is still later")
    assert reply.message.endswith(" + 5 min.)")


def test_four_minutes_of_clock_difference_either_way_are_accepted(server: FaasServer) -> None:
    now = dt.datetime.now(dt.UTC)
    for moment in (now - dt.timedelta(minutes=4), now + dt.timedelta(minutes=4)):
        reply = call(server, FUNCTIONS + "/", server.admin_key, at=moment)
        assert reply.status == 200, reply


def test_the_clock_window_follows_max_skew(tight_server: FaasServer) -> None:
    now = dt.datetime.now(dt.UTC)
    key = tight_server.admin_key
    for moment in (now - dt.timedelta(seconds=30), now + dt.timedelta(seconds=30)):
        assert call(tight_server, FUNCTIONS + "/", key, at=moment).status == 200
    late = call(tight_server, FUNCTIONS + "/", key, at=now - dt.timedelta(minutes=2))
    early = call(tight_server, FUNCTIONS + "/", key, at=now + dt.timedelta(minutes=2))
    assert late.refusal == early.refusal == INVALID_SIGNATURE
    assert late.message is not None and late.message.startswith("Signature expired")
    assert late.message.endswith(" - 1 min.)")
    assert early.message is not None and early.message.startswith("Signature not yet current")


def test_a_presigned_url_is_good_from_its_time_until_it_expires(server: FaasServer) -> None:
    now = dt.datetime.now(dt.UTC)
    url = server.url + FUNCTIONS + "/"
    key = server.admin_key
    assert _download(presigned(url, key, 60, now)).status == 200
    late = _download(presigned(url, key, 60, now - dt.timedelta(minutes=2)))
    assert late.refusal == INVALID_SIGNATURE, late
    assert late.message is not None and late.message.startswith("Signature expired")
    # Dated ahead, a URL would outlive X-Amz-Expires' seven-day cap by as much as it likes.
    for ahead in (dt.timedelta(hours=1), dt.timedelta(days=365 * 70)):
        early = _download(presigned(url, key, 604800, now + ahead))
        assert early.refusal == INVALID_SIGNATURE, early
        assert early.message is not None
        assert early.message.startswith("Signature not yet current"), early


# -- a signed request changed on the way ------------------------------------------------------


def test_a_body_changed_after_signing_is_an_invalid_signature(
    server: FaasServer, echo: str
) -> None:
    tampered = signed(
        server.url + invoke_path(echo), server.admin_key, method="POST", body=b'{"pay": 10}'
    )
    tampered.data = b'{"pay": 99}'
    reply = send(tampered)
    assert reply.refusal == INVALID_SIGNATURE, reply
    assert reply.message is not None and reply.message.startswith(SIGNATURE_MISMATCH)


def test_a_signed_header_changed_after_signing_is_an_invalid_signature(
    server: FaasServer, echo: str
) -> None:
    tampered = signed(
        server.url + invoke_path(echo),
        server.admin_key,
        method="POST",
        body=b"{}",
        headers={"X-Amz-Invocation-Type": "DryRun"},
    )
    tampered.add_header("X-Amz-Invocation-Type", "Event")
    reply = send(tampered)
    assert reply.refusal == INVALID_SIGNATURE, reply
    assert reply.message is not None and reply.message.startswith(SIGNATURE_MISMATCH)


def test_an_unsigned_extra_header_does_not_matter(server: FaasServer, echo: str) -> None:
    ok = signed(server.url + invoke_path(echo), server.admin_key, method="POST", body=b'{"n": 1}')
    ok.add_header("X-Added-By-A-Proxy", "yes")
    reply = send(ok)
    assert reply.status == 200, reply
    assert reply.json() == {"echo": {"n": 1}}


# -- GetFunction's Code.Location --------------------------------------------------------------


def _code_location(server: FaasServer, name: str) -> tuple[str, str]:
    """(Code.Location, CodeSha256) of GetFunction."""
    got = server.client().get_function(FunctionName=name)
    return got["Code"]["Location"], got["Configuration"]["CodeSha256"]


def test_code_location_downloads_the_zip_without_a_signature(server: FaasServer, echo: str) -> None:
    location, code_sha256 = _code_location(server, echo)
    reply = _download(location)
    assert reply.status == 200, reply
    assert base64.b64encode(hashlib.sha256(reply.body).digest()).decode() == code_sha256
    with zipfile.ZipFile(io.BytesIO(reply.body)) as archive:
        assert archive.read("app.py").decode() == ECHO


def test_a_tampered_or_repathed_code_location_is_refused(server: FaasServer, echo: str) -> None:
    location, _ = _code_location(server, echo)
    other = unique("other-code")
    server.deploy(other, {"app.py": ECHO + "\n# another bundle\n"})
    other_location, _ = _code_location(server, other)
    path, _, query = location.partition("?")
    other_path = other_location.partition("?")[0]
    flipped = location[:-1] + ("0" if location[-1] != "0" else "1")
    longer = location.replace("X-Amz-Expires=600", "X-Amz-Expires=604800")
    assert longer != location
    unsigned = path + "?" + query.rpartition("&X-Amz-Signature=")[0]
    assert _download(flipped).refusal == INVALID_SIGNATURE
    assert _download(longer).refusal == INVALID_SIGNATURE
    assert _download(f"{other_path}?{query}").refusal == INVALID_SIGNATURE
    assert _download(unsigned).refusal == MISSING_TOKEN
    # The URL's key is good for code downloads only, nowhere else.
    elsewhere = f"{server.url}{FUNCTIONS}/?{query}"
    assert _download(elsewhere).refusal == UNRECOGNIZED


def test_a_code_location_expires(tight_server: FaasServer) -> None:
    name = unique("expiring")
    tight_server.deploy(name, {"app.py": ECHO})
    issued = time.monotonic()
    location, _ = _code_location(tight_server, name)
    assert _download(location).status == 200
    deadline = issued + 5.0
    reply = _download(location)
    while reply.status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        reply = _download(location)
    assert reply.refusal == INVALID_SIGNATURE, reply
    assert reply.message is not None and reply.message.startswith("Signature expired")
    assert time.monotonic() - issued >= 1.0  # not refused before its time (stamps are seconds)


def test_the_code_endpoint_needs_get_function_on_a_function_using_the_code(
    server: FaasServer, echo: str
) -> None:
    _, code_sha256 = _code_location(server, echo)
    hex_sha256 = base64.b64decode(code_sha256).hex()
    path = f"/faas/v1/code/{hex_sha256}"
    elsewhere = create_key(
        server, unique("no-code"), policy(allow("lambda:GetFunction", FUNCTION_ARN + "nope"))
    )
    reply = call(server, path, elsewhere)
    assert reply.refusal == (403, "AccessDeniedException"), reply
    assert reply.message is not None and hex_sha256 in reply.message
    assert "lambda:GetFunction" in reply.message
    # Nor does it learn whether some function uses a bundle: unknown code is denied alike.
    unknown_sha256 = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    unknown = call(server, f"/faas/v1/code/{unknown_sha256}", elsewhere)
    assert unknown.refusal == (403, "AccessDeniedException"), unknown
    assert unknown.message == reply.message.replace(hex_sha256, unknown_sha256)
    reader = create_key(
        server, unique("code-reader"), policy(allow("lambda:GetFunction", FUNCTION_ARN + echo))
    )
    assert call(server, path, reader).status == 200
    missing = call(server, f"/faas/v1/code/{unknown_sha256}", server.admin_key)
    assert missing.refusal == (404, "ResourceNotFoundException")
