"""Domain errors become Lambda-shaped HTTP responses here, and only here.

Shape (what botocore parses): header `X-Amzn-ErrorType: <Code>` plus a JSON body
`{"Type": "User"|"Service", "Message": ...}`; 429s also carry `Reason` and `Retry-After`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from faas.errors import FaasError, RequestTooLarge, ServiceError, TooManyRequests

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


def lambda_errors(handler: Handler) -> Handler:
    """Translate FaasError (and aiohttp's body-size refusal) into Lambda's error shape."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except FaasError as error:
            return error_response(error)
        except web.HTTPRequestEntityTooLarge as too_large:
            return error_response(
                RequestTooLarge(f"Request must be smaller than {too_large.text or 'the limit'}")
            )
        except web.HTTPException:
            raise
        except Exception:
            log.exception("unexpected error serving %s %s", request.method, request.path)
            return error_response(ServiceError("Internal error; the server log has details"))

    return wrapped
