"""Published versions and aliases: PublishVersion, ListVersionsByFunction, and CreateAlias,
GetAlias, UpdateAlias, DeleteAlias, ListAliases, with Lambda's paths and shapes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from faas.domain import Alias, AliasChange, FunctionConfig
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.codec import configuration_document, json_body, json_response, query_max_items
from faas.gateway.services import Services

PREFIX = "/2015-03-31/functions/{name}"
VERSIONS = PREFIX + "/versions"
ALIASES = PREFIX + "/aliases"
ALIAS = ALIASES + "/{alias}"


def add_routes(app: web.Application, services: Services) -> None:
    api = VersionsApi(services)
    auth = services.auth
    app.router.add_post(VERSIONS, guarded(api.publish, auth, "PublishVersion"))
    app.router.add_get(VERSIONS, guarded(api.list_versions, auth, "ListVersionsByFunction"))
    app.router.add_post(ALIASES, guarded(api.create_alias, auth, "CreateAlias"))
    app.router.add_get(ALIASES, guarded(api.list_aliases, auth, "ListAliases"))
    app.router.add_get(ALIAS, guarded(api.get_alias, auth, "GetAlias"))
    app.router.add_put(ALIAS, guarded(api.update_alias, auth, "UpdateAlias"))
    app.router.add_delete(ALIAS, guarded(api.delete_alias, auth, "DeleteAlias"))


def alias_document(alias: Alias, arn: str) -> dict[str, Any]:
    """Lambda's AliasConfiguration; RoutingConfig only when the alias has routing."""
    document: dict[str, Any] = {
        "AliasArn": arn,
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.additional_version is not None:
        document["RoutingConfig"] = {
            "AdditionalVersionWeights": {alias.additional_version: alias.additional_weight}
        }
    return document


class VersionsApi:
    def __init__(self, services: Services) -> None:
        self._registry = services.registry
        self._auth = services.auth

    async def publish(self, request: web.Request) -> web.Response:
        name = self._authorized(request, "lambda:PublishVersion")
        document = await json_body(request)
        if document.get("PublishTo") is not None:
            raise InvalidParameterValue(
                "PublishTo is not supported: faas publishes numbered versions only"
            )
        cfg = await asyncio.to_thread(
            self._registry.publish_version,
            name,
            description=_optional_string(document, "Description"),
            code_sha256=_optional_string(document, "CodeSha256"),
            revision_id=_optional_string(document, "RevisionId"),
        )
        return json_response(self._version_document(cfg), status=201)

    async def list_versions(self, request: web.Request) -> web.Response:
        name = self._authorized(request, "lambda:ListVersionsByFunction")
        page = self._registry.list_versions(
            name, request.query.get("Marker"), query_max_items(request)
        )
        body: dict[str, Any] = {"Versions": [self._version_document(cfg) for cfg in page.functions]}
        if page.next_marker:
            body["NextMarker"] = page.next_marker
        return json_response(body)

    async def create_alias(self, request: web.Request) -> web.Response:
        name = self._authorized(request, "lambda:CreateAlias")
        document = await json_body(request)
        alias = await asyncio.to_thread(
            self._registry.create_alias,
            name,
            document.get("Name"),  # checked by the registry, as Lambda checks them
            document.get("FunctionVersion"),
            description=_optional_string(document, "Description") or "",
            routing=_routing(document) or (),
        )
        return json_response(alias_document(alias, self._registry.alias_arn(alias)), status=201)

    async def get_alias(self, request: web.Request) -> web.Response:
        name = self._authorized(request, "lambda:GetAlias")
        alias = self._registry.get_alias(name, request.match_info["alias"])
        return json_response(alias_document(alias, self._registry.alias_arn(alias)))

    async def update_alias(self, request: web.Request) -> web.Response:
        name = self._authorized(request, "lambda:UpdateAlias")
        document = await json_body(request)
        change = AliasChange(
            function_version=_optional_string(document, "FunctionVersion"),
            description=_optional_string(document, "Description"),
            routing=_routing(document),
        )
        alias = await asyncio.to_thread(
            self._registry.update_alias,
            name,
            request.match_info["alias"],
            change,
            _optional_string(document, "RevisionId"),
        )
        return json_response(alias_document(alias, self._registry.alias_arn(alias)))

    async def delete_alias(self, request: web.Request) -> web.Response:
        name = self._authorized(request, "lambda:DeleteAlias")
        await asyncio.to_thread(self._registry.delete_alias, name, request.match_info["alias"])
        return web.Response(status=204)

    async def list_aliases(self, request: web.Request) -> web.Response:
        name = self._authorized(request, "lambda:ListAliases")
        page = self._registry.list_aliases(
            name,
            request.query.get("FunctionVersion"),
            request.query.get("Marker"),
            query_max_items(request),
        )
        body: dict[str, Any] = {
            "Aliases": [
                alias_document(alias, self._registry.alias_arn(alias)) for alias in page.aliases
            ]
        }
        if page.next_marker:
            body["NextMarker"] = page.next_marker
        return json_response(body)

    def _authorized(self, request: web.Request, action: str) -> str:
        """The function name of the path, once the caller may perform `action` on it."""
        raw_name = request.match_info["name"]
        self._auth.require_on_function(request, action, raw_name)
        return raw_name

    def _version_document(self, cfg: FunctionConfig) -> dict[str, Any]:
        """A version's configuration under its own ARN (`:$LATEST` for $LATEST)."""
        return configuration_document(cfg, self._registry.function_arn(cfg.name, cfg.version))


def _optional_string(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidParameterValue(f"{key} must be a string")
    return value


def _routing(document: Mapping[str, Any]) -> tuple[tuple[str, float], ...] | None:
    """RoutingConfig.AdditionalVersionWeights as (version, weight) pairs: None when
    RoutingConfig is left out, () when it has no weights (no routing)."""
    routing = document.get("RoutingConfig")
    if routing is None:
        return None
    if not isinstance(routing, Mapping):
        raise InvalidParameterValue("RoutingConfig must be an object")
    weights = routing.get("AdditionalVersionWeights")
    if weights is None:
        return ()
    if not isinstance(weights, Mapping) or not all(
        isinstance(weight, int | float) and not isinstance(weight, bool)
        for weight in weights.values()
    ):
        raise InvalidParameterValue(
            "RoutingConfig.AdditionalVersionWeights must map version numbers to weights "
            "(numbers from 0.0 to 1.0)"
        )
    return tuple((str(version), float(weight)) for version, weight in weights.items())
