"""Buckets (faas endpoints under /faas/v1/buckets) and Lambda's recursion configuration
(Put/GetFunctionRecursionConfig)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.domain import Bucket
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response, string_field
from faas.gateway.services import Services
from faas.registry.buckets import BucketRegistry, bucket_arn

BUCKETS_PATH = "/faas/v1/buckets"
BUCKET_PATH = "/faas/v1/buckets/{name}"
RECURSION_PATH = "/2024-08-31/functions/{name}/recursion-config"


def add_routes(app: web.Application, services: Services) -> None:
    recursion = RecursionApi(services)
    app.router.add_put(
        RECURSION_PATH, guarded(recursion.put, services.auth, "PutFunctionRecursionConfig")
    )
    app.router.add_get(
        RECURSION_PATH, guarded(recursion.get, services.auth, "GetFunctionRecursionConfig")
    )
    if services.buckets is None:
        return
    api = BucketsApi(services, services.buckets)
    app.router.add_get(BUCKETS_PATH, guarded(api.list_buckets, services.auth, "ListBuckets"))
    app.router.add_post(BUCKETS_PATH, guarded(api.add_bucket, services.auth, "CreateBucket"))
    app.router.add_delete(BUCKET_PATH, guarded(api.remove_bucket, services.auth, "DeleteBucket"))


def bucket_document(bucket: Bucket) -> dict[str, object]:
    return {
        "Name": bucket.name,
        "Arn": bucket_arn(bucket.name),
        "Path": bucket.path,
        "Writable": bucket.writable,
        "Origin": bucket.origin,
    }


class BucketsApi:
    def __init__(self, services: Services, buckets: BucketRegistry) -> None:
        self._auth = services.auth
        self._buckets = buckets

    async def list_buckets(self, request: web.Request) -> web.Response:
        self._auth.require(request, "faas:ListBuckets", "*")
        return json_response({"Buckets": [bucket_document(b) for b in self._buckets.buckets()]})

    async def add_bucket(self, request: web.Request) -> web.Response:
        document = await json_body(request)
        name = string_field(document, "Name", required=True)
        path = string_field(document, "Path", required=True)
        writable = document.get("Writable", False)
        if not isinstance(writable, bool):
            raise InvalidParameterValue("Writable must be true or false")
        self._auth.require(request, "faas:CreateBucket", bucket_arn(name))
        bucket = await asyncio.to_thread(self._buckets.add_bucket, name, path, writable)
        return json_response(bucket_document(bucket), status=201)

    async def remove_bucket(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require(request, "faas:DeleteBucket", bucket_arn(name))
        await asyncio.to_thread(self._buckets.remove_bucket, name)
        return web.Response(status=204)


class RecursionApi:
    def __init__(self, services: Services) -> None:
        self._registry = services.registry
        self._auth = services.auth

    async def put(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require_on_function(request, "lambda:PutFunctionRecursionConfig", name)
        document = await json_body(request)
        value = document.get("RecursiveLoop")
        if not isinstance(value, str):
            raise InvalidParameterValue("RecursiveLoop is required: Allow or Terminate")
        cfg = await asyncio.to_thread(self._registry.set_recursive_loop, name, value)
        return json_response({"RecursiveLoop": cfg.recursive_loop})

    async def get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._auth.require_on_function(request, "lambda:GetFunctionRecursionConfig", name)
        return json_response({"RecursiveLoop": self._registry.get(name).recursive_loop})
