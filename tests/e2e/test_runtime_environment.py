"""What a function's code can rely on inside the sandbox, through the real server."""

from __future__ import annotations

import uuid

from tests.helpers.server import FaasServer

STDLIB_AND_FILES = """
import json, os, stat

def handler(event, context):
    import subprocess, logging.handlers, email.mime.text, sqlite3, decimal
    with open("/tmp/made-by-function", "w") as made:
        made.write("x")
    mode = stat.S_IMODE(os.stat("/tmp/made-by-function").st_mode)
    echoed = subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout
    return {"mode": oct(mode), "echoed": echoed, "umask": oct(os.umask(0o022))}
"""


def test_the_whole_standard_library_and_a_normal_umask(server: FaasServer) -> None:
    name = f"stdlib-{uuid.uuid4().hex[:8]}"
    server.deploy(name, {"app.py": STDLIB_AND_FILES}, Timeout=10)
    response, body = server.invoke(name)
    assert "FunctionError" not in response, body
    assert body == {"mode": "0o644", "echoed": "hi\n", "umask": "0o22"}


BIG_RESULT = """
def handler(event, context):
    return "x" * event["size"]
"""


def test_a_result_over_6_mb_is_lambdas_response_size_error(server: FaasServer) -> None:
    name = f"big-{uuid.uuid4().hex[:8]}"
    server.deploy(name, {"app.py": BIG_RESULT}, Timeout=30, MemorySize=512)
    response, body = server.invoke(name, {"size": 7 * 1024 * 1024})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    response, body = server.invoke(name, {"size": 20 * 1024 * 1024})
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    response, body = server.invoke(name, {"size": 10})
    assert "FunctionError" not in response
    assert body == "x" * 10
