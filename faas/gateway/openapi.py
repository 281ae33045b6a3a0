"""GET /faas/v1/openapi.json: an OpenAPI 3.0.3 description of every route the gateway serves.

Built from the running application's router: each route is looked up in
faas/gateway/openapi_routes.py, and Lambda's and CloudWatch Logs' operations take their
parameters and bodies from botocore's wire model (faas/gateway/openapi_shapes.json). A route
with no description is still listed, marked `x-faas-undocumented`, so the suite sees it.

OpenAPI 3.0.3 rather than 3.1: botocore's shapes need nothing 3.1 adds, and 3.0 is what
validators, generators and fuzzers (schemathesis among them) support most completely.

Served without authentication, like /health: it is the same for every server of a release
(what it could tell an outsider is which optional subsystems run) and names no function,
key, account or region.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from faas import __version__
from faas.gateway.auth import GatewayAuth, audited_refusals
from faas.gateway.openapi_routes import (
    FUNCTION_URL_METHODS,
    LOGS_OPERATIONS,
    ROUTE_DOCS,
    Param,
    RouteDoc,
    Signing,
)

PATH = "/faas/v1/openapi.json"
UNDOCUMENTED = "x-faas-undocumented"
LOGS_TARGET_PREFIX = "Logs_20140328."
LOGS_CONTENT_TYPE = "application/x-amz-json-1.1"
SECURITY: dict[Signing, list[dict[str, list[str]]]] = {
    Signing.LAMBDA: [{"sigv4": []}],
    Signing.LOGS: [{"sigv4Logs": []}],
    Signing.OPTIONAL: [{}, {"sigv4": []}],
    Signing.NONE: [],
    Signing.METRICS: [{"metricsBearer": []}, {"sigv4": []}],
    Signing.FUNCTION_URL: [{}, {"sigv4": []}],
}
SIGV4 = (
    "AWS Signature Version 4 (`Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/"
    "<region>/{service}/aws4_request, SignedHeaders=..., Signature=...`, with `X-Amz-Date` "
    "and `X-Amz-Content-Sha256`), as the AWS SDKs and CLI sign; or the same as query "
    "parameters (a presigned URL). Signing service: `{service}`; the region is the "
    "server's `server.region`."
)
DESCRIPTION = """\
faas speaks AWS Lambda's REST API (boto3 and the AWS CLI work against it with
`endpoint_url`), CloudWatch Logs' JSON API, function URLs, and its own endpoints under
`/faas/v1/`. Every request is signed with SigV4 by an access key (see the security
schemes), except `/health`, this description and function URLs whose AuthType is NONE.

Errors: a 4xx or 5xx answer carries `X-Amzn-ErrorType: <code>` and a JSON body
`{"Type": "User"|"Service", "Message": ..., "message": ...}` (429s add `Reason` and
`Retry-After`); CloudWatch Logs' own errors are `{"__type": <code>, "message": ...}`.
A method and path no route serves is answered 404 `UnknownOperationException`, naming the
Lambda operation when it is one faas does not support. Every GET route answers HEAD too."""


@functools.cache
def model_shapes() -> Mapping[str, Any]:
    """Lambda's and CloudWatch Logs' operations and shapes (generated from botocore)."""
    text = resources.files("faas.gateway").joinpath("openapi_shapes.json").read_text()
    loaded: Mapping[str, Any] = json.loads(text)
    return loaded


def add_routes(app: web.Application, auth: GatewayAuth) -> None:
    cached: list[bytes] = []

    async def describe(request: web.Request) -> web.Response:
        # Built on first use: by then every route of the application has been added.
        if not cached:
            routes = served_routes(request.app.router)
            cached.append(orjson.dumps(build_document(routes, model_shapes())))
        return web.Response(body=cached[0], content_type="application/json")

    app.router.add_get(PATH, audited_refusals(describe, auth, "GetOpenApi"))


def served_routes(router: web.UrlDispatcher) -> list[tuple[str, str]]:
    """(method, path) of every route, as the router matches them; a route for any method
    stands for each method a function URL answers. HEAD (aiohttp's twin of every GET) and
    the catch-all (described in the document's text) are left out."""
    found: list[tuple[str, str]] = []
    for route in router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or resource.name == "unknown-operation":
            continue
        methods = FUNCTION_URL_METHODS if route.method == "*" else (route.method,)
        found.extend((method, resource.canonical) for method in methods)
    return found


def build_document(
    routes: Iterable[tuple[str, str]],
    shapes: Mapping[str, Any],
    docs: Iterable[RouteDoc] = ROUTE_DOCS,
) -> dict[str, Any]:
    index = {(doc.method, doc.path): doc for doc in docs}
    paths: dict[str, dict[str, Any]] = {}
    for method, path in routes:
        doc = index.get((method, path))
        operation = _undocumented(method, path) if doc is None else _operation(doc, shapes)
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "faas", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": _security_schemes(),
            "schemas": {**copy.deepcopy(dict(shapes["schemas"])), **ERROR_SCHEMAS},
        },
    }


def undocumented(document: Mapping[str, Any]) -> list[str]:
    """`METHOD path` of each route the document could not describe."""
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get(UNDOCUMENTED)
    ]


ERROR_SCHEMAS: dict[str, Any] = {
    "LambdaError": {
        "type": "object",
        "required": ["Type", "Message", "message"],
        "properties": {
            "Type": {"type": "string", "enum": ["User", "Service"]},
            "Message": {"type": "string"},
            "message": {"type": "string"},
            "Reason": {"type": "string"},
        },
    },
    "LogsError": {
        "type": "object",
        "required": ["__type", "message"],
        "properties": {"__type": {"type": "string"}, "message": {"type": "string"}},
    },
    "FunctionUrlError": {
        "type": "object",
        "required": ["Message"],
        "properties": {"Message": {"type": "string"}},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _security_schemes() -> dict[str, Any]:
    def sigv4(service: str) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": SIGV4.format(service=service),
            "x-amazon-apigateway-authtype": "awsSigv4",
        }

    return {
        "sigv4": sigv4("lambda"),
        "sigv4Logs": sigv4("logs"),
        "metricsBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "`auth.metrics_token` (what Prometheus sends).",
        },
    }


