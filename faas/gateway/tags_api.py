"""Lambda's TagResource, UntagResource and ListTags: /2017-03-31/tags/{ARN}.

The ARN arrives percent-encoded in the path (boto3 quotes its colons); aiohttp has decoded
it by the time `match_info` is read.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response
from faas.gateway.services import Services
from faas.registry.tags import FunctionTags

PATH = "/2017-03-31/tags/{resource:.+}"


def add_routes(app: web.Application, services: Services) -> None:
    if services.tags is None:
        return
    api = TagsApi(services, services.tags)
    app.router.add_post(PATH, guarded(api.tag, services.auth, "TagResource"))
    app.router.add_delete(PATH, guarded(api.untag, services.auth, "UntagResource"))
    app.router.add_get(PATH, guarded(api.list, services.auth, "ListTags"))


class TagsApi:
    def __init__(self, services: Services, tags: FunctionTags) -> None:
        self._auth = services.auth
        self._tags = tags
        self._records = services.records

    def _function(self, request: web.Request, action: str) -> str:
        resource = request.match_info["resource"]
        self._auth.require(request, action, resource)
        return self._tags.function_of(resource)

    async def tag(self, request: web.Request) -> web.Response:
        name = self._function(request, "lambda:TagResource")
        document = await json_body(request)
        if "Tags" not in document:
            raise InvalidParameterValue("Tags is required")
        # The invocations answered so far are stored (and counted) under the tags they had.
        await self._records.drained()
        await asyncio.to_thread(self._tags.tag, name, document["Tags"])
        return web.Response(status=204)

    async def untag(self, request: web.Request) -> web.Response:
        name = self._function(request, "lambda:UntagResource")
        await self._records.drained()
        await asyncio.to_thread(self._tags.untag, name, request.query.getall("tagKeys", []))
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.Response:
        name = self._function(request, "lambda:ListTags")
        return json_response({"Tags": await asyncio.to_thread(self._tags.tags, name)})
