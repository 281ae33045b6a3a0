"""A function's resource policy: AddPermission, RemovePermission, GetPolicy (the statements
are kept and returned as Lambda does; faas.registry.policies says what they grant)."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response
from faas.gateway.services import Services
from faas.registry.policies import ResourcePolicies

PATH = "/2015-03-31/functions/{name}/policy"
STATEMENT_PATH = PATH + "/{statement_id}"


def add_routes(app: web.Application, services: Services) -> None:
    if services.policies is None:
        return
    api = PolicyApi(services, services.policies)
    app.router.add_post(PATH, guarded(api.add, services.auth, "AddPermission"))
    app.router.add_get(PATH, guarded(api.get, services.auth, "GetPolicy"))
    app.router.add_delete(STATEMENT_PATH, guarded(api.remove, services.auth, "RemovePermission"))


class PolicyApi:
    def __init__(self, services: Services, policies: ResourcePolicies) -> None:
        self._auth = services.auth
        self._policies = policies

    async def add(self, request: web.Request) -> web.Response:
        name, qualifier = request.match_info["name"], request.query.get("Qualifier")
        self._auth.require_on_function(request, "lambda:AddPermission", name, qualifier)
        document = await json_body(request)
        statement = await asyncio.to_thread(
            self._policies.add_permission, name, qualifier, document
        )
        return json_response({"Statement": orjson.dumps(statement).decode()}, status=201)

    async def get(self, request: web.Request) -> web.Response:
        name, qualifier = request.match_info["name"], request.query.get("Qualifier")
        self._auth.require_on_function(request, "lambda:GetPolicy", name, qualifier)
        policy, revision = self._policies.get_policy(name, qualifier)
        return json_response({"Policy": policy, "RevisionId": revision})

    async def remove(self, request: web.Request) -> web.Response:
        name, qualifier = request.match_info["name"], request.query.get("Qualifier")
        self._auth.require_on_function(request, "lambda:RemovePermission", name, qualifier)
        await asyncio.to_thread(
            self._policies.remove_permission,
            name,
            qualifier,
            request.match_info["statement_id"],
            request.query.get("RevisionId"),
        )
        return web.Response(status=204)
