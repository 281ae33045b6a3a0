"""Lambda's function management API: create, get, list, update, delete."""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web

from faas.domain import LATEST, ConfigChange, FunctionConfig
from faas.errors import InvalidParameterValue
from faas.gateway.auth import guarded
from faas.gateway.code_source import code_zip
from faas.gateway.codec import (
    config_change,
    configuration_document,
    json_body,
    json_response,
    query_max_items,
    refuse_unsupported,
)
from faas.gateway.concurrency_api import concurrency_document
from faas.gateway.services import Services
from faas.registry.tags import checked_tags

PREFIX = "/2015-03-31/functions"
WARNINGS_FIELD = "FaasWarnings"


def add_routes(app: web.Application, services: Services) -> None:
    api = FunctionsApi(services)
    app.router.add_post(PREFIX, guarded(api.create, services.auth, "CreateFunction"))
    app.router.add_get(PREFIX, guarded(api.list, services.auth, "ListFunctions"))
    app.router.add_get(PREFIX + "/", guarded(api.list, services.auth, "ListFunctions"))
    app.router.add_get(PREFIX + "/{name}", guarded(api.get, services.auth, "GetFunction"))
    app.router.add_get(
        PREFIX + "/{name}/configuration",
        guarded(api.get_configuration, services.auth, "GetFunctionConfiguration"),
    )
    app.router.add_put(
        PREFIX + "/{name}/code", guarded(api.update_code, services.auth, "UpdateFunctionCode")
    )
    app.router.add_put(
        PREFIX + "/{name}/configuration",
        guarded(api.update_configuration, services.auth, "UpdateFunctionConfiguration"),
    )
    app.router.add_delete(PREFIX + "/{name}", guarded(api.delete, services.auth, "DeleteFunction"))


