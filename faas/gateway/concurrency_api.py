"""Reserved concurrency: Put/Get/DeleteFunctionConcurrency.

Each operation keeps the date prefix Lambda gives it, so boto3 and the AWS CLI reach them
unchanged.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response
from faas.gateway.services import Services

PUT_PATH = "/2017-10-31/functions/{name}/concurrency"
GET_PATH = "/2019-09-30/functions/{name}/concurrency"
DELETE_PATH = "/2017-10-31/functions/{name}/concurrency"
FIELD = "ReservedConcurrentExecutions"


def add_routes(app: web.Application, services: Services) -> None:
    api = ConcurrencyApi(services)
    app.router.add_put(PUT_PATH, guarded(api.put, services.auth, "PutFunctionConcurrency"))
    app.router.add_get(GET_PATH, guarded(api.get, services.auth, "GetFunctionConcurrency"))
    app.router.add_delete(
        DELETE_PATH, guarded(api.delete, services.auth, "DeleteFunctionConcurrency")
    )


def concurrency_document(reserved: int | None) -> dict[str, int]:
    """Lambda's Concurrency shape: empty when the function has no reservation."""
    return {} if reserved is None else {FIELD: reserved}


class ConcurrencyApi:
    def __init__(self, services: Services) -> None:
        self._registry = services.registry
        self._auth = services.auth

    async def put(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require_on_function(request, "lambda:PutFunctionConcurrency", name)
        document = await json_body(request)
        reserved = document.get(FIELD)
        if reserved is None:
            raise InvalidParameterValue(f"{FIELD} is required")
        if not isinstance(reserved, int) or isinstance(reserved, bool):
            raise InvalidParameterValue(f"{FIELD} must be an integer")
        cfg = await asyncio.to_thread(self._registry.put_concurrency, name, reserved)
        return json_response(concurrency_document(cfg.reserved_concurrency))

    async def get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require_on_function(request, "lambda:GetFunctionConcurrency", name)
        cfg = self._registry.get(name)
        return json_response(concurrency_document(cfg.reserved_concurrency))

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require_on_function(request, "lambda:DeleteFunctionConcurrency", name)
        await asyncio.to_thread(self._registry.delete_concurrency, name)
        return web.Response(status=204)
