"""What the OpenAPI description says about each route the gateway serves.

One entry per (method, path) as aiohttp routes it (`app.router`): the document is built by
walking the router and looking each route up here (faas/gateway/openapi.py), so a route with
no entry, or an entry with no route, shows up instead of drifting (the suite checks both on a
real server). Lambda's and CloudWatch Logs' operations name their model operation: their
parameters and bodies come from botocore's wire model (faas/gateway/openapi_shapes.json,
generated), never from here. faas's own endpoints carry their small schemas here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Schema = Mapping[str, Any]


class Signing(enum.Enum):
    """How a route authenticates its caller."""

    LAMBDA = "lambda"  # SigV4 for the service `lambda` (every Lambda and faas route)
    LOGS = "logs"  # SigV4 for the service `logs` (the CloudWatch Logs JSON endpoint)
    OPTIONAL = "optional"  # anyone; a signed caller may be told more (/health)
    NONE = "none"  # anyone (the API description itself)
    METRICS = "metrics"  # a bearer token (Prometheus), or SigV4 `lambda`
    FUNCTION_URL = "function-url"  # the URL's AuthType: NONE, or AWS_IAM (SigV4 `lambda`)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # "query" or "path"
    description: str
    schema: Schema = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True, slots=True)
class RouteDoc:
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    # "lambda:<Operation>" or "logs:*": parameters and bodies from botocore's model.
    model: str | None = None
    signing: Signing = Signing.LAMBDA
    success: int = 200  # faas's own routes (Lambda's come from the model)
    also_success: tuple[int, ...] = ()  # other success statuses, answered with no body
    request: Schema | None = None  # a JSON body (faas's own endpoints)
    response: Schema | None = None  # the success body's schema (faas's own endpoints)
    response_type: str = "application/json"
    params: tuple[Param, ...] = ()
    # Server-side statuses the route may answer by design (e.g. 503 while stopping).
    server_errors: tuple[int, ...] = ()
    notes: str = ""


OBJECT: Schema = {"type": "object"}
NAME = Param("name", "path", "The function's name (or ARN, with an optional :qualifier).")
LIMIT = Param("limit", "query", "How many to return at most.", {"type": "string"})
# Every method a function URL answers: the function decides what each one means.
FUNCTION_URL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _list_of(key: str) -> Schema:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": {"type": "object"}}},
    }


def _strings(*names: str, required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "required": list(required),
        "properties": {name: {"type": "string"} for name in names},
    }


# The CloudWatch Logs operations faas/gateway/logs_api.py answers (by X-Amz-Target).
LOGS_OPERATIONS = (
    "DeleteLogGroup",
    "DeleteRetentionPolicy",
    "DescribeLogGroups",
    "DescribeLogStreams",
    "FilterLogEvents",
    "GetLogEvents",
    "PutRetentionPolicy",
)
KEY_BODY = _strings("Name", "Policy", required=("Name",))
# 503 ServiceException: the server is stopping, or cannot start a worker right now.
INVOKE_ERRORS = (503,)

LAMBDA_ROUTES: tuple[RouteDoc, ...] = (
    RouteDoc(
        "POST",
        "/2015-03-31/functions/{name}/invocations",
        "Invoke",
        "Invoke",
        "Invoke a function",
        "lambda:Invoke",
        server_errors=INVOKE_ERRORS,
        also_success=(202, 204),
        notes="The body is the event; the answer is the function's result (202 with no body "
        "for `X-Amz-Invocation-Type: Event`, 204 for `DryRun`). A function's own error, a "
        "timeout included, is a 200 with `X-Amz-Function-Error`; 503 while the server stops "
        "or cannot start a worker.",
    ),
    RouteDoc(
        "POST",
        "/2014-11-13/functions/{name}/invoke-async",
        "InvokeAsync",
        "Invoke",
        "Queue an asynchronous invocation (deprecated API)",
        "lambda:InvokeAsync",
    ),
    RouteDoc(
        "POST",
        "/2014-11-13/functions/{name}/invoke-async/",
        "InvokeAsyncTrailingSlash",
        "Invoke",
        "InvokeAsync, with the trailing slash botocore sends",
        "lambda:InvokeAsync",
    ),
    RouteDoc(
        "POST",
        "/2015-03-31/functions",
        "CreateFunction",
        "Functions",
        "Create a function",
        "lambda:CreateFunction",
    ),
    RouteDoc(
        "GET",
        "/2015-03-31/functions",
        "ListFunctions",
        "Functions",
        "List functions",
        "lambda:ListFunctions",
    ),
    RouteDoc(
        "GET",
        "/2015-03-31/functions/",
        "ListFunctionsTrailingSlash",
        "Functions",
        "ListFunctions, with a trailing slash",
        "lambda:ListFunctions",
    ),
    RouteDoc(
        "GET",
        "/2015-03-31/functions/{name}",
        "GetFunction",
        "Functions",
        "A function's configuration and code location",
        "lambda:GetFunction",
    ),
    RouteDoc(
        "GET",
        "/2015-03-31/functions/{name}/configuration",
        "GetFunctionConfiguration",
        "Functions",
        "A function's configuration",
        "lambda:GetFunctionConfiguration",
    ),
    RouteDoc(
        "PUT",
        "/2015-03-31/functions/{name}/code",
        "UpdateFunctionCode",
        "Functions",
        "Replace a function's code",
        "lambda:UpdateFunctionCode",
    ),
    RouteDoc(
        "PUT",
        "/2015-03-31/functions/{name}/configuration",
        "UpdateFunctionConfiguration",
        "Functions",
        "Change a function's configuration",
        "lambda:UpdateFunctionConfiguration",
    ),
    RouteDoc(
        "DELETE",
        "/2015-03-31/functions/{name}",
        "DeleteFunction",
        "Functions",
        "Delete a function (or one of its versions)",
        "lambda:DeleteFunction",
    ),
    RouteDoc(
        "POST",
        "/2015-03-31/functions/{name}/versions",
        "PublishVersion",
        "Versions and aliases",
        "Publish a version",
        "lambda:PublishVersion",
    ),
    RouteDoc(
        "GET",
        "/2015-03-31/functions/{name}/versions",
        "ListVersionsByFunction",
        "Versions and aliases",
        "List a function's versions",
        "lambda:ListVersionsByFunction",
    ),
    RouteDoc(
        "POST",
        "/2015-03-31/functions/{name}/aliases",
        "CreateAlias",
        "Versions and aliases",
        "Create an alias",
        "lambda:CreateAlias",
    ),
    RouteDoc(
        "GET",
        "/2015-03-31/functions/{name}/aliases",
        "ListAliases",
        "Versions and aliases",
        "List a function's aliases",
        "lambda:ListAliases",
    ),
    RouteDoc(
        "GET",
        "/2015-03-31/functions/{name}/aliases/{alias}",
        "GetAlias",
        "Versions and aliases",
        "An alias",
        "lambda:GetAlias",
    ),
    RouteDoc(
        "PUT",
        "/2015-03-31/functions/{name}/aliases/{alias}",
        "UpdateAlias",
        "Versions and aliases",
        "Change an alias",
        "lambda:UpdateAlias",
    ),
    RouteDoc(
        "DELETE",
        "/2015-03-31/functions/{name}/aliases/{alias}",
        "DeleteAlias",
        "Versions and aliases",
        "Delete an alias",
        "lambda:DeleteAlias",
    ),
    RouteDoc(
        "GET",
        "/2018-10-31/layers",
        "ListLayers",
        "Layers",
        "List layers (with `?find=LayerVersion&Arn=...`: GetLayerVersionByArn)",
        "lambda:ListLayers",
    ),
    RouteDoc(
        "POST",
        "/2018-10-31/layers/{layer}/versions",
        "PublishLayerVersion",
        "Layers",
        "Publish a layer version",
        "lambda:PublishLayerVersion",
    ),
    RouteDoc(
        "GET",
        "/2018-10-31/layers/{layer}/versions",
        "ListLayerVersions",
        "Layers",
        "List a layer's versions",
        "lambda:ListLayerVersions",
    ),
    RouteDoc(
        "GET",
        "/2018-10-31/layers/{layer}/versions/{version}",
        "GetLayerVersion",
        "Layers",
        "A layer version",
        "lambda:GetLayerVersion",
    ),
    RouteDoc(
        "DELETE",
        "/2018-10-31/layers/{layer}/versions/{version}",
        "DeleteLayerVersion",
        "Layers",
        "Delete a layer version",
        "lambda:DeleteLayerVersion",
    ),
    RouteDoc(
        "POST",
        "/2018-10-31/layers/{layer}/versions/{version}/policy",
        "AddLayerVersionPermission",
        "Layers",
        "Grant use of a layer version",
        "lambda:AddLayerVersionPermission",
    ),
    RouteDoc(
        "GET",
        "/2018-10-31/layers/{layer}/versions/{version}/policy",
        "GetLayerVersionPolicy",
        "Layers",
        "A layer version's policy",
        "lambda:GetLayerVersionPolicy",
    ),
    RouteDoc(
        "DELETE",
        "/2018-10-31/layers/{layer}/versions/{version}/policy/{statement_id}",
        "RemoveLayerVersionPermission",
        "Layers",
        "Revoke a layer version grant",
        "lambda:RemoveLayerVersionPermission",
    ),
    RouteDoc(
        "PUT",
        "/2017-10-31/functions/{name}/concurrency",
        "PutFunctionConcurrency",
        "Concurrency",
        "Reserve concurrency",
        "lambda:PutFunctionConcurrency",
    ),
    RouteDoc(
        "GET",
        "/2019-09-30/functions/{name}/concurrency",
        "GetFunctionConcurrency",
        "Concurrency",
        "A function's reserved concurrency",
        "lambda:GetFunctionConcurrency",
    ),
    RouteDoc(
        "DELETE",
        "/2017-10-31/functions/{name}/concurrency",
        "DeleteFunctionConcurrency",
        "Concurrency",
        "Release reserved concurrency",
        "lambda:DeleteFunctionConcurrency",
    ),
    RouteDoc(
        "PUT",
        "/2019-09-30/functions/{name}/provisioned-concurrency",
        "PutProvisionedConcurrencyConfig",
        "Concurrency",
        "Keep workers provisioned",
        "lambda:PutProvisionedConcurrencyConfig",
    ),
    RouteDoc(
        "GET",
        "/2019-09-30/functions/{name}/provisioned-concurrency",
        "GetProvisionedConcurrencyConfig",
        "Concurrency",
        "A provisioned-concurrency config (with `?List=ALL`: ListProvisionedConcurrencyConfigs)",
        "lambda:GetProvisionedConcurrencyConfig",
    ),
    RouteDoc(
        "DELETE",
        "/2019-09-30/functions/{name}/provisioned-concurrency",
        "DeleteProvisionedConcurrencyConfig",
        "Concurrency",
        "Stop provisioning",
        "lambda:DeleteProvisionedConcurrencyConfig",
    ),
    RouteDoc(
        "PUT",
        "/2019-09-25/functions/{name}/event-invoke-config",
        "PutFunctionEventInvokeConfig",
        "Asynchronous invocation",
        "Set retries, event age and destinations",
        "lambda:PutFunctionEventInvokeConfig",
    ),
    RouteDoc(
        "POST",
        "/2019-09-25/functions/{name}/event-invoke-config",
        "UpdateFunctionEventInvokeConfig",
        "Asynchronous invocation",
        "Change retries, event age and destinations",
        "lambda:UpdateFunctionEventInvokeConfig",
    ),
    RouteDoc(
        "GET",
        "/2019-09-25/functions/{name}/event-invoke-config",
        "GetFunctionEventInvokeConfig",
        "Asynchronous invocation",
        "A function's asynchronous invocation settings",
        "lambda:GetFunctionEventInvokeConfig",
    ),
    RouteDoc(
        "DELETE",
        "/2019-09-25/functions/{name}/event-invoke-config",
        "DeleteFunctionEventInvokeConfig",
        "Asynchronous invocation",
        "Forget a function's asynchronous invocation settings",
        "lambda:DeleteFunctionEventInvokeConfig",
    ),
    RouteDoc(
        "GET",
        "/2019-09-25/functions/{name}/event-invoke-config/list",
        "ListFunctionEventInvokeConfigs",
        "Asynchronous invocation",
        "List a function's asynchronous invocation settings",
        "lambda:ListFunctionEventInvokeConfigs",
    ),
    RouteDoc(
        "PUT",
        "/2024-08-31/functions/{name}/recursion-config",
        "PutFunctionRecursionConfig",
        "Functions",
        "Allow or stop recursive loops",
        "lambda:PutFunctionRecursionConfig",
    ),
    RouteDoc(
        "GET",
        "/2024-08-31/functions/{name}/recursion-config",
        "GetFunctionRecursionConfig",
        "Functions",
        "A function's recursive-loop setting",
        "lambda:GetFunctionRecursionConfig",
    ),
    RouteDoc(
        "POST",
        "/2017-03-31/tags/{resource}",
        "TagResource",
        "Permissions and tags",
        "Tag a function",
        "lambda:TagResource",
    ),
    RouteDoc(
        "DELETE",
        "/2017-03-31/tags/{resource}",
        "UntagResource",
        "Permissions and tags",
        "Remove tags",
        "lambda:UntagResource",
    ),
    RouteDoc(
        "GET",
        "/2017-03-31/tags/{resource}",
        "ListTags",
        "Permissions and tags",
        "A function's tags",
        "lambda:ListTags",
    ),
    RouteDoc(
        "GET",
        "/2016-08-19/account-settings",
        "GetAccountSettings",
        "Account",
        "Limits and usage",
        "lambda:GetAccountSettings",
    ),
    RouteDoc(
        "POST",
        "/2015-03-31/functions/{name}/policy",
        "AddPermission",
        "Permissions and tags",
        "Grant a function's use through its resource policy",
        "lambda:AddPermission",
    ),
    RouteDoc(
        "GET",
        "/2015-03-31/functions/{name}/policy",
        "GetPolicy",
        "Permissions and tags",
        "A function's resource policy",
        "lambda:GetPolicy",
    ),
    RouteDoc(
        "DELETE",
        "/2015-03-31/functions/{name}/policy/{statement_id}",
        "RemovePermission",
        "Permissions and tags",
        "Revoke a resource-policy statement",
        "lambda:RemovePermission",
    ),
    RouteDoc(
        "POST",
        "/2021-10-31/functions/{name}/url",
        "CreateFunctionUrlConfig",
        "Function URLs",
        "Give a function a URL",
        "lambda:CreateFunctionUrlConfig",
    ),
    RouteDoc(
        "GET",
        "/2021-10-31/functions/{name}/url",
        "GetFunctionUrlConfig",
        "Function URLs",
        "A function's URL",
        "lambda:GetFunctionUrlConfig",
    ),
    RouteDoc(
        "PUT",
        "/2021-10-31/functions/{name}/url",
        "UpdateFunctionUrlConfig",
        "Function URLs",
        "Change a function's URL",
        "lambda:UpdateFunctionUrlConfig",
    ),
    RouteDoc(
        "DELETE",
        "/2021-10-31/functions/{name}/url",
        "DeleteFunctionUrlConfig",
        "Function URLs",
        "Remove a function's URL",
        "lambda:DeleteFunctionUrlConfig",
    ),
    RouteDoc(
        "GET",
        "/2021-10-31/functions/{name}/urls",
        "ListFunctionUrlConfigs",
        "Function URLs",
        "List a function's URLs",
        "lambda:ListFunctionUrlConfigs",
    ),
    RouteDoc(
        "POST",
        "/",
        "CloudWatchLogs",
        "CloudWatch Logs",
        "CloudWatch Logs JSON API: one operation per `X-Amz-Target`",
        "logs:*",
        signing=Signing.LOGS,
        notes="OpenAPI gives one operation per method and path, so the CloudWatch Logs "
        "operations share this one: `X-Amz-Target: Logs_20140328.<Operation>` says which, "
        "and the body is that operation's input.",
    ),
)

FUNCTION_URL_ROUTES: tuple[RouteDoc, ...] = tuple(
    RouteDoc(
        method,
        path,
        f"InvokeFunctionUrl{method.title()}{suffix}",
        "Function URLs",
        f"{method} on a function URL: the function answers (HTTP API payload 2.0)",
        signing=Signing.FUNCTION_URL,
        response={},
        response_type="*/*",
        server_errors=(502,),
        params=(
            Param("url_id", "path", "The URL's id."),
            *(
                (Param("tail", "path", "The rest of the path, given to the function."),)
                * bool(suffix)
            ),
        ),
    )
    for method in FUNCTION_URL_METHODS
    for path, suffix in (("/urls/{url_id}", ""), ("/urls/{url_id}/{tail}", "Path"))
)

FAAS_ROUTES: tuple[RouteDoc, ...] = (
    RouteDoc(
        "GET",
        "/health",
        "GetHealth",
        "faas: platform",
        "Whether the server is up; a signed caller allowed faas:GetHealth gets the full report",
        signing=Signing.OPTIONAL,
        response={"type": "object", "required": ["status"], "properties": {"status": {}}},
    ),
    RouteDoc(
        "GET",
        "/faas/v1/openapi.json",
        "GetOpenApi",
        "faas: platform",
        "This description",
        signing=Signing.NONE,
        response=OBJECT,
    ),
    RouteDoc(
        "GET",
        "/metrics",
        "GetMetrics",
        "faas: platform",
        "Prometheus metrics (text format)",
        signing=Signing.METRICS,
        response={"type": "string"},
        response_type="text/plain",
    ),
    RouteDoc(
        "GET",
        "/faas/v1/invocations",
        "ListInvocations",
        "faas: records",
        "Recent invocation records",
        response=_list_of("Invocations"),
        params=(Param("function", "query", "Only this function's records."), LIMIT),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/code/{sha256}",
        "GetCode",
        "faas: platform",
        "A function's code zip (the presigned Code.Location of GetFunction)",
        response={"type": "string", "format": "binary"},
        response_type="application/zip",
        params=(Param("sha256", "path", "The zip's SHA-256."),),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/code/layers/{layer}/{version}",
        "GetLayerVersionContent",
        "faas: platform",
        "A layer version's zip (the presigned Content.Location of GetLayerVersion)",
        response={"type": "string", "format": "binary"},
        response_type="application/zip",
        params=(
            Param("layer", "path", "The layer's name."),
            Param("version", "path", "The version number."),
        ),
    ),
    RouteDoc(
        "POST",
        "/faas/v1/backup",
        "Backup",
        "faas: platform",
        "A consistent copy of this node, streamed as a tar",
        response={"type": "string", "format": "binary"},
        response_type="application/x-tar",
    ),
    RouteDoc(
        "GET",
        "/faas/v1/functions/{name}/dead-letters",
        "ListDeadLetters",
        "Asynchronous invocation",
        "Events that ran out of retries",
        response=_list_of("DeadLetters"),
        params=(NAME, LIMIT),
    ),
    RouteDoc(
        "POST",
        "/faas/v1/functions/{name}/dead-letters/redrive",
        "RedriveDeadLetters",
        "Asynchronous invocation",
        "Queue dead letters again",
        request={"type": "object", "properties": {"RequestIds": {"type": "array"}}},
        response=OBJECT,
        params=(NAME,),
    ),
    RouteDoc(
        "DELETE",
        "/faas/v1/functions/{name}/dead-letters",
        "DeleteDeadLetters",
        "Asynchronous invocation",
        "Drop dead letters",
        request={"type": "object", "properties": {"RequestIds": {"type": "array"}}},
        response=OBJECT,
        params=(NAME,),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/buckets",
        "ListBuckets",
        "faas: events",
        "File-watch buckets",
        response=_list_of("Buckets"),
    ),
    RouteDoc(
        "POST",
        "/faas/v1/buckets",
        "CreateBucket",
        "faas: events",
        "Register a directory of the server as a bucket",
        success=201,
        request={
            **_strings("Name", "Path", required=("Name", "Path")),
            "properties": {
                "Name": {"type": "string"},
                "Path": {"type": "string"},
                "Writable": {"type": "boolean"},
            },
        },
        response=OBJECT,
    ),
    RouteDoc(
        "DELETE",
        "/faas/v1/buckets/{name}",
        "DeleteBucket",
        "faas: events",
        "Forget a bucket (its files stay)",
        success=204,
        params=(Param("name", "path", "The bucket's name."),),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/triggers",
        "ListTriggers",
        "faas: events",
        "Bucket triggers and schedules",
        response=_list_of("Triggers"),
    ),
    RouteDoc(
        "POST",
        "/faas/v1/triggers",
        "CreateTrigger",
        "faas: events",
        "Invoke a function on files landing in a bucket, or on a schedule",
        success=201,
        request=_strings(
            "FunctionName", "Bucket", "Prefix", "Suffix", "Schedule", required=("FunctionName",)
        ),
        response=OBJECT,
    ),
    RouteDoc(
        "DELETE",
        "/faas/v1/triggers/{id}",
        "DeleteTrigger",
        "faas: events",
        "Remove a trigger",
        success=204,
        params=(Param("id", "path", "The trigger's id."),),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/functions/{name}/stats",
        "GetFunctionStats",
        "faas: records",
        "Invocations, errors, cold starts, duration percentiles and cost",
        response=OBJECT,
        params=(NAME, Param("since", "query", "Seconds back from now.")),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/billing",
        "GetBilling",
        "faas: records",
        "A month's bill",
        response=OBJECT,
        params=(
            Param("month", "query", "YYYY-MM (this month by default)."),
            Param("function", "query", "Only this function."),
            Param("group-by", "query", "`tag:<key>`: lines per value of that tag."),
        ),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/logs/{name}",
        "GetFunctionLogs",
        "faas: records",
        "A page of a function's log events",
        response=OBJECT,
        params=(
            NAME,
            Param("since", "query", "Milliseconds since the epoch."),
            Param("filter", "query", "A CloudWatch filter pattern."),
            Param("request-id", "query", "One invocation's lines."),
            Param("token", "query", "Where the page starts."),
            LIMIT,
        ),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/logs/{name}/follow",
        "FollowFunctionLogs",
        "faas: records",
        "A function's log events as they come (newline-delimited JSON, kept open)",
        response={"type": "string"},
        response_type="application/x-ndjson",
        params=(
            NAME,
            Param("since", "query", "Milliseconds since the epoch."),
            Param("filter", "query", "A CloudWatch filter pattern."),
        ),
    ),
    RouteDoc(
        "POST",
        "/faas/v1/keys",
        "CreateKey",
        "faas: access",
        "Create an access key (its secret is shown once)",
        success=201,
        request=KEY_BODY,
        response=OBJECT,
    ),
    RouteDoc("GET", "/faas/v1/keys", "ListKeys", "faas: access", "Access keys", response=OBJECT),
    RouteDoc(
        "DELETE",
        "/faas/v1/keys/{name}",
        "DeleteKey",
        "faas: access",
        "Delete an access key",
        success=204,
        params=(Param("name", "path", "The key's name."),),
    ),
    RouteDoc(
        "POST",
        "/faas/v1/keys/{name}/rotate",
        "RotateKey",
        "faas: access",
        "A new secret for a key",
        response=OBJECT,
        params=(Param("name", "path", "The key's name."),),
    ),
    RouteDoc(
        "POST",
        "/faas/v1/roles",
        "CreateRole",
        "faas: access",
        "Create an execution role",
        success=201,
        request=KEY_BODY,
        response=OBJECT,
    ),
    RouteDoc("GET", "/faas/v1/roles", "ListRoles", "faas: access", "Roles", response=OBJECT),
    RouteDoc(
        "DELETE",
        "/faas/v1/roles/{name}",
        "DeleteRole",
        "faas: access",
        "Delete a role",
        success=204,
        params=(Param("name", "path", "The role's name."),),
    ),
    RouteDoc(
        "GET",
        "/faas/v1/audit",
        "ListAuditEvents",
        "faas: access",
        "Audited management calls and refusals",
        response=_list_of("AuditEvents"),
    ),
)

ROUTE_DOCS: tuple[RouteDoc, ...] = LAMBDA_ROUTES + FUNCTION_URL_ROUTES + FAAS_ROUTES
