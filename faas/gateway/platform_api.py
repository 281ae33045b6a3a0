"""The platform's own endpoints: /health and invocation records."""

from __future__ import annotations

import asyncio

from aiohttp import web

from faas.errors import AccessDenied, InvalidParameterValue, ResourceNotFound
from faas.gateway.auth import audited_refusals, guarded
from faas.gateway.codec import json_response, record_document
from faas.gateway.services import Services
from faas.registry.names import split_function_name

MAX_RECORDS = 1000


def add_routes(app: web.Application, services: Services) -> None:
    api = PlatformApi(services)
    # Open by design: a load balancer or a supervisor asks whether the server is up. Only a
    # signed caller allowed faas:GetHealth gets the details (functions, workers, sandbox).
    app.router.add_get("/health", audited_refusals(api.health, services.auth, "GetHealth"))
    app.router.add_get(
        "/faas/v1/invocations", guarded(api.invocations, services.auth, "ListInvocations")
    )
    app.router.add_get("/faas/v1/code/{sha256}", guarded(api.code, services.auth, "GetCode"))


class PlatformApi:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._auth = services.auth

    async def health(self, request: web.Request) -> web.Response:
        summary: dict[str, object] = {"status": "ok"}
        if not self._auth.enabled:
            summary["auth"] = "DISABLED: anyone who reaches this port controls every function"
        signed = "Authorization" in request.headers or "X-Amz-Signature" in request.query
        if signed or not self._auth.enabled:
            caller = await self._auth.authenticate(request)
            if caller.allows("faas:GetHealth", "*"):
                report = {**self._services.health(), **summary}
                if self._services.async_invocations is not None:
                    report["queue"] = await self._services.async_invocations.report()
                triggers: list[dict[str, object]] = []
                if self._services.triggers is not None:
                    triggers += self._services.triggers.report()
                if self._services.schedules is not None:
                    triggers += self._services.schedules.report()
                report["triggers"] = triggers
                return json_response(report)
        return json_response(summary)

    async def invocations(self, request: web.Request) -> web.Response:
        function = request.query.get("function") or None
        if function is not None:
            # Records outlive their function: check the name's form, not that it exists.
            function, _ = split_function_name(function)
            arn = self._services.registry.function_arn(function)
            self._auth.require(request, "faas:ListInvocations", arn)
        else:
            self._auth.require(request, "faas:ListInvocations", "*")
        limit = _limit(request.query.get("limit"))
        # Records reach the database behind the answers: wait for those answered so far.
        await self._services.records.drained()
        records = await asyncio.to_thread(self._services.records.recent, function, limit)
        if function is not None and not records:
            # No records and no such function: a misspelt name, not an idle function.
            self._services.registry.get(function)
        return json_response({"Invocations": [record_document(r) for r in records]})

    async def code(self, request: web.Request) -> web.Response:
        """A stored zip, for whoever may GetFunction a function that uses it (or holds the
        presigned Code.Location URL GetFunction answered with)."""
        sha256 = request.match_info["sha256"]
        registry = self._services.registry
        arns = [registry.function_arn(name) for name in registry.functions_using_code(sha256)]
        caller = await self._auth.authenticate(request)
        allowed = [arn for arn in arns if caller.allows("lambda:GetFunction", arn)]
        # Unknown code is "not found" only to whoever may read every function; anyone else
        # would learn from the difference whether some function uses this bundle.
        if not arns and caller.allows("lambda:GetFunction", registry.function_arn("*")):
            raise ResourceNotFound(f"Code not found: {sha256}")
        if not allowed:
            raise AccessDenied(
                f"User: {caller.arn} is not authorized to perform: lambda:GetFunction on any "
                f"function using the code {sha256}"
            )
        self._auth.require(request, "lambda:GetFunction", allowed[0])
        body = await asyncio.to_thread(self._services.registry.code_zip, sha256)
        return web.Response(body=body, content_type="application/zip")


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    try:
        limit = int(text)
    except ValueError as exc:
        raise InvalidParameterValue("limit must be an integer") from exc
    if not 1 <= limit <= MAX_RECORDS:
        raise InvalidParameterValue(f"limit must be between 1 and {MAX_RECORDS}")
    return limit
