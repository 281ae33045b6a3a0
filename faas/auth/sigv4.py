"""AWS Signature Version 4, both ways: verify what a client signed, sign what the CLI sends.

Pure (hashlib and hmac only): the gateway hands in the request as it arrived on the wire, and
the faas CLI uses the same canonical form to sign, so both sides cannot drift apart. botocore's
signer is the reference the tests hold this against.

The canonical request is built from the request as sent:
- the path exactly as it arrived (still percent-encoded), dot segments and doubled slashes
  removed, then percent-encoded once more: Lambda, like every service but S3, signs a twice
  encoded path, so an ARN's `:` (sent as `%3A`) is signed as `%253A`;
- the query decoded and encoded again the one canonical way (RFC 3986, `%20` for a space),
  pairs sorted;
- the headers named in SignedHeaders, lower-cased, values trimmed, repeats joined by `,`;
- the body's SHA-256 (an `X-Amz-Content-SHA256` header, when sent, must be that hash).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Characters RFC 3986 leaves unencoded; SigV4 encodes everything else.
_UNRESERVED = "-_.~"
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")


class SignatureProblem(Exception):
    """Why a request's authentication cannot be accepted; `kind` picks Lambda's error."""

    MISSING = "missing"  # no or malformed authentication
    INVALID = "invalid"  # well-formed, but it does not verify

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class Credential:
    """`Credential=KEY/DATE/REGION/SERVICE/aws4_request` of a signed request."""

    access_key_id: str
    date: str  # YYYYMMDD
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a client claims: who signed, when, which headers, and the signature."""

    credential: Credential
    timestamp: str  # X-Amz-Date, YYYYMMDDTHHMMSSZ
    moment: dt.datetime  # the same, parsed
    signed_headers: tuple[str, ...]
    signature: str
    security_token: str | None
    presigned: bool = False
    expires_s: int | None = None  # presigned URLs only


class Headers(Protocol):
    """Every value received for a (lower-case) header name, or None."""

    def get(self, name: str, /) -> Sequence[str] | None: ...


@dataclass(frozen=True, slots=True)
class WireRequest:
    """A request as it arrived: method, raw target (path?query), headers, body."""

    method: str
    raw_target: str
    headers: Headers | Mapping[str, Sequence[str]]
    body: bytes
    # The body's SHA-256 when the caller already has it (hashed off the event loop).
    body_sha256: str | None = None

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


def parse_signed_request(request: WireRequest) -> SignedRequest:
    """The signature a request carries, in its Authorization header or (presigned) query."""
    authorization = request.header("authorization")
    if authorization is not None:
        return _from_header(authorization, request)
    if "X-Amz-Signature=" in request.raw_target:
        return _from_query(request)
    raise SignatureProblem(SignatureProblem.MISSING, "Missing Authentication Token")


def canonical_request(request: WireRequest, signed: SignedRequest) -> str:
    uri, query = _canonical_target(request.raw_target, signed.presigned)
    return "\n".join(
        (
            request.method.upper(),
            uri,
            query,
            _canonical_headers(request, signed.signed_headers) + "\n",
            ";".join(signed.signed_headers),
            _payload_hash(request, signed),
        )
    )


@functools.lru_cache(maxsize=4096)
def _canonical_target(raw_target: str, presigned: bool) -> tuple[str, str]:
    """(canonical URI, canonical query) of a path?query as received. Cached: a client calls
    the same few paths over and over (a pure function of its input, so caching is safe)."""
    path, _, query = raw_target.partition("?")
    pairs = _query_pairs(query)
    if presigned:
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    return canonical_uri(path), canonical_query(pairs)


