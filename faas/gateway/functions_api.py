"""Lambda's function management API: create, get, list, update, delete."""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.domain import LATEST, FunctionConfig
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.gateway.codec import (
    config_change,
    configuration_document,
    json_body,
    json_response,
    refuse_unsupported,
    zip_from_code,
)
from faas.gateway.concurrency_api import concurrency_document
from faas.gateway.errors import lambda_errors
from faas.gateway.services import Services

PREFIX = "/2015-03-31/functions"
WARNINGS_FIELD = "FaasWarnings"


def add_routes(app: web.Application, services: Services) -> None:
    api = FunctionsApi(services)
    app.router.add_post(PREFIX, lambda_errors(api.create))
    app.router.add_get(PREFIX, lambda_errors(api.list))
    app.router.add_get(PREFIX + "/", lambda_errors(api.list))
    app.router.add_get(PREFIX + "/{name}", lambda_errors(api.get))
    app.router.add_get(PREFIX + "/{name}/configuration", lambda_errors(api.get_configuration))
    app.router.add_put(PREFIX + "/{name}/code", lambda_errors(api.update_code))
    app.router.add_put(PREFIX + "/{name}/configuration", lambda_errors(api.update_configuration))
    app.router.add_delete(PREFIX + "/{name}", lambda_errors(api.delete))


class FunctionsApi:
    def __init__(self, services: Services) -> None:
        self._registry = services.registry

    def _document(self, cfg: FunctionConfig) -> dict[str, object]:
        return configuration_document(cfg, self._registry.function_arn(cfg.name))

    async def _deployed_document(self, cfg: FunctionConfig) -> dict[str, object]:
        """The configuration, plus `FaasWarnings` when the code will probably not run as
        deployed (a field boto3 ignores and the faas CLI prints)."""
        document = self._document(cfg)
        warnings = await asyncio.to_thread(self._registry.deploy_warnings, cfg)
        if warnings:
            document[WARNINGS_FIELD] = list(warnings)
        return document

    async def create(self, request: web.Request) -> web.Response:
        document = await json_body(request)
        name = document.get("FunctionName")
        if not isinstance(name, str) or not name:
            raise InvalidParameterValue("FunctionName is required")
        refuse_unsupported(document)
        code = document.get("Code")
        if not isinstance(code, dict):
            raise InvalidParameterValue('Code is required: {"ZipFile": <base64 zip>}')
        zip_bytes = zip_from_code(code, "Code")
        change = config_change(document)
        cfg = await asyncio.to_thread(self._registry.create, name, zip_bytes, change)
        return json_response(await self._deployed_document(cfg), status=201)

    async def list(self, request: web.Request) -> web.Response:
        max_items_text = request.query.get("MaxItems")
        try:
            max_items = int(max_items_text) if max_items_text else None
        except ValueError as exc:
            raise InvalidParameterValue("MaxItems must be an integer") from exc
        page = self._registry.list(request.query.get("Marker"), max_items)
        body: dict[str, object] = {"Functions": [self._document(cfg) for cfg in page.functions]}
        if page.next_marker:
            body["NextMarker"] = page.next_marker
        return json_response(body)

    async def get(self, request: web.Request) -> web.Response:
        cfg = self._resolve(request)
        document: dict[str, object] = {
            "Configuration": self._document(cfg),
            "Code": {"RepositoryType": "faas", "Location": _code_location(request, cfg)},
            "Tags": {},
        }
        if cfg.reserved_concurrency is not None:
            document["Concurrency"] = concurrency_document(cfg.reserved_concurrency)
        return json_response(document)

    async def get_configuration(self, request: web.Request) -> web.Response:
        return json_response(self._document(self._resolve(request)))

    async def update_code(self, request: web.Request) -> web.Response:
        document = await json_body(request)
        refuse_unsupported(document)
        zip_bytes = zip_from_code(document, "UpdateFunctionCode")
        name = self._resolve(request).name
        revision = _revision(document)
        cfg = await asyncio.to_thread(self._registry.update_code, name, zip_bytes, revision)
        return json_response(await self._deployed_document(cfg))

    async def update_configuration(self, request: web.Request) -> web.Response:
        document = await json_body(request)
        refuse_unsupported(document)
        name = self._resolve(request).name
        change = config_change(document)
        revision = _revision(document)
        cfg = await asyncio.to_thread(self._registry.update_config, name, change, revision)
        return json_response(await self._deployed_document(cfg))

    async def delete(self, request: web.Request) -> web.Response:
        qualifier = request.query.get("Qualifier")
        if qualifier not in (None, LATEST):
            raise ResourceNotFound(f"Function not found: {request.match_info['name']}:{qualifier}")
        name = self._resolve(request).name
        await asyncio.to_thread(self._registry.delete, name)
        return web.Response(status=204)

    def _resolve(self, request: web.Request) -> FunctionConfig:
        return self._registry.resolve(request.match_info["name"], request.query.get("Qualifier"))


def _revision(document: dict[str, object]) -> str | None:
    revision = document.get("RevisionId")
    if revision is not None and not isinstance(revision, str):
        raise InvalidParameterValue("RevisionId must be a string")
    return revision


def _code_location(request: web.Request, cfg: FunctionConfig) -> str:
    return f"{request.scheme}://{request.host}/faas/v1/code/{cfg.code_sha256}"
