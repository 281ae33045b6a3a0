"""Domain errors become Lambda-shaped HTTP responses here, and only here.

Shape (what botocore parses): header `X-Amzn-ErrorType: <Code>` plus a JSON body
`{"Type": "User"|"Service", "Message": ...}`; 429s also carry `Reason` and `Retry-After`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from faas.errors import (
    DiskFull,
    FaasError,
    RequestTooLarge,
    ServiceError,
    TooManyRequests,
    is_disk_full,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: FaasError, request_id: str | None = None) -> web.Response:
    body: dict[str, object] = {
        "Type": "User" if error.status < 500 else "Service",
        "Message": error.message,
        "message": error.message,
    }
    headers = {"X-Amzn-ErrorType": error.code}
    if isinstance(error, TooManyRequests):
        body["Reason"] = error.reason
        headers["Retry-After"] = str(error.retry_after_s)
    if request_id:
        headers["x-amzn-RequestId"] = request_id
    return web.Response(
        status=error.status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def error_answer(request: web.Request, error: Exception) -> web.Response:
    """Lambda's answer to what a handler raised: its FaasError, a too-large body, or else a
    500 that says no more than to look in the server log (where the traceback goes).

    Every route's wrapper (faas/gateway/auth.py) answers with it; aiohttp's other HTTP
    exceptions are not for this: those wrappers let them through."""
    if isinstance(error, FaasError):
        return error_response(error)
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return error_response(
            RequestTooLarge(f"Request must be smaller than {error.text or 'the limit'}")
        )
    log.error("unexpected error serving %s %s", request.method, request.path, exc_info=error)
    if is_disk_full(error):  # a deploy's code, a row: the caller can act on this one
        return error_response(DiskFull("the request's data"))
    return error_response(ServiceError("Internal error; the server log has details"))
