"""Lambda layers: PublishLayerVersion, GetLayerVersion (and by ARN), ListLayers,
ListLayerVersions, DeleteLayerVersion and the layer version permissions, with Lambda's paths
and shapes (faas.registry.layers keeps them)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from faas.domain import LayerVersion
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.code_source import code_zip
from faas.gateway.codec import json_body, json_response, string_field, string_list
from faas.gateway.services import Services
from faas.registry.layer_names import check_version_number
from faas.registry.layers import LayerPage, LayerPublication, LayerRegistry

LAYERS = "/2018-10-31/layers"
VERSIONS = LAYERS + "/{layer}/versions"
VERSION = VERSIONS + "/{version}"
POLICY = VERSION + "/policy"
STATEMENT = POLICY + "/{statement_id}"
# Content.Location: a presigned download of the layer's zip (under the code URL prefix).
CONTENT = "/faas/v1/code/layers/{layer}/{version}"


def add_routes(app: web.Application, services: Services) -> None:
    if services.layers is None:
        return
    api = LayersApi(services, services.layers)
    auth = services.auth
    app.router.add_get(LAYERS, guarded(api.list_layers, auth, _list_or_find))
    app.router.add_post(VERSIONS, guarded(api.publish, auth, "PublishLayerVersion"))
    app.router.add_get(VERSIONS, guarded(api.list_versions, auth, "ListLayerVersions"))
    app.router.add_get(VERSION, guarded(api.get, auth, "GetLayerVersion"))
    app.router.add_delete(VERSION, guarded(api.delete, auth, "DeleteLayerVersion"))
    app.router.add_post(POLICY, guarded(api.add_permission, auth, "AddLayerVersionPermission"))
    app.router.add_get(POLICY, guarded(api.get_policy, auth, "GetLayerVersionPolicy"))
    app.router.add_delete(
        STATEMENT, guarded(api.remove_permission, auth, "RemoveLayerVersionPermission")
    )
    app.router.add_get(CONTENT, guarded(api.content, auth, "GetLayerVersionContent"))


def _list_or_find(request: web.Request) -> str:
    return "GetLayerVersionByArn" if request.query.get("find") else "ListLayers"


class LayersApi:
    def __init__(self, services: Services, layers: LayerRegistry) -> None:
        self._services = services
        self._auth = services.auth
        self._layers = layers

    async def publish(self, request: web.Request) -> web.Response:
        name = self._layers.name_of(request.match_info["layer"])
        self._auth.require(request, "lambda:PublishLayerVersion", self._layers.layer_arn(name))
        document = await json_body(request)
        content = document.get("Content")
        if not isinstance(content, dict):
            raise InvalidParameterValue('Content is required: {"ZipFile": <base64 zip>}')
        zip_bytes = await code_zip(request, self._services, content, "Content")
        publication = _publication(document)
        layer = await asyncio.to_thread(self._layers.publish, name, zip_bytes, publication)
        return json_response(self._document(request, layer), status=201)

    async def get(self, request: web.Request) -> web.Response:
        name, version = self._named(request)
        self._require_use(request, name, version)
        return json_response(self._document(request, self._layers.get(name, version)))

    async def list_layers(self, request: web.Request) -> web.Response:
        if request.query.get("find") is not None:
            return await self._get_by_arn(request)
        self._auth.require(request, "lambda:ListLayers", "*")
        runtime, architecture, marker, max_items = _list_query(request)
        page = self._layers.list_layers(runtime, architecture, marker, max_items)
        body = {
            "Layers": [
                {
                    "LayerName": layer.layer_name,
                    "LayerArn": self._layers.layer_arn(layer.layer_name),
                    "LatestMatchingVersion": self._list_item(layer),
                }
                for layer in page.versions
            ]
        }
        return json_response(_with_marker(body, page))

    async def list_versions(self, request: web.Request) -> web.Response:
        name = self._layers.name_of(request.match_info["layer"])
        self._auth.require(request, "lambda:ListLayerVersions", "*")
        runtime, architecture, marker, max_items = _list_query(request)
        page = self._layers.list_versions(name, runtime, architecture, marker, max_items)
        body = {"LayerVersions": [self._list_item(layer) for layer in page.versions]}
        return json_response(_with_marker(body, page))

    async def delete(self, request: web.Request) -> web.Response:
        name, version = self._named(request)
        arn = self._layers.version_arn(name, version)
        self._auth.require(request, "lambda:DeleteLayerVersion", arn)
        await asyncio.to_thread(self._layers.delete, name, version)
        return web.Response(status=204)

    async def add_permission(self, request: web.Request) -> web.Response:
        name, version = self._named(request)
        arn = self._layers.version_arn(name, version)
        self._auth.require(request, "lambda:AddLayerVersionPermission", arn)
        document = await json_body(request)
        statement, revision = await asyncio.to_thread(
            self._layers.add_permission, name, version, document, request.query.get("RevisionId")
        )
        body = {"Statement": orjson.dumps(statement).decode(), "RevisionId": revision}
        return json_response(body, status=201)

    async def get_policy(self, request: web.Request) -> web.Response:
        name, version = self._named(request)
        arn = self._layers.version_arn(name, version)
        self._auth.require(request, "lambda:GetLayerVersionPolicy", arn)
        policy, revision = self._layers.policy(name, version)
        return json_response({"Policy": policy, "RevisionId": revision})

    async def remove_permission(self, request: web.Request) -> web.Response:
        name, version = self._named(request)
        arn = self._layers.version_arn(name, version)
        self._auth.require(request, "lambda:RemoveLayerVersionPermission", arn)
        await asyncio.to_thread(
            self._layers.remove_permission,
            name,
            version,
            request.match_info["statement_id"],
            request.query.get("RevisionId"),
        )
        return web.Response(status=204)

    async def content(self, request: web.Request) -> web.Response:
        """The layer version's zip, for whoever may GetLayerVersion it (or holds the
        presigned Content.Location URL GetLayerVersion answered with)."""
        name, version = self._named(request)
        self._require_use(request, name, version)
        layer = self._layers.get(name, version)
        body = await asyncio.to_thread(self._layers.content_zip, layer)
        return web.Response(body=body, content_type="application/zip")

    # -- steps ------------------------------------------------------------------------------

    async def _get_by_arn(self, request: web.Request) -> web.Response:
        if request.query.get("find") != "LayerVersion":
            raise InvalidParameterValue("find must be LayerVersion")
        name, version = self._layers.arn_parts(request.query.get("Arn", ""))
        self._require_use(request, name, version)
        return json_response(self._document(request, self._layers.get(name, version)))

    def _named(self, request: web.Request) -> tuple[str, int]:
        name = self._layers.name_of(request.match_info["layer"])
        return name, check_version_number(request.match_info["version"])

    def _require_use(self, request: web.Request, name: str, version: int) -> None:
        """lambda:GetLayerVersion, by the caller's policy or the version's permissions."""
        self._auth.require_or_granted(
            request,
            "lambda:GetLayerVersion",
            self._layers.version_arn(name, version),
            lambda _caller_arn: self._layers.grants_use(name, version),
        )

    def _document(self, request: web.Request, layer: LayerVersion) -> dict[str, Any]:
        """GetLayerVersionResponse (and PublishLayerVersionResponse)."""
        path = CONTENT.format(layer=layer.layer_name, version=layer.version)
        location = self._auth.presign_code_url(request, path, self._services.code_url_expiry_s)
        return {
            "Content": {
                "Location": location,
                "CodeSha256": base64.b64encode(bytes.fromhex(layer.code_sha256)).decode(),
                "CodeSize": layer.code_size,
            },
            "LayerArn": self._layers.layer_arn(layer.layer_name),
            **self._list_item(layer),
        }

    def _list_item(self, layer: LayerVersion) -> dict[str, Any]:
        """LayerVersionsListItem."""
        item: dict[str, Any] = {
            "LayerVersionArn": self._layers.version_arn(layer.layer_name, layer.version),
            "Version": layer.version,
            "Description": layer.description,
            "CreatedDate": layer.created,
            "CompatibleRuntimes": list(layer.compatible_runtimes),
            "CompatibleArchitectures": list(layer.compatible_architectures),
        }
        if layer.license_info is not None:
            item["LicenseInfo"] = layer.license_info
        return item


def _publication(document: Mapping[str, Any]) -> LayerPublication:
    license_info = document.get("LicenseInfo")
    if license_info is not None and not isinstance(license_info, str):
        raise InvalidParameterValue("LicenseInfo must be a string")
    return LayerPublication(
        description=string_field(document, "Description"),
        compatible_runtimes=string_list(document, "CompatibleRuntimes") or (),
        compatible_architectures=string_list(document, "CompatibleArchitectures") or (),
        license_info=license_info,
    )


def _list_query(request: web.Request) -> tuple[str | None, str | None, str | None, int | None]:
    query = request.query
    max_items_text = query.get("MaxItems")
    try:
        max_items = int(max_items_text) if max_items_text else None
    except ValueError as exc:
        raise InvalidParameterValue("MaxItems must be an integer") from exc
    return (
        query.get("CompatibleRuntime") or None,
        query.get("CompatibleArchitecture") or None,
        query.get("Marker") or None,
        max_items,
    )


def _with_marker(body: dict[str, Any], page: LayerPage) -> dict[str, Any]:
    if page.next_marker:
        body["NextMarker"] = page.next_marker
    return body
