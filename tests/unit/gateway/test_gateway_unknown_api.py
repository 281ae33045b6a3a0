"""The catch-all route: it answers only what no other route serves, and never slows those."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_urldispatcher import AbstractRoute, DynamicResource

from faas.gateway.app import make_app
from faas.gateway.auth import GatewayAuth
from faas.gateway.unknown_api import CATCH_ALL_ROUTE, MAX_ECHOED_PATH

MB = 1024 * 1024
FUNCTION = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn"
INVOKE_PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"


def build_app() -> web.Application:
    # Routing needs the handlers, never the services behind them.
    services = SimpleNamespace(
        registry=object(),
        invoker=object(),
        records=object(),
        health=dict,
        limits=SimpleNamespace(max_sync_payload_bytes=6 * MB),
        max_request_bytes=70 * MB,
        # Authentication off: an anonymous caller allowed everything reaches the handlers.
        auth=GatewayAuth(None, region="us-east-1", account_id="000000000000"),
        keys=object(),
        roles=object(),
        audit=object(),
        account_id="000000000000",
        code_url_expiry_s=600,
        # No queue: its routes (and the Event invocation type) are not served here.
        async_invocations=None,
        event_configs=None,
        dead_letters=None,
        buckets=None,
        triggers=None,
        schedules=None,
        metrics=None,
        metrics_token="",
        function_urls=object(),
        tags=None,
        logs=None,
        policies=None,
        layers=None,
        backups=None,
    )
    return make_app(services)  # type: ignore[arg-type]


APP = build_app()


@pytest.fixture(scope="module")
def app() -> web.Application:
    return APP


def catch_all(app: web.Application) -> AbstractRoute:
    route = app.router.named_resources()[CATCH_ALL_ROUTE]
    routes = list(route)
    assert len(routes) == 1
    return routes[0]


def concrete_path(route: AbstractRoute) -> str:
    canonical = route.resource.canonical if route.resource else ""
    concrete = canonical.replace("{name}", FUNCTION).replace("{sha256}", "0" * 64)
    concrete = concrete.replace("{alias}", "live")
    return concrete.replace("{url_id}", "a" * 32).replace("{tail}", "some/path")


async def resolve(app: web.Application, method: str, path: str) -> AbstractRoute:
    match_info = await app.router.resolve(make_mocked_request(method, path, app=app))
    return match_info.route


async def test_every_route_still_reaches_its_own_handler(app: web.Application) -> None:
    others = [route for route in app.router.routes() if route is not catch_all(app)]
    assert {"/health", INVOKE_PATH, "/urls/" + "a" * 32 + "/some/path"} <= {
        concrete_path(route) for route in others
    }
    for route in others:
        resolved = await resolve(app, route.method, concrete_path(route))
        assert resolved is route, f"{route.method} {concrete_path(route)}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/2015-03-31/functions/fn"),
        ("GET", "/2015-03-31/functions/fn/invocations"),
        ("POST", "/health"),
        ("DELETE", "/2019-09-30/functions/fn/concurrency"),
        ("PATCH", "/2015-03-31/functions/fn/aliases/live"),
        ("GET", "/2015-03-31/event-source-mappings"),
        ("GET", "/nope"),
        ("GET", "/"),
    ],
)
async def test_unrouted_paths_and_methods_reach_the_catch_all(
    app: web.Application, method: str, path: str
) -> None:
    assert await resolve(app, method, path) is catch_all(app)


async def test_invoke_never_consults_the_catch_all(
    app: web.Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = catch_all(app).resource
    assert isinstance(resource, DynamicResource)
    consulted: list[str] = []
    original = DynamicResource.resolve

    async def counting_resolve(self: DynamicResource, request: web.Request) -> Any:
        if self is resource:
            consulted.append(request.path)
        return await original(self, request)

    monkeypatch.setattr(DynamicResource, "resolve", counting_resolve)
    await resolve(app, "POST", INVOKE_PATH)
    await resolve(app, "GET", "/health")
    assert consulted == []
    await resolve(app, "GET", "/nope")
    assert consulted == ["/nope"]


async def answer(method: str, path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    handler = catch_all(APP).handler
    response = await handler(make_mocked_request(method, path))
    assert isinstance(response.body, bytes)
    return response.status, dict(response.headers), json.loads(response.body)


async def test_an_unsupported_operation_is_named_in_lambda_s_error_shape() -> None:
    status, headers, body = await answer("POST", "/2015-03-31/functions/fn/versions")
    assert status == 404
    assert headers["X-Amzn-ErrorType"] == "UnknownOperationException"
    assert headers["Content-Type"].startswith("application/json")
    message = (
        "faas does not support the Lambda operation PublishVersion "
        "(POST /2015-03-31/functions/{FunctionName}/versions)"
    )
    assert body == {"Type": "User", "Message": message, "message": message}


async def test_a_request_that_is_no_lambda_operation_is_echoed() -> None:
    _, _, body = await answer("GET", "/nope?x=1")
    assert body["Message"] == "Unknown operation: GET /nope"


async def test_a_long_unknown_path_is_echoed_only_in_part() -> None:
    path = "/" + "x" * 10_000
    _, _, body = await answer("GET", path)
    assert body["Message"] == f"Unknown operation: GET {path[:MAX_ECHOED_PATH]}..."
