"""The official Node.js runtime interface client (aws-lambda-ric, from npm) run unchanged as
a provided.al2023 function's bootstrap, as Lambda users run it in their own images: from a
layer at /opt, inside the function's sandbox, through faas's Runtime API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_custom_runtimes import bundle, invoke, unique
from tests.helpers.node_runtime import RIC_ENTRY, require_node, require_node_extra
from tests.helpers.server import FaasServer, make_zip

ROLE = "arn:aws:iam::000000000000:role/test"
BOOTSTRAP = "#!/bin/sh\nexec node /opt/nodejs/node_modules/aws-lambda-ric/index.mjs\n"
ORDERS = """
exports.handler = async (event, context) => {
  if (event.fail) {
    throw new TypeError(`order ${event.order} has no lines`);
  }
  const left = context.getRemainingTimeInMillis() > 0;
  return { order: event.order, function: context.functionName, left };
};
"""
# What the client needs when it runs (its build tools stay out of the layer).
RUNTIME_PACKAGES = ("aws-lambda-ric", "@aws/lambda-invoke-store")


def ric_layer_zip(node_modules: Path) -> bytes:
    files: dict[str, bytes] = {}
    for package in RUNTIME_PACKAGES:
        root = node_modules / package
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[f"nodejs/node_modules/{path.relative_to(node_modules).as_posix()}"] = (
                    path.read_bytes()
                )
    return make_zip(files)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("node-ric") / "data")
    try:
        yield started
    finally:
        started.stop()


def test_aws_lambda_ric_runs_unchanged_as_a_bootstrap(server: FaasServer) -> None:
    require_node()
    entry = require_node_extra(RIC_ENTRY, "aws-lambda-ric")
    api = server.client()
    layer = api.publish_layer_version(
        LayerName=unique("node-ric"),
        Content={"ZipFile": ric_layer_zip(entry.parent.parent)},
    )
    name = unique("ric")
    api.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": bundle({"bootstrap": BOOTSTRAP, "index.js": ORDERS})},
        Layers=[layer["LayerVersionArn"]],
        Timeout=10,
    )
    response, body, _ = invoke(server, name, {"order": 7})
    assert "FunctionError" not in response, body
    assert body == {"order": 7, "function": name, "left": True}
    response, body, _ = invoke(server, name, {"order": 8, "fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("TypeError", "order 8 has no lines")
    # The same worker serves on: the client loops on /next as on Lambda.
    response, body, _ = invoke(server, name, {"order": 9})
    assert body["order"] == 9
