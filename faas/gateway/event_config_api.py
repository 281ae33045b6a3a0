"""Event invoke configurations: Put/Update/Get/Delete/ListFunctionEventInvokeConfigs.

Retries, event age and destinations of async invocations, per function and qualifier
($LATEST, a published version or an alias). Validation and storage are
faas.queue.configs'; this module maps HTTP.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.domain import EventInvokeConfig
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response, query_max_items
from faas.gateway.services import Services
from faas.queue.configs import EventConfigs, parse_change

PATH = "/2019-09-25/functions/{name}/event-invoke-config"
LIST_PATH = "/2019-09-25/functions/{name}/event-invoke-config/list"


def add_routes(app: web.Application, services: Services) -> None:
    if services.event_configs is None:
        return  # no queue: the catch-all answers these as unknown operations
    api = EventConfigApi(services, services.event_configs)
    auth = services.auth
    app.router.add_put(PATH, guarded(api.put, auth, "PutFunctionEventInvokeConfig"))
    app.router.add_post(PATH, guarded(api.update, auth, "UpdateFunctionEventInvokeConfig"))
    app.router.add_get(PATH, guarded(api.get, auth, "GetFunctionEventInvokeConfig"))
    app.router.add_delete(PATH, guarded(api.delete, auth, "DeleteFunctionEventInvokeConfig"))
    app.router.add_get(LIST_PATH, guarded(api.list, auth, "ListFunctionEventInvokeConfigs"))


def event_config_document(config: EventInvokeConfig, function_arn: str) -> dict[str, object]:
    """Lambda's FunctionEventInvokeConfig: fields never set are left out; LastModified is a
    timestamp (epoch seconds, as botocore reads this protocol's timestamps)."""
    document: dict[str, object] = {
        "LastModified": config.last_modified_ms / 1000,
        "FunctionArn": function_arn,
    }
    if config.maximum_retry_attempts is not None:
        document["MaximumRetryAttempts"] = config.maximum_retry_attempts
    if config.maximum_event_age_s is not None:
        document["MaximumEventAgeInSeconds"] = config.maximum_event_age_s
    document["DestinationConfig"] = {
        "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
        "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
    }
    return document


class EventConfigApi:
    def __init__(self, services: Services, configs: EventConfigs) -> None:
        self._auth = services.auth
        self._configs = configs

    def _authorize(self, request: web.Request, action: str) -> tuple[str, str | None]:
        name, qualifier = request.match_info["name"], _qualifier(request)
        self._auth.require_on_function(request, action, name, qualifier)
        return name, qualifier

    async def put(self, request: web.Request) -> web.Response:
        name, qualifier = self._authorize(request, "lambda:PutFunctionEventInvokeConfig")
        change = parse_change(await json_body(request))
        config = await asyncio.to_thread(self._configs.put, name, qualifier, change)
        return self._answer(config)

    async def update(self, request: web.Request) -> web.Response:
        name, qualifier = self._authorize(request, "lambda:UpdateFunctionEventInvokeConfig")
        change = parse_change(await json_body(request))
        config = await asyncio.to_thread(self._configs.update, name, qualifier, change)
        return self._answer(config)

    async def get(self, request: web.Request) -> web.Response:
        name, qualifier = self._authorize(request, "lambda:GetFunctionEventInvokeConfig")
        config = await asyncio.to_thread(self._configs.get, name, qualifier)
        return self._answer(config)

    async def delete(self, request: web.Request) -> web.Response:
        name, qualifier = self._authorize(request, "lambda:DeleteFunctionEventInvokeConfig")
        await asyncio.to_thread(self._configs.delete, name, qualifier)
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require_on_function(request, "lambda:ListFunctionEventInvokeConfigs", name)
        marker = request.query.get("Marker") or None
        max_items = query_max_items(request)
        page = await asyncio.to_thread(self._configs.list_page, name, marker, max_items)
        document: dict[str, object] = {
            "FunctionEventInvokeConfigs": [
                event_config_document(c, self._configs.function_arn(c)) for c in page.configs
            ]
        }
        if page.next_marker is not None:
            document["NextMarker"] = page.next_marker
        return json_response(document)

    def _answer(self, config: EventInvokeConfig) -> web.Response:
        return json_response(event_config_document(config, self._configs.function_arn(config)))


def _qualifier(request: web.Request) -> str | None:
    return request.query.get("Qualifier") or None