def string_to_sign(signed: SignedRequest, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{signed.timestamp}\n{signed.credential.scope}\n{digest}"


def signing_key(secret: str, credential: Credential) -> bytes:
    """The key of one day, region and service (callers cache it: four HMACs each time)."""
    key = _hmac(f"AWS4{secret}".encode(), credential.date)
    key = _hmac(key, credential.region)
    key = _hmac(key, credential.service)
    return _hmac(key, TERMINATOR)


def signature(key: bytes, to_sign: str) -> str:
    # hmac.digest: OpenSSL's one-shot HMAC, without the hmac.HMAC object (a third the time).
    return hmac.digest(key, to_sign.encode("utf-8"), "sha256").hex()


def signatures_match(expected: str, received: str) -> bool:
    """Constant time: how much of a signature matched must not leak through timing."""
    return hmac.compare_digest(expected.encode(), received.encode())


def canonical_uri(raw_path: str) -> str:
    return quote(_remove_dot_segments(raw_path or "/"), safe="/~")


def canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
    encoded = sorted((_encode(key), _encode(value)) for key, value in pairs)
    return "&".join(f"{key}={value}" for key, value in encoded)


def check_clock(signed: SignedRequest, now: dt.datetime, max_skew_s: int) -> None:
    """Lambda's window: a request time more than `max_skew_s` from ours is refused; a
    presigned URL is good from its time (within the same window) until it expires."""
    moment = signed.moment
    window = dt.timedelta(seconds=max_skew_s)
    minutes = max_skew_s // 60
    # Presigned URLs too: one dated ahead would outlive X-Amz-Expires by as much as it likes.
    if moment > now + window:
        raise SignatureProblem(
            SignatureProblem.INVALID,
            f"Signature not yet current: {signed.timestamp} is still later than "
            f"{_stamp(now + window)} ({_stamp(now)} + {minutes} min.)",
        )
    if signed.presigned:
        expires = moment + dt.timedelta(seconds=signed.expires_s or 0)
        if now > expires:
            raise SignatureProblem(
                SignatureProblem.INVALID,
                f"Signature expired: {_stamp(expires)} is now earlier than {_stamp(now)}",
            )
        return
    if moment < now - window:
        raise SignatureProblem(
            SignatureProblem.INVALID,
            f"Signature expired: {signed.timestamp} is now earlier than "
            f"{_stamp(now - window)} ({_stamp(now)} - {minutes} min.)",
        )


@functools.lru_cache(maxsize=256)
def parse_timestamp(text: str) -> dt.datetime:
    """YYYYMMDDTHHMMSSZ -> an aware datetime; ValueError for one that names no real moment.
    By hand and cached (requests of the same second share it): strptime costs ~20 us, a
    fifth of a whole verification."""
    digits = text[:8] + text[9:15]
    if len(text) != 16 or text[8] != "T" or text[15] != "Z" or not digits.isascii():
        raise ValueError(f"not YYYYMMDDTHHMMSSZ: {text!r}")
    if not digits.isdigit():
        raise ValueError(f"not YYYYMMDDTHHMMSSZ: {text!r}")
    return dt.datetime(
        int(text[0:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[9:11]),
        int(text[11:13]),
        int(text[13:15]),
        tzinfo=dt.UTC,
    )


def sign_headers(
    method: str,
    url_target: str,
    host: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    access_key_id: str,
    secret: str,
    region: str,
    service: str,
    now: dt.datetime,
    security_token: str | None = None,
) -> dict[str, str]:
    """The headers that sign a request: X-Amz-Date, Authorization (and the token)."""
    timestamp = _stamp(now)
    sent = {name.lower(): value for name, value in headers.items()}
    sent["host"] = host
    sent["x-amz-date"] = timestamp
    if security_token is not None:
        sent["x-amz-security-token"] = security_token
    credential = Credential(access_key_id, timestamp[:8], region, service)
    names = tuple(sorted(sent))
    signed = SignedRequest(credential, timestamp, now, names, "", security_token)
    wire = WireRequest(method, url_target, {k: [v] for k, v in sent.items()}, body)
    to_sign = string_to_sign(signed, canonical_request(wire, signed))
    value = signature(signing_key(secret, credential), to_sign)
    out = {"X-Amz-Date": timestamp}
    if security_token is not None:
        out["X-Amz-Security-Token"] = security_token
    out["Authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{credential.scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={value}"
    )
    return out


def presign_target(
    method: str,
    path: str,
    host: str,
    *,
    access_key_id: str,
    secret: str,
    region: str,
    service: str,
    now: dt.datetime,
    expires_s: int,
) -> str:
    """`path?X-Amz-...&X-Amz-Signature=...`: a URL anyone holding it may use until it
    expires (GetFunction's Code.Location)."""
    timestamp = _stamp(now)
    credential = Credential(access_key_id, timestamp[:8], region, service)
    params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key_id}/{credential.scope}"),
        ("X-Amz-Date", timestamp),
        ("X-Amz-Expires", str(expires_s)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    query = canonical_query(params)
    signed = SignedRequest(credential, timestamp, now, ("host",), "", None, True, expires_s)
    wire = WireRequest(method, f"{path}?{query}", {"host": [host]}, b"")
    to_sign = string_to_sign(signed, canonical_request(wire, signed))
    value = signature(signing_key(secret, credential), to_sign)
    return f"{path}?{query}&X-Amz-Signature={value}"


# -- parsing ---------------------------------------------------------------------------------


def _from_header(authorization: str, request: WireRequest) -> SignedRequest:
    # The usual shape, Signature last: everything before it repeats from request to request
    # of a client (its key, day, region, service, signed headers), so its parse is cached.
    scope_part, marker, signature_text = authorization.rpartition(", Signature=")
    if marker and "=" not in signature_text and "," not in signature_text:
        timestamp = request.header("x-amz-date")
        if timestamp is not None:
            credential, names = _parsed_scope(scope_part)
            return _signed_with(
                credential,
                names,
                timestamp,
                signature_text.strip(),
                request.header("x-amz-security-token"),
            )
    return _from_header_fields(authorization, request)


@functools.lru_cache(maxsize=1024)
def _parsed_scope(scope_part: str) -> tuple[Credential, tuple[str, ...]]:
    """`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...`, checked (errors as uncached)."""
    algorithm, _, rest = scope_part.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _malformed(f"Authorization must use {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals or name in fields or name not in ("Credential", "SignedHeaders"):
            raise _malformed(f"Authorization header is malformed near {part.strip()[:40]!r}")
        fields[name] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders") if n not in fields]
    if missing:
        raise _malformed(f"Authorization header requires the {missing[0]} parameter")
    return _credential(fields["Credential"]), _signed_header_names(fields["SignedHeaders"])


def _from_header_fields(authorization: str, request: WireRequest) -> SignedRequest:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _malformed(f"Authorization must use {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals or name in fields:
            raise _malformed(f"Authorization header is malformed near {part.strip()[:40]!r}")
        fields[name] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    if missing:
        raise _malformed(f"Authorization header requires the {missing[0]} parameter")
    timestamp = request.header("x-amz-date")
    if timestamp is None:
        raise _malformed("Authorization header requires an X-Amz-Date header")
    return _signed(
        fields["Credential"],
        timestamp,
        fields["SignedHeaders"],
        fields["Signature"],
        request.header("x-amz-security-token"),
    )


def _from_query(request: WireRequest) -> SignedRequest:
    _, _, query = request.raw_target.partition("?")
    params: dict[str, str] = {}
    for key, value in _query_pairs(query):
        params.setdefault(key, value)
    names = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires")
    # The signature too: its name may have appeared only inside another parameter's value.
    missing = [n for n in (*names, "X-Amz-SignedHeaders", "X-Amz-Signature") if n not in params]
    if missing:
        raise _malformed(f"a presigned URL requires {missing[0]}")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _malformed(f"X-Amz-Algorithm must be {ALGORITHM}")
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= 604800:
        raise _malformed("X-Amz-Expires must be between 1 and 604800 seconds")
    signed = _signed(
        params["X-Amz-Credential"],
        params["X-Amz-Date"],
        params["X-Amz-SignedHeaders"],
        params["X-Amz-Signature"],
        params.get("X-Amz-Security-Token"),
    )
    return dataclasses.replace(signed, presigned=True, expires_s=int(expires))


def _signed(
    credential_text: str,
    timestamp: str,
    signed_headers_text: str,
    signature_text: str,
    token: str | None,
) -> SignedRequest:
    return _signed_with(
        _credential(credential_text),
        _signed_header_names(signed_headers_text),
        timestamp,
        signature_text,
        token,
    )


def _credential(credential_text: str) -> Credential:
    parts = credential_text.split("/")
    if len(parts) != 5 or parts[4] != TERMINATOR or not all(parts):
        raise _malformed("Credential must be KEY/YYYYMMDD/REGION/SERVICE/aws4_request")
    return Credential(parts[0], parts[1], parts[2], parts[3])


def _signed_with(
    credential: Credential,
    names: tuple[str, ...],
    timestamp: str,
    signature_text: str,
    token: str | None,
) -> SignedRequest:
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        raise _malformed("X-Amz-Date must be YYYYMMDDTHHMMSSZ") from None
    if not _HEX64.fullmatch(signature_text):
        raise _malformed("Signature must be 64 hexadecimal digits")
    if credential.date != timestamp[:8]:
        raise SignatureProblem(
            SignatureProblem.INVALID,
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{credential.date}' != '{timestamp[:8]}', from '{timestamp}'.",
        )
    return SignedRequest(credential, timestamp, moment, names, signature_text, token)


@functools.lru_cache(maxsize=1024)
def _signed_header_names(text: str) -> tuple[str, ...]:
    """SignedHeaders checked once per distinct value (clients repeat theirs)."""
    names = tuple(text.split(";"))
    if (
        not all(names)
        or list(names) != sorted(set(names))
        or names != tuple(n.lower() for n in names)
    ):
        raise _malformed("SignedHeaders must be sorted, lower-case header names")
    if "host" not in names:
        raise SignatureProblem(SignatureProblem.INVALID, "'Host' must be a signed header")
    return names


def _canonical_headers(request: WireRequest, names: Sequence[str]) -> str:
    lines = []
    for name in names:
        values = request.headers.get(name)
        if values is None:
            raise SignatureProblem(
                SignatureProblem.INVALID, f"The signed header {name!r} is not in the request"
            )
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}")
    return "\n".join(lines)


def _payload_hash(request: WireRequest, signed: SignedRequest) -> str:
    actual = request.body_sha256 or (
        hashlib.sha256(request.body).hexdigest() if request.body else EMPTY_SHA256
    )
    claimed = request.header("x-amz-content-sha256")
    if claimed is not None and not signed.presigned:
        if claimed != actual:
            # Also UNSIGNED-PAYLOAD: a body that is not signed could be swapped in transit.
            raise SignatureProblem(
                SignatureProblem.INVALID,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        return claimed
    return actual


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def _encode(text: str) -> str:
    return quote(text, safe=_UNRESERVED)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4, and doubled slashes collapse, as AWS's signers do.
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and kept else ""
    return first + "/".join(kept) + last


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode("utf-8"), "sha256")


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


def _malformed(message: str) -> SignatureProblem:
    return SignatureProblem(SignatureProblem.MISSING, message)


def verify(request: WireRequest, signed: SignedRequest, secret_key: bytes) -> None:
    """Raise SignatureProblem unless `signed` is the request's signature under the signing
    key `secret_key` (from signing_key(), cached by the caller)."""
    expected = signature(secret_key, string_to_sign(signed, canonical_request(request, signed)))
    if not signatures_match(expected, signed.signature):
        raise SignatureProblem(SignatureProblem.INVALID, SIGNATURE_MISMATCH)


SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)