def _undocumented(method: str, path: str) -> dict[str, Any]:
    return {
        "operationId": f"Undocumented {method} {path}",
        "summary": "(no description)",
        UNDOCUMENTED: True,
        "responses": {"default": {"description": "Not described"}},
    }


def _operation(doc: RouteDoc, shapes: Mapping[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": doc.operation_id,
        "tags": [doc.tag],
        "summary": doc.summary,
        "security": SECURITY[doc.signing],
    }
    if doc.notes:
        operation["description"] = doc.notes
    if doc.model is None:
        operation.update(_own_operation(doc))
    elif doc.model == "logs:*":
        operation.update(_logs_operation(shapes))
    else:
        operation.update(_model_operation(doc, shapes["operations"][doc.model]))
    for status in doc.also_success:
        operation["responses"][str(status)] = {"description": "Success, with no body"}
    operation["responses"].update(_error_responses(doc))
    return operation


def _own_operation(doc: RouteDoc) -> dict[str, Any]:
    found: dict[str, Any] = {"parameters": _params(doc.path, doc.params)}
    if doc.request is not None:
        found["requestBody"] = {"content": {"application/json": {"schema": dict(doc.request)}}}
    answer: dict[str, Any] = {"description": "Success"}
    if doc.response is not None:
        answer["content"] = {doc.response_type: {"schema": dict(doc.response)}}
    found["responses"] = {str(doc.success): answer}
    return found


def _params(path: str, params: Iterable[Param]) -> list[dict[str, Any]]:
    given = {param.name: param for param in params}
    labels = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
    for label in labels:
        given.setdefault(label, Param(label, "path", f"The {label}."))
    return [
        {
            "name": param.name,
            "in": param.where,
            "required": param.where == "path",
            "description": param.description,
            "schema": dict(param.schema),
        }
        for param in given.values()
    ]


def _model_operation(doc: RouteDoc, model: Mapping[str, Any]) -> dict[str, Any]:
    labels = _label_names(model["requestUri"], doc.path)
    parameters = []
    for parameter in model["parameters"]:
        moved = dict(parameter)
        if parameter["in"] == "path":
            moved["name"] = labels[parameter["name"]]
        parameters.append(moved)
    found: dict[str, Any] = {"parameters": parameters}
    if model.get("requestBody") is not None:
        found["requestBody"] = {"content": _content(model["requestBody"])}
    answer: dict[str, Any] = {"description": "Success"}
    if model.get("responseHeaders"):
        answer["headers"] = {
            name: {"schema": schema} for name, schema in model["responseHeaders"].items()
        }
    if model.get("responseBody") is not None:
        answer["content"] = _content(model["responseBody"])
    found["responses"] = {str(model["success"]): answer}
    return found


def _label_names(request_uri: str, route_path: str) -> dict[str, str]:
    """{model label: route label}, matched by position (`{FunctionName}` -> `{name}`)."""
    model_segments = request_uri.partition("?")[0].split("/")
    route_segments = route_path.rstrip("/").split("/")
    if len(model_segments) != len(route_segments):
        raise ValueError(f"{route_path} does not follow the model's {request_uri}")
    return {
        model[1:-1].rstrip("+"): route[1:-1]
        for model, route in zip(model_segments, route_segments, strict=True)
        if model.startswith("{")
    }


def _content(body: Mapping[str, Any]) -> dict[str, Any]:
    schema = body["schema"] or {"type": "string", "format": "binary"}
    return {body["contentType"]: {"schema": schema}}


def _logs_operation(shapes: Mapping[str, Any]) -> dict[str, Any]:
    models = [shapes["operations"][f"logs:{name}"] for name in LOGS_OPERATIONS]
    inputs = [m["requestBody"]["schema"] for m in models if m.get("requestBody")]
    outputs = [m["responseBody"]["schema"] for m in models if m.get("responseBody")]
    target = {"type": "string", "enum": [LOGS_TARGET_PREFIX + name for name in LOGS_OPERATIONS]}
    return {
        "parameters": [
            {"name": "X-Amz-Target", "in": "header", "required": True, "schema": target}
        ],
        "requestBody": {
            "required": True,
            "content": {LOGS_CONTENT_TYPE: {"schema": {"anyOf": inputs}}},
        },
        "responses": {
            "200": {
                "description": "The operation's output",
                "content": {LOGS_CONTENT_TYPE: {"schema": {"anyOf": outputs}}},
            }
        },
    }


def _error_responses(doc: RouteDoc) -> dict[str, Any]:
    if doc.signing is Signing.FUNCTION_URL:
        # The function's own answers may be anything; the platform's are {"Message": ...}.
        schema: dict[str, Any] = {}
    elif doc.signing is Signing.LOGS:
        schema = {"anyOf": [_ref("LambdaError"), _ref("LogsError")]}
    else:
        schema = _ref("LambdaError")
    error = {
        "headers": {"X-Amzn-ErrorType": {"schema": {"type": "string"}}},
        "content": {"application/json": {"schema": schema}},
    }
    if doc.signing is Signing.LOGS:
        error["content"][LOGS_CONTENT_TYPE] = {"schema": schema}
    responses = {"4XX": {"description": "Refused (see the error type)", **error}}
    for status in doc.server_errors:
        responses[str(status)] = {"description": "Server side (see the error type)", **error}
    return responses
