"""The official Lambda Node.js runtime interface client (aws-lambda-ric) against the test's
Runtime API, side by side with the faas bootstrap: the same function must give the same
answers through both. And the AWS SDK for JavaScript a worker offers at
/var/runtime/node_modules, imported and required through NODE_PATH.

Both come from scripts/install-node-extras.sh; without them these tests skip and say so, or
fail where FAAS_TEST_REQUIRE_NODE_RIC is set (CI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.node_runtime import (
    BOOTSTRAP,
    RIC_ENTRY,
    SDK_MODULES,
    RuntimeProcess,
    lambda_environ,
    require_node,
    require_node_extra,
    runtime_process,
    write_files,
)
from tests.helpers.runtime_api import FakeRuntimeApi, Invocation, running_runtime_api

ORDERS = """
exports.handler = async (event, context) => {
  if (event.fail) {
    throw new TypeError(`order ${event.order} has no lines`);
  }
  return { order: event.order, function: context.functionName, memory: context.memoryLimitInMB };
};
"""


@pytest.fixture(params=["faas bootstrap", "aws-lambda-ric"])
def runtime_entry(request: pytest.FixtureRequest) -> Path:
    if request.param == "aws-lambda-ric":
        return require_node_extra(RIC_ENTRY, "aws-lambda-ric")
    return BOOTSTRAP


@pytest.fixture
def api() -> Iterator[FakeRuntimeApi]:
    with running_runtime_api() as running:
        yield running


@contextmanager
def started(
    entry: Path,
    api: FakeRuntimeApi,
    tmp_path: Path,
    files: dict[str, str],
    handler: str,
    **env: str,
) -> Iterator[RuntimeProcess]:
    task_root = write_files(tmp_path / "task", files)
    environ = lambda_environ(api.address, task_root, handler, env)
    with runtime_process(
        [require_node(), str(entry)], environ, task_root, tmp_path / "logs"
    ) as running:
        yield running


def test_a_result_and_an_error_are_the_same_through_both_runtimes(
    runtime_entry: Path, api: FakeRuntimeApi, tmp_path: Path
) -> None:
    with started(runtime_entry, api, tmp_path, {"orders.js": ORDERS}, "orders.handler"):
        answered = api.invoke(Invocation(payload={"order": 7}))
        assert (answered.kind, answered.json()) == (
            "response",
            {"order": 7, "function": "greeter", "memory": "256"},
        )
        failed = api.invoke(Invocation(payload={"order": 8, "fail": True}))
        assert failed.kind == "error"
        document = failed.json()
        assert document["errorType"] == "TypeError"
        assert document["errorMessage"] == "order 8 has no lines"
        assert document["trace"][0] == "TypeError: order 8 has no lines"
        # The official client leaves Lambda-Runtime-Function-Error-Type off an invocation's
        # error (its body says it all); the bootstrap sends it, as the Runtime API documents.
        if runtime_entry == BOOTSTRAP:
            assert failed.error_type_header == "TypeError"


@pytest.mark.parametrize(
    "case",
    [
        ({}, "missing.handler", "Runtime.ImportModuleError"),
        ({"orders.js": ORDERS}, "orders.nothing", "Runtime.HandlerNotFound"),
        (
            {"orders.js": "exports.handler = async () => {;\n"},
            "orders.handler",
            "Runtime.UserCodeSyntaxError",
        ),
    ],
    ids=["missing-module", "missing-export", "syntax-error"],
)
def test_an_init_failure_is_reported_alike_by_both_runtimes(
    runtime_entry: Path, api: FakeRuntimeApi, tmp_path: Path, case: tuple[dict[str, str], str, str]
) -> None:
    files, handler, error_type = case
    with started(runtime_entry, api, tmp_path, files, handler) as running:
        posted = api.wait_posted()
        assert posted.kind == "init_error", running.stdout()
        assert posted.json()["errorType"] == error_type
        assert posted.error_type_header == error_type
        assert running.wait_exit() != 0
        assert api.next_calls == 0


def test_the_sdk_offered_at_the_runtime_directory_loads_through_node_path(
    api: FakeRuntimeApi, tmp_path: Path
) -> None:
    sdk = require_node_extra(
        SDK_MODULES / "@aws-sdk" / "client-lambda", "the AWS SDK for JavaScript"
    )
    files = {
        "esm.mjs": (
            "import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';\n"
            "import { S3Client } from '@aws-sdk/client-s3';\n"
            "export const handler = async () => {\n"
            "  const client = new LambdaClient({ region: 'eu-west-1' });\n"
            "  return [typeof InvokeCommand, typeof S3Client, await client.config.region()];\n"
            "};\n"
        ),
        "cjs.js": (
            "const { LambdaClient } = require('@aws-sdk/client-lambda');\n"
            "exports.handler = async () => [typeof LambdaClient];\n"
        ),
    }
    node_path = f"/opt/nodejs/node_modules:{sdk.parents[1]}"
    for handler, expected in [
        ("esm.handler", ["function", "function", "eu-west-1"]),
        ("cjs.handler", ["function"]),
    ]:
        with started(BOOTSTRAP, api, tmp_path / handler, files, handler, NODE_PATH=node_path):
            answered = api.invoke(Invocation())
            assert (answered.kind, answered.json()) == ("response", expected)
