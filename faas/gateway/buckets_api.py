"""Buckets and their triggers (faas endpoints under /faas/v1/), and Lambda's recursion
configuration (Put/GetFunctionRecursionConfig)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from faas.domain import Bucket, BucketTrigger
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import json_body, json_response
from faas.gateway.services import Services, TriggerManager
from faas.registry.buckets import BucketRegistry, bucket_arn

BUCKETS_PATH = "/faas/v1/buckets"
BUCKET_PATH = "/faas/v1/buckets/{name}"
TRIGGERS_PATH = "/faas/v1/triggers"
TRIGGER_PATH = "/faas/v1/triggers/{id}"
RECURSION_PATH = "/2024-08-31/functions/{name}/recursion-config"


def add_routes(app: web.Application, services: Services) -> None:
    recursion = RecursionApi(services)
    app.router.add_put(
        RECURSION_PATH, guarded(recursion.put, services.auth, "PutFunctionRecursionConfig")
    )
    app.router.add_get(
        RECURSION_PATH, guarded(recursion.get, services.auth, "GetFunctionRecursionConfig")
    )
    if services.buckets is None or services.triggers is None:
        return
    api = BucketsApi(services, services.buckets, services.triggers)
    app.router.add_get(BUCKETS_PATH, guarded(api.list_buckets, services.auth, "ListBuckets"))
    app.router.add_post(BUCKETS_PATH, guarded(api.add_bucket, services.auth, "CreateBucket"))
    app.router.add_delete(BUCKET_PATH, guarded(api.remove_bucket, services.auth, "DeleteBucket"))
    app.router.add_get(TRIGGERS_PATH, guarded(api.list_triggers, services.auth, "ListTriggers"))
    app.router.add_post(TRIGGERS_PATH, guarded(api.add_trigger, services.auth, "CreateTrigger"))
    app.router.add_delete(TRIGGER_PATH, guarded(api.remove_trigger, services.auth, "DeleteTrigger"))


def bucket_document(bucket: Bucket) -> dict[str, object]:
    return {
        "Name": bucket.name,
        "Arn": bucket_arn(bucket.name),
        "Path": bucket.path,
        "Writable": bucket.writable,
        "Origin": bucket.origin,
    }


def trigger_document(trigger: BucketTrigger) -> dict[str, object]:
    return {
        "Id": trigger.id,
        "FunctionName": trigger.function_name,
        "Bucket": trigger.bucket,
        "Prefix": trigger.prefix,
        "Suffix": trigger.suffix,
        "Events": [f"s3:{kind}:*" for kind in trigger.events],
    }


class BucketsApi:
    def __init__(
        self, services: Services, buckets: BucketRegistry, triggers: TriggerManager
    ) -> None:
        self._services = services
        self._auth = services.auth
        self._buckets = buckets
        self._triggers = triggers

    async def list_buckets(self, request: web.Request) -> web.Response:
        self._auth.require(request, "faas:ListBuckets", "*")
        return json_response({"Buckets": [bucket_document(b) for b in self._buckets.buckets()]})

    async def add_bucket(self, request: web.Request) -> web.Response:
        document = await json_body(request)
        name = _string(document, "Name", required=True)
        path = _string(document, "Path", required=True)
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

    async def list_triggers(self, request: web.Request) -> web.Response:
        self._auth.require(request, "faas:ListTriggers", "*")
        return json_response({"Triggers": self._triggers.report()})

    async def add_trigger(self, request: web.Request) -> web.Response:
        document = await json_body(request)
        function = _string(document, "FunctionName", required=True)
        bucket = _string(document, "Bucket", required=True)
        events = document.get("Events", ["s3:ObjectCreated:*"])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise InvalidParameterValue("Events must be a list of strings")
        self._auth.require_on_function(request, "faas:CreateTrigger", function)
        trigger = await self._triggers.add_trigger(
            function,
            bucket,
            prefix=_string(document, "Prefix"),
            suffix=_string(document, "Suffix"),
            events=events,
        )
        return json_response(trigger_document(trigger), status=201)

    async def remove_trigger(self, request: web.Request) -> web.Response:
        trigger = self._buckets.trigger(request.match_info["id"])
        self._auth.require_on_function(request, "faas:DeleteTrigger", trigger.function_name)
        await self._triggers.remove_trigger(trigger.id)
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


def _string(document: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = document.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidParameterValue(
            f"{key} is required (a string)" if required else f"{key} must be a string"
        )
    return value
