"""Naming the Lambda operation of a method, raw path and query."""

from __future__ import annotations

import pytest

from faas.gateway.lambda_operations import OPERATIONS
from faas.gateway.operations import OperationMatcher

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
ENCODED_ARN = ARN.replace(":", "%3A")
FUNCTIONS = "/2015-03-31/functions"
PROVISIONED = "/2019-09-30/functions/fn/provisioned-concurrency"
LONG_NAME = "a" * 100_000

LAMBDA_CASES = [
    # method, raw path, query, operation (None: no Lambda operation)
    ("POST", f"{FUNCTIONS}/fn/versions", {}, "PublishVersion"),
    ("GET", f"{FUNCTIONS}/fn/versions", {}, "ListVersionsByFunction"),
    ("GET", f"{FUNCTIONS}/{ARN}/versions", {}, "ListVersionsByFunction"),
    ("GET", f"{FUNCTIONS}/{ENCODED_ARN}/policy", {}, "GetPolicy"),
    ("GET", f"{FUNCTIONS}/{ENCODED_ARN}:live/aliases", {}, "ListAliases"),
    ("DELETE", f"{FUNCTIONS}/fn/policy/statement-1", {}, "RemovePermission"),
    ("GET", f"{FUNCTIONS}/fn/aliases/live", {}, "GetAlias"),
    ("POST", f"{FUNCTIONS}/fn/invocations", {}, "Invoke"),
    ("GET", "/2016-08-19/account-settings", {}, "GetAccountSettings"),
    # An encoded slash stays inside its segment; a real one starts another segment.
    ("GET", f"{FUNCTIONS}/a%2Fb/policy", {}, "GetPolicy"),
    ("GET", f"{FUNCTIONS}/a/b/policy", {}, None),
    # A query literal tells two operations on one method and path apart.
    ("GET", PROVISIONED, {"List": "ALL"}, "ListProvisionedConcurrencyConfigs"),
    ("GET", PROVISIONED, {"List": "ALL", "MaxItems": "5"}, "ListProvisionedConcurrencyConfigs"),
    ("GET", PROVISIONED, {"Qualifier": "$LATEST"}, "GetProvisionedConcurrencyConfig"),
    ("GET", PROVISIONED, {"List": "SOME"}, "GetProvisionedConcurrencyConfig"),
    ("GET", "/2018-10-31/layers", {"find": "LayerVersion", "Arn": "x"}, "GetLayerVersionByArn"),
    ("GET", "/2018-10-31/layers", {}, "ListLayers"),
    ("GET", "/2018-10-31/layers", {"find": "Other"}, "ListLayers"),
    # One trailing slash is ignored; an empty label is no label.
    ("GET", "/2018-10-31/layers/", {}, "ListLayers"),
    ("GET", f"{FUNCTIONS}/fn/aliases/", {}, "ListAliases"),
    ("GET", f"{FUNCTIONS}//aliases", {}, None),
    ("GET", f"{FUNCTIONS}/fn/aliases//", {}, None),
    # Right path, wrong method; unknown paths.
    ("PATCH", f"{FUNCTIONS}/fn", {}, None),
    ("GET", f"{FUNCTIONS}/fn/invocations", {}, None),
    ("GET", "/nope", {}, None),
    ("GET", "/", {}, None),
    ("GET", "", {}, None),
    ("GET", "/2015-03-31/functions/fn/versions/extra", {}, None),
    # Very long paths: matched (the label has no length of its own) or refused, never stuck.
    ("GET", f"{FUNCTIONS}/{LONG_NAME}/versions", {}, "ListVersionsByFunction"),
    ("GET", f"{FUNCTIONS}/{LONG_NAME}/nope", {}, None),
    ("GET", "/" + "x/" * 50_000, {}, None),
]


@pytest.mark.parametrize(("method", "raw_path", "query", "expected"), LAMBDA_CASES)
@pytest.mark.parametrize("order", ["as committed", "reversed"])
def test_lambda_requests_name_their_operation(
    method: str, raw_path: str, query: dict[str, str], expected: str | None, order: str
) -> None:
    table = OPERATIONS if order == "as committed" else tuple(reversed(OPERATIONS))
    operation = OperationMatcher(table).match(method, raw_path, query)
    assert (operation.name if operation else None) == expected


def test_a_match_carries_the_operation_s_method_and_request_uri() -> None:
    operation = OperationMatcher(OPERATIONS).match("POST", f"{FUNCTIONS}/fn/versions", {})
    assert operation is not None
    assert (operation.method, operation.request_uri) == (
        "POST",
        "/2015-03-31/functions/{FunctionName}/versions",
    )


# Lambda's model has no greedy label; this table has the shapes other services use.
OBJECTS = [
    ("GetObject", "GET", "/buckets/{Bucket}/objects/{Key+}"),
    ("GetObjectAcl", "GET", "/buckets/{Bucket}/objects/{Key+}?acl"),
    ("GetSpecialObject", "GET", "/buckets/{Bucket}/objects/special"),
    ("ListObjects", "GET", "/buckets/{Bucket}/objects"),
    ("GetObjectTail", "GET", "/buckets/{Bucket}/tails/{Key+}/tail"),
]

GREEDY_CASES = [
    ("/buckets/b/objects/key", {}, "GetObject"),
    ("/buckets/b/objects/a/b/c.txt", {}, "GetObject"),
    ("/buckets/b/objects/a%2Fb", {}, "GetObject"),
    ("/buckets/b/objects/a/b/c.txt", {"acl": ""}, "GetObjectAcl"),
    ("/buckets/b/objects/special", {}, "GetSpecialObject"),
    ("/buckets/b/objects/special/more", {}, "GetObject"),
    ("/buckets/b/objects", {}, "ListObjects"),
    ("/buckets/b/objects/", {}, "ListObjects"),
    ("/buckets/b/tails/a/b/tail", {}, "GetObjectTail"),
    ("/buckets/b/tails/tail", {}, None),
    ("/buckets/a/b/objects/key", {}, None),
]


@pytest.mark.parametrize(("raw_path", "query", "expected"), GREEDY_CASES)
@pytest.mark.parametrize("order", ["as listed", "reversed"])
def test_greedy_labels_take_several_segments_and_lose_to_literals(
    raw_path: str, query: dict[str, str], expected: str | None, order: str
) -> None:
    table = OBJECTS if order == "as listed" else list(reversed(OBJECTS))
    operation = OperationMatcher(table).match("GET", raw_path, query)
    assert (operation.name if operation else None) == expected
