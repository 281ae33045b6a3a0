"""The AWS SDK functions get without shipping it, as on Lambda: boto3 for Python functions,
from a read-only runtime tree kept apart from the platform's packages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore
import pytest

from tests.e2e.test_execution_roles import (
    CALLEE,
    CALLER,
    INVOKE_ALLOWED_ONLY,
    create_role,
    deploy_caller,
)
from tests.helpers.server import FaasServer, make_zip

WHICH = """
import importlib.util
import os
import sys

import boto3
import botocore

def handler(event, context):
    return {
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "file": boto3.__file__,
        "aiohttp": importlib.util.find_spec("aiohttp") is not None,
        "sqlalchemy": importlib.util.find_spec("sqlalchemy") is not None,
        "path": sys.path,
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
    }
"""
OWN_COPY = {
    "app.py": "import boto3\n\ndef handler(event, context):\n    return boto3.__version__\n",
    "boto3/__init__.py": "__version__ = 'the function s own'\n",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("sdk") / "data")
    try:
        yield started
    finally:
        started.stop()


def test_a_function_imports_the_sdk_it_did_not_ship(server: FaasServer) -> None:
    server.deploy("which-sdk", {"app.py": WHICH})
    response, answer = server.invoke("which-sdk", {})
    assert "FunctionError" not in response, answer
    assert (answer["boto3"], answer["botocore"]) == (boto3.__version__, botocore.__version__)
    # From the runtime tree, not from the platform's own packages, which stay out of sight.
    platform_packages = str(Path(boto3.__file__).resolve().parent.parent)
    assert not answer["file"].startswith(platform_packages), answer["file"]
    assert (answer["aiohttp"], answer["sqlalchemy"]) == (False, False)
    # After the function's own code: its copy would win.
    sdk_dir = str(Path(answer["file"]).parent.parent)
    assert answer["path"][0] == answer["task_root"]
    assert sdk_dir in answer["path"][1:]


def test_a_functions_own_copy_wins(server: FaasServer) -> None:
    server.deploy("own-sdk", OWN_COPY)
    _, answer = server.invoke("own-sdk", {})
    assert answer == "the function s own"


def test_doctor_shows_the_sdk(server: FaasServer) -> None:
    shown = server.cli("doctor")
    assert shown.returncode == 0, shown.stderr
    assert f"AWS SDK for python functions: boto3 {boto3.__version__}" in shown.stdout
    offered = server.health()["runtimes"]
    assert f"runtimes offered: {', '.join(offered)}" in shown.stdout
    assert "provided.al2023" in offered


def test_a_function_calls_the_api_with_its_execution_credentials(server: FaasServer) -> None:
    for name in ("allowed", "forbidden"):
        server.deploy(name, {"app.py": CALLEE})
    role_arn = create_role(server, "sdk-invoker", INVOKE_ALLOWED_ONLY)
    deploy_caller(server, make_zip({"app.py": CALLER}), role_arn, name="sdk-caller")
    response, seen = server.invoke("sdk-caller", {"targets": ["allowed", "forbidden"]})
    assert "FunctionError" not in response, seen
    assert seen["allowed"] == {"callee got": {"from": "caller"}}
    assert seen["forbidden"] == "AccessDeniedException"
