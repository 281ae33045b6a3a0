"""nodejs20.x through a real server and boto3: faas's Node.js bootstrap
(runtimes/nodejs/bootstrap.js) run by the custom-runtime engine, inside the function's
sandbox, with Lambda's environment (NODE_PATH reaching a layer's packages)."""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import pytest

from tests.helpers.node_runtime import SDK_MODULES, require_node, require_node_extra
from tests.helpers.server import FaasServer, make_zip

ROLE = "arn:aws:iam::000000000000:role/test"
INDEX = """
const greet = require("greet");

console.log("init in", process.env.LAMBDA_TASK_ROOT);

exports.handler = async (event, context) => {
  console.log("handling", context.awsRequestId);
  if (event.fail) {
    throw new TypeError(event.fail);
  }
  return {
    greeting: greet(event.name),
    functionName: context.functionName,
    remainingOk: context.getRemainingTimeInMillis() > 0,
    executionEnv: process.env.AWS_EXECUTION_ENV,
    runtimeDir: process.env.LAMBDA_RUNTIME_DIR,
  };
};
"""
GREET = "module.exports = (name) => `hello ${name}`;\n"


@pytest.fixture(scope="module")
def node_function(server: FaasServer) -> str:
    require_node()
    api = server.client()
    if "nodejs20.x" not in server.health()["runtimes"]:
        pytest.fail("node is installed, so the server must offer nodejs20.x")
    layer = api.publish_layer_version(
        LayerName=f"greet-{uuid.uuid4().hex[:8]}",
        Content={"ZipFile": make_zip({"nodejs/node_modules/greet/index.js": GREET})},
    )
    name = f"node-{uuid.uuid4().hex[:10]}"
    api.create_function(
        FunctionName=name,
        Runtime="nodejs20.x",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.js": INDEX})},
        Layers=[layer["LayerVersionArn"]],
    )
    return name


def invoke(server: FaasServer, name: str, event: Any) -> tuple[dict[str, Any], Any, str]:
    response = server.client().invoke(
        FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail"
    )
    body = json.loads(response["Payload"].read())
    return response, body, base64.b64decode(response["LogResult"]).decode()


def test_a_node_handler_answers_with_a_layers_package(
    server: FaasServer, node_function: str
) -> None:
    response, body, tail = invoke(server, node_function, {"name": "node"})
    assert "FunctionError" not in response, body
    assert body == {
        "greeting": "hello node",
        "functionName": node_function,
        "remainingOk": True,
        "executionEnv": "AWS_Lambda_nodejs20.x",
        "runtimeDir": body["runtimeDir"],
    }
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"handling {request_id}" in tail
    assert "init in" in tail
    assert "Init Duration" in tail


def test_a_thrown_error_is_reported_as_lambdas_node_runtime_does(
    server: FaasServer, node_function: str
) -> None:
    response, body, tail = invoke(server, node_function, {"fail": "no name"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "TypeError"
    assert body["errorMessage"] == "no name"
    assert "no name" in tail


def test_a_missing_handler_module_fails_init(server: FaasServer) -> None:
    require_node()
    name = f"node-broken-{uuid.uuid4().hex[:8]}"
    server.client().create_function(
        FunctionName=name,
        Runtime="nodejs20.x",
        Role=ROLE,
        Handler="missing.handler",
        Code={"ZipFile": make_zip({"index.js": INDEX})},
    )
    response, body, _ = invoke(server, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"


SDK_CJS = """
const { LambdaClient, ListFunctionsCommand } = require("@aws-sdk/client-lambda");
exports.handler = async () => ({
  client: typeof LambdaClient,
  command: typeof ListFunctionsCommand,
  from: require.resolve("@aws-sdk/client-lambda"),
});
"""
SDK_ESM = """
import { S3Client } from "@aws-sdk/client-s3";
export const handler = async () => ({ client: typeof S3Client });
"""


def test_the_sdk_is_there_without_bundling_it(server: FaasServer) -> None:
    require_node()
    require_node_extra(SDK_MODULES / "@aws-sdk" / "client-lambda", "the AWS SDK for JavaScript")
    if os.geteuid() != 0:
        pytest.skip("the SDK is bound at /var/runtime/node_modules in a root host's workers")
    api = server.client()
    for name, files in (
        (f"sdk-cjs-{uuid.uuid4().hex[:8]}", {"index.js": SDK_CJS}),
        (f"sdk-esm-{uuid.uuid4().hex[:8]}", {"index.mjs": SDK_ESM}),
    ):
        api.create_function(
            FunctionName=name,
            Runtime="nodejs20.x",
            Role=ROLE,
            Handler="index.handler",
            Code={"ZipFile": make_zip(files)},
        )
        response, body, _ = invoke(server, name, {})
        assert "FunctionError" not in response, body
        assert body["client"] == "function"
        if "from" in body:
            assert body["from"].startswith("/var/runtime/node_modules/"), body
    assert server.health()["sdk"]["nodejs"].startswith("@aws-sdk/client-lambda ")
