"""Serving function URLs: any method and path under `/urls/<url_id>/`.

A request is looked up by its url id (in memory), answered by the platform when it is a CORS
preflight (faas/gateway/function_url_cors.py), authorized when the URL's AuthType is AWS_IAM,
turned into the function's event (faas/gateway/function_url_events.py) and invoked through the
same invoker as Invoke: the same admission, concurrency limits, pool and records, and Lambda's
6 MB payload limit. The function's result becomes the HTTP response.

Answers that are the platform's, not the function's (JSON `{"Message": ...}`, as Lambda's):
- 404 `{"Message": "Not Found"}`: no URL has this id (Lambda answers 403 `{"Message": null}`
  for a URL that does not exist; a 404 says what happened);
- 403 `{"Message": "Forbidden"}`: AWS_IAM and the request is not signed, its signature does
  not verify, or its key's policy does not allow `lambda:InvokeFunctionUrl` on the function;
- 413 `{"Message": "Request Entity Too Large"}`: the request body, or the event made of it
  (base64 makes a binary body a third larger), is over 6 MB;
- 429 `{"Message": "Too Many Requests"}`: throttled (the function's reserved concurrency, the
  account's, the host's memory, or the signing key's invoke rate limit);
- 502 `Internal Server Error`: the function failed (an exception, a timeout, running out of
  memory) or answered something that is no HTTP response; Lambda's function URLs answer so.

Refusals (403, and 429 by a key's rate limit) are audited like refused Invokes; served
requests are not (their invocation records are kept).
"""

from __future__ import annotations

import logging
import time
import urllib.parse

import orjson
from aiohttp import web
from multidict import CIMultiDict

from faas.domain import LATEST, FunctionUrlConfig, InvocationRequest
from faas.errors import (
    FaasError,
    RequestTooLarge,
    ResourceNotFound,
    TooManyRequests,
)
from faas.gateway import function_url_cors as cors_rules
from faas.gateway.auth import RATE_LIMITED, GatewayAuth
from faas.gateway.function_url_events import (
    BadFunctionResponse,
    UrlRequest,
    UrlResponse,
    build_event,
    map_result,
)
from faas.gateway.services import Services
from faas.invoker import Invoker
from faas.ratelimit import RateClass
from faas.registry.function_urls import AUTH_IAM, FunctionUrls
from faas.request_ids import RequestIds

log = logging.getLogger(__name__)

INVOKE_URL_ACTION = "lambda:InvokeFunctionUrl"
OPERATION = "InvokeFunctionUrl"
REQUEST_ID_HEADER = "x-amzn-RequestId"
BAD_GATEWAY = 502
FORBIDDEN = 403
_NO_BODY_STATUSES = frozenset({204, 304})


def add_routes(app: web.Application, services: Services) -> None:
    if services.function_urls is None:
        return
    route = FunctionUrlRoute(services, services.function_urls)
    app.router.add_route("*", "/urls/{url_id}", route.serve)
    app.router.add_route("*", "/urls/{url_id}/{tail:.*}", route.serve)


