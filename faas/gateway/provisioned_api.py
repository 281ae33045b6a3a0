"""Provisioned concurrency: Put/Get/DeleteProvisionedConcurrencyConfig.

faas keeps provisioned concurrency for $LATEST only (not yet for published versions and
aliases), so the one qualifier these accept is `$LATEST` (boto3 insists on sending one).
Allocated and available are the same number here: the workers of the function's current
version that are initialised right now, up to the requested count.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.domain import FunctionConfig
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response
from faas.gateway.services import Services
from faas.gateway.unknown_api import operation_name, unknown_operation

PATH = "/2019-09-30/functions/{name}/provisioned-concurrency"
FIELD = "ProvisionedConcurrentExecutions"


def add_routes(app: web.Application, services: Services) -> None:
    api = ProvisionedApi(services)
    app.router.add_put(PATH, guarded(api.put, services.auth, "PutProvisionedConcurrencyConfig"))
    app.router.add_get(PATH, guarded(api.get, services.auth, operation_name))
    app.router.add_delete(
        PATH, guarded(api.delete, services.auth, "DeleteProvisionedConcurrencyConfig")
    )


def provisioned_document(cfg: FunctionConfig, requested: int, allocated: int) -> dict[str, object]:
    """Lambda's provisioned concurrency config; READY once every requested worker is up."""
    return {
        "RequestedProvisionedConcurrentExecutions": requested,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "Status": "READY" if allocated >= requested else "IN_PROGRESS",
        "LastModified": cfg.last_modified,
    }


class ProvisionedApi:
    def __init__(self, services: Services) -> None:
        self._registry = services.registry
        self._invoker = services.invoker
        self._auth = services.auth

    def _require(self, request: web.Request, action: str) -> None:
        name = request.match_info["name"]
        self._auth.require_on_function(request, action, name, _qualifier(request))

    async def put(self, request: web.Request) -> web.Response:
        self._require(request, "lambda:PutProvisionedConcurrencyConfig")
        document = await json_body(request)
        count = document.get(FIELD)
        if count is None:
            raise InvalidParameterValue(f"{FIELD} is required")
        if not isinstance(count, int) or isinstance(count, bool):
            raise InvalidParameterValue(f"{FIELD} must be an integer")
        cfg = await asyncio.to_thread(
            self._registry.put_provisioned, request.match_info["name"], _qualifier(request), count
        )
        return self._answer(cfg, status=202)

    async def get(self, request: web.Request) -> web.Response:
        if request.query.get("List") == "ALL":
            # ListProvisionedConcurrencyConfigs shares this method and path; only ?List=ALL
            # tells it apart, and faas does not serve it.
            self._auth.no_action(request)
            raise unknown_operation(request)
        self._require(request, "lambda:GetProvisionedConcurrencyConfig")
        cfg = self._registry.get_provisioned(request.match_info["name"], _qualifier(request))
        return self._answer(cfg, status=200)

    async def delete(self, request: web.Request) -> web.Response:
        self._require(request, "lambda:DeleteProvisionedConcurrencyConfig")
        await asyncio.to_thread(
            self._registry.delete_provisioned, request.match_info["name"], _qualifier(request)
        )
        return web.Response(status=204)

    def _answer(self, cfg: FunctionConfig, status: int) -> web.Response:
        requested, allocated = self._invoker.provisioned_status(cfg.name)
        return json_response(provisioned_document(cfg, requested, allocated), status=status)


def _qualifier(request: web.Request) -> str | None:
    return request.query.get("Qualifier") or None
