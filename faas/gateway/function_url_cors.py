"""CORS for function URLs, applied by the platform from the URL's `Cors` settings, as Lambda
does. Pure functions over header lists.

Only a URL with Cors settings gets CORS handling; without them, requests (OPTIONS included)
go to the function unchanged, and whatever CORS headers it answers with are the answer's.
With them:
- a preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) is answered by the
  platform, 200, without invoking the function: with the Access-Control-Allow-* headers when
  the origin, the method and every requested header are allowed, without them otherwise (the
  browser then refuses the real request);
- any other request runs the function; when its `Origin` is allowed, the answer gets
  `Access-Control-Allow-Origin`, `Access-Control-Expose-Headers` and
  `Access-Control-Allow-Credentials` as configured. The configured headers override the
  function's own: every Access-Control-* header the function set is dropped.

`*` in AllowOrigins allows every origin, and inside an origin (`https://*.example.com`) stands
for any run of characters; in AllowMethods and AllowHeaders it allows every method or header.
With AllowCredentials, browsers refuse a literal `*`, so the request's origin is echoed
(`Vary: Origin`) instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from faas.domain import UrlCors

ANY = "*"


def origin_allowed(cors: UrlCors, origin: str) -> bool:
    return any(_origin_matches(allowed, origin) for allowed in cors.allow_origins or ())


def preflight_headers(
    cors: UrlCors, origin: str, requested_method: str, requested_headers: str | None
) -> list[tuple[str, str]]:
    """The headers of the platform's answer to a preflight: empty when it is not allowed."""
    if not origin_allowed(cors, origin):
        return []
    methods = [method.upper() for method in cors.allow_methods or ()]
    if ANY not in methods and requested_method.upper() not in methods:
        return []
    wanted = [name.strip() for name in (requested_headers or "").split(",") if name.strip()]
    allowed = {name.lower() for name in cors.allow_headers or ()}
    if ANY not in allowed and any(name.lower() not in allowed for name in wanted):
        return []
    headers = _allow_origin(cors, origin)
    headers.append(
        ("Access-Control-Allow-Methods", requested_method if ANY in methods else ", ".join(methods))
    )
    if wanted or allowed:
        shown = ", ".join(wanted) if ANY in allowed else ", ".join(cors.allow_headers or ())
        if shown:
            headers.append(("Access-Control-Allow-Headers", shown))
    if cors.max_age is not None:
        headers.append(("Access-Control-Max-Age", str(cors.max_age)))
    return headers


def response_headers(
    cors: UrlCors, origin: str | None, function_headers: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The function's headers without its own Access-Control-* ones, plus the configured
    ones when the request's origin is allowed."""
    headers = [
        (name, value)
        for name, value in function_headers
        if not name.lower().startswith("access-control-")
    ]
    if origin and origin_allowed(cors, origin):
        headers += _allow_origin(cors, origin)
        if cors.expose_headers:
            headers.append(("Access-Control-Expose-Headers", ", ".join(cors.expose_headers)))
    return headers


def _allow_origin(cors: UrlCors, origin: str) -> list[tuple[str, str]]:
    if ANY in (cors.allow_origins or ()) and not cors.allow_credentials:
        return [("Access-Control-Allow-Origin", ANY)]
    headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    if cors.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return headers


def _origin_matches(allowed: str, origin: str) -> bool:
    if allowed == ANY:
        return True
    if ANY not in allowed:
        return allowed.lower() == origin.lower()
    pattern = ".*".join(re.escape(part) for part in allowed.split(ANY))
    return re.fullmatch(pattern, origin, flags=re.IGNORECASE) is not None
