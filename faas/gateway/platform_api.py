"""The platform's own endpoints: /health and invocation records."""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.errors import InvalidParameterValue
from faas.gateway.codec import json_response, record_document
from faas.gateway.errors import lambda_errors
from faas.gateway.services import Services
from faas.registry.names import split_function_name

MAX_RECORDS = 1000


def add_routes(app: web.Application, services: Services) -> None:
    api = PlatformApi(services)
    app.router.add_get("/health", lambda_errors(api.health))
    app.router.add_get("/faas/v1/invocations", lambda_errors(api.invocations))
    app.router.add_get("/faas/v1/code/{sha256}", lambda_errors(api.code))


class PlatformApi:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def health(self, _request: web.Request) -> web.Response:
        return json_response(dict(self._services.health()))

    async def invocations(self, request: web.Request) -> web.Response:
        function = request.query.get("function") or None
        if function is not None:
            # Records outlive their function: check the name's form, not that it exists.
            function, _ = split_function_name(function)
        limit = _limit(request.query.get("limit"))
        records = await asyncio.to_thread(self._services.records.recent, function, limit)
        if function is not None and not records:
            # No records and no such function: a misspelt name, not an idle function.
            self._services.registry.get(function)
        return json_response({"Invocations": [record_document(r) for r in records]})

    async def code(self, request: web.Request) -> web.Response:
        sha256 = request.match_info["sha256"]
        body = await asyncio.to_thread(self._services.registry.code_zip, sha256)
        return web.Response(body=body, content_type="application/zip")


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    try:
        limit = int(text)
    except ValueError as exc:
        raise InvalidParameterValue("limit must be an integer") from exc
    if not 1 <= limit <= MAX_RECORDS:
        raise InvalidParameterValue(f"limit must be between 1 and {MAX_RECORDS}")
    return limit
