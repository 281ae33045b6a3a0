"""The API description against a real server: it describes every route and nothing else, the
API reference in docs/ is rendered from it, and a schemathesis fuzz run over it (requests
signed by botocore's SigV4 signer) finds no 5xx, only Lambda-shaped errors, and answers that
match the documented schemas.

Bounded: FAAS_FUZZ_EXAMPLES examples per operation and mode (positive and negative data),
no shrinking, a deadline per request; the whole run takes well under a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from faas.cli.api_reference import render_markdown
from faas.gateway.openapi import LOGS_CONTENT_TYPE, undocumented
from faas.gateway.openapi_routes import LOGS_OPERATIONS, ROUTE_DOCS
from tests.helpers.server import REGION, FaasServer

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
MAX_EXAMPLES = int(os.environ.get("FAAS_FUZZ_EXAMPLES", "3"))
DEADLINE_MS = 10_000
MAX_MESSAGE = 1500
# aiohttp's HTTP parser refuses a request line or header field longer than this in plain
# text, before any route (and so before the Lambda error mapping) sees the request.
MAX_HTTP_LINE = 8190
# Server errors the description allows where it documents them (Invoke while stopping...).
DOCUMENTED_SERVER_ERRORS = frozenset({502, 503, 504})
# Left out of the fuzz run, each with its reason.
EXCLUDED = {
    # Both register any existing directory of the server (`/` included) for file watching
    # or mounting: a fuzzed `/` would have the server watch the whole test machine.
    "CreateBucket": "registers host directories",
    "CreateTrigger": "watches host directories",
    # Streams a copy of the whole data directory (tens of MB, seconds each) and takes no
    # parameters: nothing to fuzz, only time to spend.
    "Backup": "takes no input",
    # Kept open by design until the client leaves: each example would wait for its timeout.
    "FollowFunctionLogs": "a stream that stays open",
}
# One handler serves a function URL whatever the method: GET and POST stand for the others.
FUZZED_URL_METHODS = ("GET", "POST")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("openapi") / "data")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def document(server: FaasServer) -> dict[str, Any]:
    # Unsigned: the description is served to anyone.
    with urllib.request.urlopen(server.url + "/faas/v1/openapi.json", timeout=10) as answer:
        return dict(json.load(answer))


def test_every_route_is_described_and_every_description_is_a_route(
    document: dict[str, Any],
) -> None:
    assert undocumented(document) == []
    served = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    }
    described = {doc.operation_id for doc in ROUTE_DOCS}
    assert described - served == set(), "descriptions of routes the server does not serve"


def test_the_logs_targets_described_are_the_ones_answered(server: FaasServer) -> None:
    signed = SignedSession(server)
    for name in (*LOGS_OPERATIONS, "PutLogEvents"):
        answer = signed.post(
            server.url + "/",
            data=b"{}",
            headers={
                "X-Amz-Target": f"Logs_20140328.{name}",
                "Content-Type": "application/x-amz-json-1.1",
            },
            timeout=10,
        )
        unknown = answer.headers.get("X-Amzn-ErrorType") == "UnknownOperationException"
        assert unknown == (name not in LOGS_OPERATIONS), (name, answer.text)


def test_the_api_reference_is_rendered_from_the_description(document: dict[str, Any]) -> None:
    assert API_DOC.read_text() == render_markdown(document), (
        "docs/api.md is out of date: with a server running, "
        "`faas --url URL api-reference > docs/api.md`"
    )


class SignedSession(requests.Session):
    """A requests session whose every request botocore signs with the server's admin key:
    for the service `logs` on the CloudWatch Logs endpoint, `lambda` everywhere else."""

    def __init__(self, server: FaasServer) -> None:
        super().__init__()
        key = server.admin_key
        self.credentials = Credentials(key.access_key_id, key.secret)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        service = "logs" if request.method == "POST" and urlsplit(url).path == "/" else "lambda"
        body = request.body or b""
        aws = AWSRequest(
            method=request.method,
            url=url,
            data=body.encode() if isinstance(body, str) else body,
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
        )
        SigV4Auth(self.credentials, service, REGION).add_auth(aws)
        request.headers.update(dict(aws.headers.items()))
        return super().send(request, **kwargs)


@schemathesis.check
def lambda_shaped_errors(ctx: Any, response: schemathesis.Response, case: Any) -> bool | None:
    """A 4xx or 5xx of the platform (not a function's own, behind a function URL) carries
    X-Amzn-ErrorType and a JSON body {Type, Message, message} or, from CloudWatch Logs'
    own errors, {__type, message}."""
    if response.status_code < 400 or case.operation.path.startswith("/urls/"):
        return None
    if _refused_by_http_parser(response):
        return None
    assert response.headers.get("x-amzn-errortype"), "no X-Amzn-ErrorType header"
    body = json.loads(response.content)
    lambda_shape = {"Type", "Message", "message"} <= body.keys()
    logs_shape = {"__type", "message"} <= body.keys()
    assert lambda_shape or logs_shape, f"not Lambda's error shape: {body}"
    return True


def _refused_by_http_parser(response: schemathesis.Response) -> bool:
    request = response.request
    line = f"{request.method} {request.path_url} HTTP/1.1"
    fields = [f"{name}: {value}" for name, value in request.headers.items()]
    too_long = max(len(text.encode()) for text in [line, *fields]) > MAX_HTTP_LINE
    return too_long and response.status_code in (400, 431)


@schemathesis.check
def no_undocumented_server_error(
    ctx: Any, response: schemathesis.Response, case: Any
) -> bool | None:
    """No 5xx, except a 502/503/504 the operation documents."""
    status = response.status_code
    if status < 500:
        return None
    documented = case.operation.definition.raw.get("responses", {})
    assert status in DOCUMENTED_SERVER_ERRORS and str(status) in documented, (
        f"{status}: {response.content[:500]!r}"
    )
    return True


# The CloudWatch Logs body is JSON under its own media type.
schemathesis.serializer.alias(LOGS_CONTENT_TYPE, "application/json")

CHECKS = [
    no_undocumented_server_error,
    lambda_shaped_errors,
    status_code_conformance,
    response_schema_conformance,
]


def test_fuzzed_requests_get_documented_answers(
    server: FaasServer, document: dict[str, Any]
) -> None:
    schema = schemathesis.openapi.from_dict(document)
    session = SignedSession(server)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().definition.raw.get("operationId") not in EXCLUDED
        and (
            not result.ok().path.startswith("/urls/")
            or result.ok().method.upper() in FUZZED_URL_METHODS
        )
    ]
    assert len(operations) > 50
    failures: list[str] = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            failures.extend(_fuzz(operation, mode, server.url, session))
    assert failures == [], "\n".join(failures)


def _fuzz(operation: Any, mode: Any, url: str, session: requests.Session) -> list[str]:
    found: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=DEADLINE_MS,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=url, session=session, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as failure:  # schemathesis: a group
            found.append(f"{operation.label} ({mode.value}): {str(failure)[:MAX_MESSAGE]}")

    # Unsatisfiable: negative data for an operation that takes nothing to get wrong.
    with contextlib.suppress(Unsatisfiable):
        run()
    return found[:3]
