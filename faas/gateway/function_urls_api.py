"""Function URL configurations: Create/Get/Update/Delete/ListFunctionUrlConfigs.

Validation, storage and the lookup are faas.registry.function_urls'; this module maps HTTP.
`FunctionUrl` points at this server, as the client reached it: `<scheme>://<Host>/urls/<id>/`.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.domain import FunctionUrlConfig
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response, query_max_items
from faas.gateway.services import Services
from faas.registry.function_urls import FunctionUrls, parse_change

PATH = "/2021-10-31/functions/{name}/url"
LIST_PATH = "/2021-10-31/functions/{name}/urls"
URL_PREFIX = "/urls/"


def add_routes(app: web.Application, services: Services) -> None:
    if services.function_urls is None:
        return  # the catch-all answers these as unknown operations
    api = FunctionUrlApi(services, services.function_urls)
    auth = services.auth
    app.router.add_post(PATH, guarded(api.create, auth, "CreateFunctionUrlConfig"))
    app.router.add_get(PATH, guarded(api.get, auth, "GetFunctionUrlConfig"))
    app.router.add_put(PATH, guarded(api.update, auth, "UpdateFunctionUrlConfig"))
    app.router.add_delete(PATH, guarded(api.delete, auth, "DeleteFunctionUrlConfig"))
    app.router.add_get(LIST_PATH, guarded(api.list, auth, "ListFunctionUrlConfigs"))


def function_url(request: web.Request, url_id: str) -> str:
    """The URL as the client reached this server (its scheme and Host)."""
    return f"{request.scheme}://{request.host}{URL_PREFIX}{url_id}/"


def url_config_document(
    request: web.Request, config: FunctionUrlConfig, function_arn: str, *, modified: bool = True
) -> dict[str, object]:
    """Lambda's FunctionUrlConfig; Cors only when it has settings."""
    document: dict[str, object] = {
        "FunctionUrl": function_url(request, config.url_id),
        "FunctionArn": function_arn,
        "AuthType": config.auth_type,
        "CreationTime": config.created,
    }
    if modified:
        document["LastModifiedTime"] = config.last_modified
    if config.cors is not None:
        document["Cors"] = config.cors.document()
    document["InvokeMode"] = config.invoke_mode
    return document


class FunctionUrlApi:
    def __init__(self, services: Services, urls: FunctionUrls) -> None:
        self._auth = services.auth
        self._urls = urls

    def _authorize(self, request: web.Request, action: str) -> tuple[str, str | None]:
        name, qualifier = request.match_info["name"], request.query.get("Qualifier") or None
        self._auth.require_on_function(request, action, name, qualifier)
        return name, qualifier

    async def create(self, request: web.Request) -> web.Response:
        name, qualifier = self._authorize(request, "lambda:CreateFunctionUrlConfig")
        change = parse_change(await json_body(request))
        config = await asyncio.to_thread(self._urls.create, name, qualifier, change)
        document = url_config_document(
            request, config, self._urls.function_arn(config), modified=False
        )
        return json_response(document, status=201)

    async def get(self, request: web.Request) -> web.Response:
        name, qualifier = self._authorize(request, "lambda:GetFunctionUrlConfig")
        config = self._urls.get(name, qualifier)
        return json_response(url_config_document(request, config, self._urls.function_arn(config)))

    async def update(self, request: web.Request) -> web.Response:
        name, qualifier = self._authorize(request, "lambda:UpdateFunctionUrlConfig")
        change = parse_change(await json_body(request))
        config = await asyncio.to_thread(self._urls.update, name, qualifier, change)
        return json_response(url_config_document(request, config, self._urls.function_arn(config)))

    async def delete(self, request: web.Request) -> web.Response:
        name, qualifier = self._authorize(request, "lambda:DeleteFunctionUrlConfig")
        await asyncio.to_thread(self._urls.delete, name, qualifier)
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require_on_function(request, "lambda:ListFunctionUrlConfigs", name)
        marker = request.query.get("Marker") or None
        configs, next_marker = self._urls.list_page(name, marker, query_max_items(request))
        document: dict[str, object] = {
            "FunctionUrlConfigs": [
                url_config_document(request, config, self._urls.function_arn(config))
                for config in configs
            ]
        }
        if next_marker is not None:
            document["NextMarker"] = next_marker
        return json_response(document)