class FunctionsApi:
    def __init__(self, services: Services) -> None:
        self._registry = services.registry
        self._roles = services.roles
        self._auth = services.auth
        self._code_url_expiry_s = services.code_url_expiry_s
        self._tags = services.tags
        self._services = services

    def _document(self, cfg: FunctionConfig, named: str | None = None) -> dict[str, object]:
        """FunctionConfiguration; its FunctionArn is qualified as the request named it (a
        published version's own document names its version)."""
        if named is None and cfg.version != LATEST:
            named = cfg.version
        return configuration_document(cfg, self._registry.function_arn(cfg.name, named))

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
        self._auth.require_on_function(request, "lambda:CreateFunction", name)
        refuse_unsupported(document)
        code = document.get("Code")
        if not isinstance(code, dict):
            raise InvalidParameterValue('Code is required: {"ZipFile": <base64 zip>}')
        zip_bytes = await code_zip(request, self._services, code, "Code")
        change = self._checked(request, config_change(document))
        tags = self._create_tags(request, name, document.get("Tags"))
        publish = _publish_flag(document)
        if publish:
            self._auth.require_on_function(request, "lambda:PublishVersion", name)
        cfg = await asyncio.to_thread(self._registry.create, name, zip_bytes, change)
        if tags and self._tags is not None:
            await asyncio.to_thread(self._tags.tag, cfg.name, tags)
        if not publish:
            return json_response(await self._deployed_document(cfg), status=201)
        published = await asyncio.to_thread(self._registry.publish_version, cfg.name)
        document = await self._deployed_document(published)
        # As Lambda answers it: version 1's configuration under the function's own ARN.
        document["FunctionArn"] = self._registry.function_arn(cfg.name)
        return json_response(document, status=201)

    def _create_tags(self, request: web.Request, name: str, tags: object) -> dict[str, str]:
        """CreateFunction's Tags, checked before anything is created (as TagResource would
        check them, and with its permission)."""
        if tags is None:
            return {}
        if self._tags is None:
            raise InvalidParameterValue("Tags are not supported by this server")
        checked = checked_tags(tags)
        if checked:
            self._auth.require_on_function(request, "lambda:TagResource", name)
        return checked

    async def list(self, request: web.Request) -> web.Response:
        caller = self._auth.require(request, "lambda:ListFunctions", "*")
        all_versions = _function_version(request.query.get("FunctionVersion"))
        page = self._registry.list(
            request.query.get("Marker"), query_max_items(request), all_versions=all_versions
        )
        listed = []
        for cfg in page.functions:
            # Every version under its own ARN with ALL (`:$LATEST` too, as
            # ListVersionsByFunction names it); else the function's unqualified ARN.
            document = self._document(cfg, cfg.version if all_versions else None)
            # As on Lambda: environment values only for whoever may read the configuration.
            if not caller.allows("lambda:GetFunctionConfiguration", str(document["FunctionArn"])):
                del document["Environment"]
            listed.append(document)
        body: dict[str, object] = {"Functions": listed}
        if page.next_marker:
            body["NextMarker"] = page.next_marker
        return json_response(body)

    async def get(self, request: web.Request) -> web.Response:
        raw_name, qualifier = request.match_info["name"], request.query.get("Qualifier")
        caller = self._auth.require_on_function(request, "lambda:GetFunction", raw_name, qualifier)
        cfg, named = self._registry.resolve_named(raw_name, qualifier)
        location = self._auth.presign_code_url(
            request, f"/faas/v1/code/{cfg.code_sha256}", self._code_url_expiry_s
        )
        document: dict[str, object] = {
            "Configuration": self._document(cfg, named),
            "Code": {"RepositoryType": "faas", "Location": location},
        }
        # As on Lambda: the tags only for whoever may list them.
        if self._tags is not None and caller.allows(
            "lambda:ListTags", self._registry.function_arn(cfg.name)
        ):
            document["Tags"] = await asyncio.to_thread(self._tags.tags, cfg.name)
        # Reserved concurrency is the function's own, whichever version is shown.
        reserved = self._registry.get(cfg.name).reserved_concurrency
        if reserved is not None:
            document["Concurrency"] = concurrency_document(reserved)
        return json_response(document)

    async def get_configuration(self, request: web.Request) -> web.Response:
        raw_name, qualifier = request.match_info["name"], request.query.get("Qualifier")
        self._auth.require_on_function(
            request, "lambda:GetFunctionConfiguration", raw_name, qualifier
        )
        cfg, named = self._registry.resolve_named(raw_name, qualifier)
        return json_response(self._document(cfg, named))

    async def update_code(self, request: web.Request) -> web.Response:
        name = self._function_itself(request, "lambda:UpdateFunctionCode")
        document = await json_body(request)
        refuse_unsupported(document)
        zip_bytes = await code_zip(request, self._services, document, "UpdateFunctionCode")
        revision = _revision(document)
        publish = _publish_flag(document)
        if publish:
            self._auth.require_on_function(request, "lambda:PublishVersion", name)
        cfg = await asyncio.to_thread(self._registry.update_code, name, zip_bytes, revision)
        if publish:
            cfg = await asyncio.to_thread(self._registry.publish_version, name)
        return json_response(await self._deployed_document(cfg))

    async def update_configuration(self, request: web.Request) -> web.Response:
        name = self._function_itself(request, "lambda:UpdateFunctionConfiguration")
        document = await json_body(request)
        refuse_unsupported(document)
        change = self._checked(request, config_change(document))
        revision = _revision(document)
        cfg = await asyncio.to_thread(self._registry.update_config, name, change, revision)
        return json_response(await self._deployed_document(cfg))

    async def delete(self, request: web.Request) -> web.Response:
        """The function with its versions and aliases, or with a version number as qualifier
        that version only."""
        raw_name, qualifier = request.match_info["name"], request.query.get("Qualifier")
        self._auth.require_on_function(request, "lambda:DeleteFunction", raw_name, qualifier)
        await asyncio.to_thread(self._registry.delete, raw_name, qualifier)
        return web.Response(status=204)

    def _checked(self, request: web.Request, change: ConfigChange) -> ConfigChange:
        """The change, once the caller may do what it implies beyond the function itself:
        pass its role, mount its buckets."""
        for entry in change.file_system_configs or ():
            # A function mounting a bucket reads (or writes) what is in it: the caller must
            # be allowed that bucket, as a role needs iam:PassRole.
            self._auth.require(request, "faas:MountBucket", entry.arn)
        for arn in change.layers or ():
            self._require_layer(request, arn)
        return self._with_role_passed(request, change)

    def _require_layer(self, request: web.Request, arn: str) -> None:
        """A function using a layer version reads it: the caller needs lambda:GetLayerVersion
        on it, from its own policy or the version's permissions. An ARN that names no layer
        version of this server is refused by the registry, in Lambda's words."""
        layers = self._services.layers
        if layers is None or not layers.is_ours(arn):
            return
        self._auth.require_or_granted(
            request, "lambda:GetLayerVersion", arn, lambda _caller: layers.grants_use_arn(arn)
        )

    def _with_role_passed(self, request: web.Request, change: ConfigChange) -> ConfigChange:
        """As on Lambda, giving a function an execution role needs iam:PassRole on it: the
        function will act with the role's rights. A Role that is no faas role gives no
        credentials and needs nothing (and stays without them if such a role comes later)."""
        if change.role is None:
            return change
        role = self._roles.for_arn(change.role)
        if role is not None:
            self._auth.require(request, "iam:PassRole", self._roles.arn(role.name))
        return dataclasses.replace(change, role_passed=role is not None)

    def _function_itself(self, request: web.Request, action: str) -> str:
        """The name of the function the path names (a version or an alias is refused, as
        Lambda refuses them here), once the caller may perform `action` on it."""
        raw_name = request.match_info["name"]
        self._auth.require_on_function(request, action, raw_name)
        name = self._registry.unqualified(raw_name)
        return self._registry.get(name).name


def _publish_flag(document: dict[str, object]) -> bool:
    publish = document.get("Publish", False)
    if not isinstance(publish, bool):
        raise InvalidParameterValue("Publish must be a boolean")
    return publish


def _revision(document: dict[str, object]) -> str | None:
    revision = document.get("RevisionId")
    if revision is not None and not isinstance(revision, str):
        raise InvalidParameterValue("RevisionId must be a string")
    return revision


def _function_version(value: str | None) -> bool:
    """ListFunctions' FunctionVersion: ALL lists every published version too."""
    if value is None or value == "ALL":
        return value == "ALL"
    raise InvalidParameterValue(
        f"1 validation error detected: Value '{value}' at 'functionVersion' failed to satisfy "
        "constraint: Member must satisfy enum value set: [ALL]"
    )