class FunctionUrlRoute:
    def __init__(self, services: Services, urls: FunctionUrls) -> None:
        self._urls = urls
        self._invoker: Invoker = services.invoker
        self._auth: GatewayAuth = services.auth
        self._account_id = services.account_id
        self._max_payload = services.limits.max_sync_payload_bytes
        self._request_ids = RequestIds()
        self._rate_limit = services.auth.rate_limit(RateClass.INVOKE)

    async def serve(self, original: web.Request) -> web.StreamResponse:
        config = self._urls.find(original.match_info["url_id"])
        if config is None:
            return _message(404, "Not Found")
        if not _normal(original.rel_url.raw_path):
            # `..`, `.` or `//`: a signature is checked over the normalised path, so such a
            # path could carry a request signed for one URL to another.
            return _message(400, "Bad Request")
        # Bodies are read at most to the payload limit (+1), before anything else is done.
        request = original.clone(client_max_size=self._max_payload + 1)
        headers = request.headers
        origin = headers.get("Origin")
        requested = headers.get("Access-Control-Request-Method")
        if config.cors is not None and request.method == "OPTIONS" and origin and requested:
            # A preflight: the platform's to answer, without invoking the function.
            allowed = cors_rules.preflight_headers(
                config.cors, origin, requested, headers.get("Access-Control-Request-Headers")
            )
            return web.Response(status=200, headers=CIMultiDict(allowed))
        request_id = self._request_ids.new()
        try:
            answer = await self._invoke(request, config, request_id)
        except web.HTTPRequestEntityTooLarge:
            answer = _too_large()
        except FaasError as error:
            answer = self._error_answer(request, error)
        except Exception:
            log.exception("function URL %s %s failed", request.method, request.path)
            answer = _message(500, "Internal Server Error")
        answer.headers[REQUEST_ID_HEADER] = request_id
        return answer

    async def _invoke(
        self, request: web.Request, config: FunctionUrlConfig, request_id: str
    ) -> web.Response:
        if request.content_length is not None and request.content_length > self._max_payload:
            return _too_large()
        body = await request.read()
        if len(body) > self._max_payload:
            return _too_large()
        account_id, authorizer = "anonymous", None
        if config.auth_type == AUTH_IAM:
            # Verified with the body read: its hash is part of the signature.
            caller = await self._auth.authenticate(request)
            if self._rate_limit is not None:
                try:
                    self._rate_limit.admit(caller.key.name)
                except TooManyRequests:
                    request[RATE_LIMITED] = True
                    raise
            self._auth.require(request, INVOKE_URL_ACTION, self._urls.function_arn(config))
            account_id = self._account_id
            authorizer = {
                "iam": {
                    "accessKey": caller.key.access_key_id,
                    "accountId": self._account_id,
                    "callerId": caller.key.name,
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": caller.arn,
                    "userId": caller.key.name,
                }
            }
        url_request = UrlRequest(
            method=request.method,
            raw_path=request.rel_url.raw_path,
            raw_query=request.rel_url.raw_query_string,
            query=_query_pairs(request.rel_url.raw_query_string),
            headers=[(name, _text(value)) for name, value in request.headers.items()],
            body=body,
            source_ip=self._auth.source_address(request),
            protocol=f"HTTP/{request.version.major}.{request.version.minor}",
        )
        event = build_event(
            url_request,
            url_id=config.url_id,
            request_id=request_id,
            now_ms=time.time_ns() // 1_000_000,
            account_id=account_id,
            authorizer=authorizer,
        )
        result = await self._invoker.invoke(
            InvocationRequest(
                request_id=request_id,
                function_name=config.function_name,
                qualifier=None if config.qualifier == LATEST else config.qualifier,
                payload=orjson.dumps(event),
            )
        )
        if result.function_error:
            return _bad_gateway()
        try:
            mapped = map_result(result.payload)
        except BadFunctionResponse as bad:
            log.info("function URL %s: %s: answered 502", config.url_id, bad)
            return _bad_gateway()
        return _response(mapped, config, request.headers.get("Origin"))

    def _error_answer(self, request: web.Request, error: FaasError) -> web.Response:
        if isinstance(error, RequestTooLarge):
            return _too_large()
        if isinstance(error, ResourceNotFound):  # the function went away meanwhile
            return _message(404, "Not Found")
        if isinstance(error, TooManyRequests):
            answer = _message(429, "Too Many Requests", error.code)
            answer.headers["Retry-After"] = str(error.retry_after_s)
            if request.get(RATE_LIMITED, False):
                self._auth.audit(request, answer, answer.status, OPERATION)
            return answer
        if error.status == FORBIDDEN:
            answer = _message(FORBIDDEN, "Forbidden", error.code)
            self._auth.audit(request, answer, FORBIDDEN, OPERATION)
            return answer
        if error.status < 500:
            return _message(error.status, error.message, error.code)
        log.error("function URL %s %s failed: %s", request.method, request.path, error.message)
        return _message(error.status, "Internal Server Error", error.code)


def _response(mapped: UrlResponse, config: FunctionUrlConfig, origin: str | None) -> web.Response:
    headers = mapped.headers
    if config.cors is not None:
        headers = cors_rules.response_headers(config.cors, origin, headers)
    body = b"" if mapped.status in _NO_BODY_STATUSES else mapped.body
    return web.Response(status=mapped.status, body=body, headers=CIMultiDict(headers))


def _message(status: int, message: str, error_type: str | None = None) -> web.Response:
    headers = {"x-amzn-ErrorType": error_type} if error_type else None
    return web.Response(
        status=status,
        body=orjson.dumps({"Message": message}),
        content_type="application/json",
        headers=headers,
    )


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query's pairs, percent-decoded the way the request's signature reads them: a `+`
    stays a `+` (form decoding would make it a space the signature never covered)."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((_unquote(key), _unquote(value)))
    return pairs


def _unquote(text: str) -> str:
    return _text(urllib.parse.unquote(text, errors="surrogateescape"))


def _normal(raw_path: str) -> bool:
    """No empty, `.` or `..` segment (percent-encoded ones included)."""
    segments = raw_path.split("/")[1:]
    inner = segments[:-1] if segments and segments[-1] == "" else segments
    return all(s and s.lower() not in (".", "..", "%2e", "%2e%2e", ".%2e", "%2e.") for s in inner)


def _text(value: str) -> str:
    """A header value as valid text: bytes that are not UTF-8 (kept as surrogates by the
    parser) become U+FFFD, so that the event can be encoded."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _too_large() -> web.Response:
    return _message(413, "Request Entity Too Large", RequestTooLarge.code)


def _bad_gateway() -> web.Response:
    return web.Response(
        status=BAD_GATEWAY, body=b"Internal Server Error", content_type="application/json"
    )
