"""Execution roles over HTTP (`faas roles ...` uses these).

  POST   /faas/v1/roles          {"Name", "Policy"}  -> 201 {"Role": {...}}
  GET    /faas/v1/roles                              -> {"Roles": [...]}
  DELETE /faas/v1/roles/{name}                       -> 204
A function gets a role's credentials when its Role is the role's ARN, set by a caller allowed
iam:PassRole on it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from faas.auth.roles import Role, RoleBook
from faas.errors import InvalidParameterValue
from faas.gateway.auth import GatewayAuth, guarded
from faas.gateway.codec import json_body, json_response

PREFIX = "/faas/v1/roles"


def add_routes(app: web.Application, roles: RoleBook, auth: GatewayAuth) -> None:
    api = RolesApi(roles, auth)
    app.router.add_post(PREFIX, guarded(api.create, auth, "CreateRole"))
    app.router.add_get(PREFIX, guarded(api.list, auth, "ListRoles"))
    app.router.add_delete(PREFIX + "/{name}", guarded(api.delete, auth, "DeleteRole"))


class RolesApi:
    def __init__(self, roles: RoleBook, auth: GatewayAuth) -> None:
        self._roles = roles
        self._auth = auth

    async def create(self, request: web.Request) -> web.Response:
        document = await json_body(request)
        name = document.get("Name")
        if not isinstance(name, str) or not name:
            raise InvalidParameterValue("Name is required: the role's name")
        self._auth.require(request, "faas:CreateRole", self._roles.arn(name))
        policy = document.get("Policy")
        if policy is None:
            raise InvalidParameterValue("Policy is required: an IAM-style policy document")
        role = await asyncio.to_thread(self._roles.create, name, policy)
        return json_response({"Role": self._document(role)}, status=201)

    async def list(self, request: web.Request) -> web.Response:
        self._auth.require(request, "faas:ListRoles", "*")
        return json_response({"Roles": [self._document(role) for role in self._roles.all()]})

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require(request, "faas:DeleteRole", self._roles.arn(name))
        await asyncio.to_thread(self._roles.delete, name)
        return web.Response(status=204)

    def _document(self, role: Role) -> dict[str, Any]:
        return {
            "RoleName": role.name,
            "Arn": self._roles.arn(role.name),
            "CreateDate": role.created,
            "Policy": json.loads(role.policy_document),
        }
