"""HTTP request -> the function's event, and the function's result -> HTTP response, for
function URLs: API Gateway's HTTP API payload format 2.0, as Lambda's function URLs use it.

Pure functions (no aiohttp): `faas/gateway/function_url_route.py` hands in what it read.

The event:
- `rawPath` is the path after the URL's own prefix (`/urls/<url_id>`), still percent-encoded:
  `/urls/<id>/a/b` -> `/a/b`; `/urls/<id>/` and `/urls/<id>` -> `/`;
- `headers`: names lower-cased, repeated headers joined with `,`; the Cookie header is left out
  and its cookies are in `cookies` (split on `; `), as on Lambda;
- `queryStringParameters`: repeated keys joined with `,`; absent when there is no query;
- `body`: text as it is, anything else base64 with `isBase64Encoded: true`. Text means a
  Content-Type of text/*, JSON, XML, JavaScript, form-urlencoded (and their `+json`/`+xml`
  kin) whose bytes are UTF-8; absent when the request has no body.

The result:
- an object with `statusCode`: that status, its `headers`, `cookies` (one Set-Cookie each) and
  `body` (base64-decoded when `isBase64Encoded`); content-type application/json unless the
  function set one;
- a string: 200, application/json, the string itself as the body (Lambda's inference);
- any other JSON value, or an object without `statusCode`: 200, application/json, the value's
  JSON as the body;
- a malformed object (a status that is not an HTTP status, headers that are not an object of
  strings, a body that is not valid base64 when it says it is): `BadFunctionResponse`, which
  the route answers 502, as Lambda answers a response it cannot read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

ROUTE_KEY = "$default"
PAYLOAD_VERSION = "2.0"
TEXT_SUBTYPES = frozenset(
    {
        "json",
        "xml",
        "javascript",
        "x-javascript",
        "ecmascript",
        "x-www-form-urlencoded",
        "graphql",
        "yaml",
        "x-yaml",
        "csv",
    }
)
# Never passed on from a function's headers: the server writes these itself.
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Final answers only: a 1xx would leave the connection expecting another answer (and a 101
# switch a proxy into a tunnel).
MIN_STATUS = 200
MAX_STATUS = 599
# RFC 9110: a header name is a token; a value holds no control character but tab.
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class BadFunctionResponse(Exception):
    """The function's result cannot be read as an HTTP response."""


@dataclass(frozen=True, slots=True)
class UrlRequest:
    """What the route read of one request to a function URL."""

    method: str
    raw_path: str  # the full raw path, /urls/<url_id>/...
    raw_query: str
    query: Sequence[tuple[str, str]]  # decoded, in order
    headers: Sequence[tuple[str, str]]  # as received, in order
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True, slots=True)
class UrlResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def path_after_prefix(raw_path: str) -> str:
    """`/urls/<id>/a/b` -> `/a/b`; `/urls/<id>/` and `/urls/<id>` -> `/`."""
    parts = raw_path.split("/", 3)
    return "/" + parts[3] if len(parts) == 4 else "/"


def build_event(
    request: UrlRequest,
    *,
    url_id: str,
    request_id: str,
    now_ms: int,
    account_id: str = "anonymous",
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The function's event for `request` (payload format 2.0)."""
    headers, cookies = _headers_and_cookies(request.headers)
    raw_path = path_after_prefix(request.raw_path)
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": url_id,
        "domainName": headers.get("host", ""),
        "domainPrefix": url_id,
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": ROUTE_KEY,
        "stage": ROUTE_KEY,
        "time": clf_time(now_ms),
        "timeEpoch": now_ms,
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "routeKey": ROUTE_KEY,
        "rawPath": raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.query:
        event["queryStringParameters"] = _joined(request.query)
    event["requestContext"] = context
    is_base64 = False
    if request.body:
        text = _as_text(request.body, headers.get("content-type", ""))
        is_base64 = text is None
        event["body"] = base64.b64encode(request.body).decode() if text is None else text
    event["isBase64Encoded"] = is_base64
    return event


def map_result(payload: bytes) -> UrlResponse:
    """The HTTP response a function's result stands for (see the module's docstring)."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BadFunctionResponse("the function's result is not JSON") from exc
    if isinstance(value, dict) and "statusCode" in value:
        return _structured(value)
    body = value.encode() if isinstance(value, str) else orjson.dumps(value)
    return UrlResponse(200, [("Content-Type", "application/json")], body)


def is_text(content_type: str) -> bool:
    """Whether a body of this Content-Type is passed to the function as text."""
    kind, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    if kind == "text":
        return True
    return kind == "application" and (
        subtype in TEXT_SUBTYPES or subtype.endswith(("+json", "+xml"))
    )


def clf_time(epoch_ms: int) -> str:
    """`05/Dec/2026:12:00:00 +0000`, as requestContext.time has it."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return (
        f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} +0000"
    )


def _headers_and_cookies(received: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in received:
        lower = name.lower()
        if lower == "cookie":
            cookies += [cookie.strip() for cookie in value.split(";") if cookie.strip()]
        elif lower in headers:
            headers[lower] += "," + value
        else:
            headers[lower] = value
    return headers, cookies


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = joined[key] + "," + value if key in joined else value
    return joined


def _as_text(body: bytes, content_type: str) -> str | None:
    if not is_text(content_type):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _structured(value: dict[str, Any]) -> UrlResponse:
    status = _status(value["statusCode"])
    headers = [
        (name, text)
        for name, text in _header_items(value.get("headers"))
        if name.lower() not in _HOP_BY_HOP
    ]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    cookies = value.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise BadFunctionResponse("cookies must be a list of strings")
    headers += [("Set-Cookie", _header_value(cookie)) for cookie in cookies]
    return UrlResponse(status, headers, _body(value))


def _status(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadFunctionResponse(f"statusCode must be an integer, not {value!r}")
    if not MIN_STATUS <= value <= MAX_STATUS:
        raise BadFunctionResponse(f"statusCode {value} is not an HTTP status")
    return value


def _header_items(headers: object) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if not isinstance(headers, dict):
        raise BadFunctionResponse("headers must be an object")
    items = []
    for name, value in headers.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            raise BadFunctionResponse(f"header {name!r} must be a string")
        if not isinstance(name, str) or not _TOKEN_RE.match(name):
            raise BadFunctionResponse(f"{name!r} is not a header name")
        items.append((name, _header_value(text)))
    return items


def _header_value(text: str) -> str:
    if _CONTROL_RE.search(text):
        raise BadFunctionResponse("a header value must not hold a control character")
    return text


def _body(value: dict[str, Any]) -> bytes:
    body = value.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        return orjson.dumps(body)
    if value.get("isBase64Encoded") is True:
        try:
            # Line breaks (as some encoders wrap) are not part of the data.
            return base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadFunctionResponse("isBase64Encoded, but the body is not base64") from exc
    return body.encode()
