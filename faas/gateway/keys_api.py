"""Access keys over HTTP, for callers allowed to manage them (`faas keys ...` uses these).

  POST   /faas/v1/keys                {"Name", "Policy"}  -> 201 {"AccessKey": {..., secret}}
  GET    /faas/v1/keys                                    -> {"AccessKeys": [...]} (no secrets)
  DELETE /faas/v1/keys/{name}                             -> 204
  POST   /faas/v1/keys/{name}/rotate                      -> {"AccessKey": {..., new secret}}
The secret is in the answer of create and rotate only, once; it is never listed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from faas.auth.keys import AccessKey, KeyRing
from faas.errors import InvalidParameterValue
from faas.gateway.auth import GatewayAuth, guarded
from faas.gateway.codec import json_body, json_response

PREFIX = "/faas/v1/keys"


def add_routes(app: web.Application, keys: KeyRing, auth: GatewayAuth, account_id: str) -> None:
    api = KeysApi(keys, auth, account_id)
    app.router.add_post(PREFIX, guarded(api.create, auth, "CreateKey"))
    app.router.add_get(PREFIX, guarded(api.list, auth, "ListKeys"))
    app.router.add_delete(PREFIX + "/{name}", guarded(api.delete, auth, "DeleteKey"))
    app.router.add_post(PREFIX + "/{name}/rotate", guarded(api.rotate, auth, "RotateKey"))


class KeysApi:
    def __init__(self, keys: KeyRing, auth: GatewayAuth, account_id: str) -> None:
        self._keys = keys
        self._auth = auth
        self._account_id = account_id

    def key_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self._account_id}:user/{name}"

    async def create(self, request: web.Request) -> web.Response:
        document = await json_body(request)
        name = document.get("Name")
        if not isinstance(name, str) or not name:
            raise InvalidParameterValue("Name is required: the key's name")
        self._auth.require(request, "faas:CreateKey", self.key_arn(name))
        policy = document.get("Policy")
        if policy is None:
            raise InvalidParameterValue("Policy is required: an IAM-style policy document")
        key = await asyncio.to_thread(self._keys.create, name, policy)
        return json_response({"AccessKey": self._document(key, with_secret=True)}, status=201)

    async def list(self, request: web.Request) -> web.Response:
        self._auth.require(request, "faas:ListKeys", "*")
        keys = [self._document(key, with_secret=False) for key in self._keys.all()]
        return json_response({"AccessKeys": keys})

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require(request, "faas:DeleteKey", self.key_arn(name))
        await asyncio.to_thread(self._keys.delete, name)
        return web.Response(status=204)

    async def rotate(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require(request, "faas:RotateKey", self.key_arn(name))
        key = await asyncio.to_thread(self._keys.rotate, name)
        return json_response({"AccessKey": self._document(key, with_secret=True)})

    def _document(self, key: AccessKey, *, with_secret: bool) -> dict[str, Any]:
        document: dict[str, Any] = {
            "Name": key.name,
            "Arn": self.key_arn(key.name),
            "AccessKeyId": key.access_key_id,
            "CreateDate": key.created,
            "Policy": json.loads(key.policy_document),
        }
        if with_secret:
            document["SecretAccessKey"] = key.secret
        return document
