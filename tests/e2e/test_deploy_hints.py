"""Deploy-time hints: accepted as Lambda accepts them, but the deployer is told."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

from tests.helpers.server import FaasServer, make_zip

HELLO = "def handler(event, context):\n    return {'ok': True}\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_zip(path: Path, files: dict[str, str]) -> Path:
    path.write_bytes(make_zip(files))
    return path


def test_a_module_in_a_subfolder_is_deployed_with_a_warning(
    server: FaasServer, tmp_path: Path
) -> None:
    name = unique("hint-subfolder")
    code = write_zip(tmp_path / "fn.zip", {"hello/app.py": HELLO})

    deployed = server.cli("deploy", str(code), "--name", name, "--handler", "app.handler")

    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.startswith(f"deployed {name} (created)")
    assert deployed.stderr.splitlines() == [
        "warning: app.py is not at the root of the zip; found hello/app.py (zip the contents "
        "of hello/, not the folder itself, or set the handler to hello.app.<function>)"
    ]
    failed = server.cli("invoke", name)
    assert failed.returncode == 1
    assert "found hello/app.py" in failed.stderr


def test_an_empty_directory_and_a_file_name_handler_are_deployed_with_warnings(
    server: FaasServer, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    deployed = server.cli("deploy", str(empty), "--name", unique("hint-empty"), "--handler", "a.b")
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stderr.startswith("warning: the code is empty")

    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HELLO)
    as_file = server.cli("deploy", str(code), "--name", unique("hint-py"), "--handler", "app.py")
    assert as_file.returncode == 0, as_file.stderr
    assert as_file.stderr == (
        "warning: the handler 'app.py' looks like a file name: a handler is module.function "
        "(for a def handler in app.py: app.handler)\n"
    )


def test_good_code_gets_no_warning_and_boto3_ignores_the_field(
    server: FaasServer, lambda_api: Any, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HELLO)
    name = unique("hint-none")
    deployed = server.cli("--json", "deploy", str(code), "--name", name, "--handler", "app.h")
    assert deployed.returncode == 0 and deployed.stderr == ""
    assert "FaasWarnings" not in json.loads(deployed.stdout)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("src/app.py", HELLO)
    created = lambda_api.create_function(
        FunctionName=unique("hint-boto3"),
        Runtime=server.health()["runtimes"][0],
        Role="arn:aws:iam::000000000000:role/test",
        Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    assert created["State"] == "Active"  # the extra field does not trouble boto3
    assert "FaasWarnings" not in created  # ...which does not model it
    fixed = lambda_api.update_function_configuration(
        FunctionName=created["FunctionName"], Handler="src.app.handler"
    )
    assert fixed["Handler"] == "src.app.handler"
