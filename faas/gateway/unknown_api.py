"""The answer to every request no other route serves, in Lambda's error shape.

Without it aiohttp answers a text/plain `404: Not Found` or `405`, which a Lambda client shows
as if the endpoint were wrong. Instead: 404 (botocore never retries it) with
`UnknownOperationException` and a message naming the Lambda operation faas does not support,
found in Lambda's own wire model.

The catch-all route must be added after every other one. aiohttp tries it only once no other
route matches the path and method, so routed requests (Invoke above all) never reach it.
"""

from __future__ import annotations

from aiohttp import web

from faas.errors import UnknownOperation
from faas.gateway.auth import GatewayAuth, guarded
from faas.gateway.errors import error_response
from faas.gateway.lambda_operations import OPERATIONS
from faas.gateway.operations import OperationMatcher

CATCH_ALL_ROUTE = "unknown-operation"
# An unknown path is echoed in the message, but never more of it than this.
MAX_ECHOED_PATH = 200
MAX_ECHOED_METHOD = 20
UNKNOWN_OPERATION = "UnknownOperation"

LAMBDA_OPERATIONS = OperationMatcher(OPERATIONS)


def add_routes(app: web.Application, auth: GatewayAuth) -> None:
    async def answer_unknown_operation(request: web.Request) -> web.Response:
        # Only signed callers learn which operations exist (authentication came first).
        auth.no_action(request)
        return error_response(unknown_operation(request))

    app.router.add_route(
        "*",
        "/{tail:.*}",
        guarded(answer_unknown_operation, auth, operation_name),
        name=CATCH_ALL_ROUTE,
    )


def operation_name(request: web.Request) -> str:
    """The Lambda operation the request is (for the audit log), or `UnknownOperation`."""
    raw_path = request.rel_url.raw_path
    operation = LAMBDA_OPERATIONS.match(request.method, raw_path, request.rel_url.query)
    return UNKNOWN_OPERATION if operation is None else operation.name


def unknown_operation(request: web.Request) -> UnknownOperation:
    """The error for a request faas does not serve, naming its Lambda operation if it is one."""
    raw_path = request.rel_url.raw_path
    operation = LAMBDA_OPERATIONS.match(request.method, raw_path, request.rel_url.query)
    if operation is None:
        method = _clip(request.method, MAX_ECHOED_METHOD)
        return UnknownOperation(f"Unknown operation: {method} {_clip(raw_path, MAX_ECHOED_PATH)}")
    return UnknownOperation(
        f"faas does not support the Lambda operation {operation.name} "
        f"({operation.method} {operation.request_uri})"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
