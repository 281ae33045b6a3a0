"""Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfigs.

A configuration is for a published version or an alias, as on Lambda, and (a faas extension)
for $LATEST, where no qualifier means $LATEST too. Allocated and available are the same
number here: the workers of the versions it serves that are initialised right now, up to the
requested count.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.domain import ProvisionedConfig
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response, query_max_items
from faas.gateway.services import Services
from faas.gateway.unknown_api import operation_name
from faas.registry.names import list_limit

PATH = "/2019-09-30/functions/{name}/provisioned-concurrency"
FIELD = "ProvisionedConcurrentExecutions"
MAX_LIST_ITEMS = 50


def add_routes(app: web.Application, services: Services) -> None:
    api = ProvisionedApi(services)
    app.router.add_put(PATH, guarded(api.put, services.auth, "PutProvisionedConcurrencyConfig"))
    # GetProvisionedConcurrencyConfig and ListProvisionedConcurrencyConfigs (?List=ALL).
    app.router.add_get(PATH, guarded(api.get, services.auth, operation_name))
    app.router.add_delete(
        PATH, guarded(api.delete, services.auth, "DeleteProvisionedConcurrencyConfig")
    )


def provisioned_document(
    config: ProvisionedConfig, requested: int, allocated: int
) -> dict[str, object]:
    """Lambda's provisioned concurrency config; READY once every requested worker is up."""
    return {
        "RequestedProvisionedConcurrentExecutions": requested,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "Status": "READY" if allocated >= requested else "IN_PROGRESS",
        "LastModified": config.last_modified,
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
        config = await asyncio.to_thread(
            self._registry.put_provisioned, request.match_info["name"], _qualifier(request), count
        )
        return json_response(self._document(config), status=202)

    async def get(self, request: web.Request) -> web.Response:
        if request.query.get("List") == "ALL":
            return self._list(request)
        self._require(request, "lambda:GetProvisionedConcurrencyConfig")
        config = self._registry.get_provisioned(request.match_info["name"], _qualifier(request))
        return json_response(self._document(config))

    async def delete(self, request: web.Request) -> web.Response:
        self._require(request, "lambda:DeleteProvisionedConcurrencyConfig")
        await asyncio.to_thread(
            self._registry.delete_provisioned, request.match_info["name"], _qualifier(request)
        )
        return web.Response(status=204)

    def _list(self, request: web.Request) -> web.Response:
        """ListProvisionedConcurrencyConfigs: by qualifier; the marker is the qualifier the
        next page starts at."""
        name = request.match_info["name"]
        self._auth.require_on_function(request, "lambda:ListProvisionedConcurrencyConfigs", name)
        limit = list_limit(query_max_items(request), MAX_LIST_ITEMS)
        configs = list(self._registry.list_provisioned(name))
        marker = request.query.get("Marker")
        if marker:
            configs = [config for config in configs if config.qualifier >= marker]
        page, rest = configs[:limit], configs[limit:]
        listed = []
        for config in page:
            item = {
                "FunctionArn": self._registry.function_arn(config.function_name, config.qualifier),
                **self._document(config),
            }
            listed.append(item)
        body: dict[str, object] = {"ProvisionedConcurrencyConfigs": listed}
        if rest:
            body["NextMarker"] = rest[0].qualifier
        return json_response(body)

    def _document(self, config: ProvisionedConfig) -> dict[str, object]:
        requested, allocated = self._invoker.provisioned_status(
            config.function_name, config.qualifier
        )
        return provisioned_document(config, requested, allocated)


def _qualifier(request: web.Request) -> str | None:
    return request.query.get("Qualifier") or None
