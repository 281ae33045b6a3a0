"""Invoke: `POST /2015-03-31/functions/{name}/invocations`, the hot path.

The body is the raw event; the answer is the function's raw result. A function error is
still HTTP 200, flagged by `X-Amz-Function-Error: Unhandled`, as on Lambda.
"""

from __future__ import annotations

import base64
import binascii

import orjson
from aiohttp import web

from faas.domain import InvocationRequest, InvocationType
from faas.errors import InvalidParameterValue, InvalidRequestContent, RequestTooLarge
from faas.gateway.auth import INVOKE_OPERATION, guarded
from faas.gateway.errors import Handler, error_response
from faas.gateway.services import Services
from faas.request_ids import RequestIds

_TYPES = {t.value: t for t in InvocationType}


# The guarded Invoke handler, for the lean route of faas/gateway/front.py, which runs the
# same handler for the Invokes it answers without aiohttp.
INVOKE_HANDLER: web.AppKey[Handler] = web.AppKey("faas.invoke_handler")


def add_routes(app: web.Application, services: Services) -> None:
    api = InvokeApi(services)
    handler = guarded(api.invoke, services.auth, INVOKE_OPERATION)
    app[INVOKE_HANDLER] = handler
    app.router.add_post("/2015-03-31/functions/{name}/invocations", handler)
    legacy = guarded(api.invoke_async, services.auth, "InvokeAsync")
    # botocore sends the trailing slash; the route takes the path without it too.
    app.router.add_post("/2014-11-13/functions/{name}/invoke-async/", legacy)
    app.router.add_post("/2014-11-13/functions/{name}/invoke-async", legacy)


class InvokeApi:
    def __init__(self, services: Services) -> None:
        self._invoker = services.invoker
        self._auth = services.auth
        self._max_payload = services.limits.max_sync_payload_bytes
        self._request_ids = RequestIds()
        self._async = services.async_invocations
        self._granted = None if services.policies is None else services.policies.grants_invoke

    async def invoke(self, request: web.Request) -> web.Response:
        qualifier = request.query.get("Qualifier") if request.query_string else None
        name = request.match_info["name"]
        self._auth.require_invoke(request, name, qualifier, self._granted)
        request_id = self._request_ids.new()
        try:
            invocation = await self._parse(request, request_id, name, qualifier)
            if invocation.invocation_type is InvocationType.EVENT:
                await self._queue(invocation)
                return web.Response(status=202, headers={"x-amzn-RequestId": request_id})
            result = await self._invoker.invoke(invocation)
        except RequestTooLarge as too_large:
            return error_response(too_large, request_id)
        headers = {
            "x-amzn-RequestId": request_id,
            "X-Amz-Executed-Version": result.executed_version,
        }
        if invocation.invocation_type is InvocationType.DRY_RUN:
            return web.Response(status=204, headers=headers)
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if result.log_tail:
            headers["X-Amz-Log-Result"] = result.log_tail.decode()
        return web.Response(body=result.payload, headers=headers, content_type="application/json")

    async def invoke_async(self, request: web.Request) -> web.Response:
        """The legacy InvokeAsync: the body is the event; 202 `{"Status": 202}` once queued."""
        name = request.match_info["name"]
        self._auth.require_invoke(request, name, None, self._granted)
        request_id = self._request_ids.new()
        payload = await request.read()
        try:
            if payload:
                _check_json(payload)
            await self._queue(
                InvocationRequest(
                    request_id=request_id,
                    function_name=name,
                    qualifier=None,
                    payload=payload,
                    invocation_type=InvocationType.EVENT,
                )
            )
        except RequestTooLarge as too_large:
            return error_response(too_large, request_id)
        return web.Response(
            status=202,
            body=b'{"Status": 202}',
            content_type="application/json",
            headers={"x-amzn-RequestId": request_id},
        )

    async def _queue(self, invocation: InvocationRequest) -> None:
        if self._async is None:
            raise InvalidParameterValue("Async invocations are not available on this server")
        await self._async.enqueue(invocation)

    async def _parse(
        self, request: web.Request, request_id: str, name: str, qualifier: str | None
    ) -> InvocationRequest:
        if request.content_length is not None and request.content_length > self._max_payload:
            raise RequestTooLarge(_too_large(self._max_payload))
        payload = await request.read()
        if len(payload) > self._max_payload:
            raise RequestTooLarge(_too_large(self._max_payload))
        if payload:
            _check_json(payload)
        headers = request.headers
        kind = headers.get("X-Amz-Invocation-Type", "RequestResponse")
        invocation_type = _TYPES.get(kind)
        if invocation_type is None:
            raise InvalidParameterValue(
                f"X-Amz-Invocation-Type must be one of {', '.join(_TYPES)}, not {kind!r}"
            )
        return InvocationRequest(
            request_id=request_id,
            function_name=name,
            qualifier=qualifier,
            payload=payload,
            invocation_type=invocation_type,
            tail_log=headers.get("X-Amz-Log-Type") == "Tail",
            client_context=_client_context(headers.get("X-Amz-Client-Context")),
        )


def _too_large(limit: int) -> str:
    return f"Request must be smaller than {limit} bytes for the InvokeFunction operation"


def _check_json(payload: bytes) -> None:
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc


def _client_context(encoded: str | None) -> str | None:
    """X-Amz-Client-Context is base64 JSON; the runtime gets the raw JSON."""
    if not encoded:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
        orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue("X-Amz-Client-Context must be base64-encoded JSON") from exc
    return raw.decode()
