"""The real `faas` command line, run as a subprocess against a real server."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.helpers.server import FaasServer, free_port, run_cli

APP_V1 = """
import os

def handler(event, context):
    return {"version": 1, "event": event, "A": os.environ.get("A"), "B": os.environ.get("B")}
"""

APP_V2 = """
def handler(event, context):
    return {"version": 2, "event": event}
"""

FAILING = """
def handler(event, context):
    raise ValueError("amount must be positive, got " + str(event.get("amount")))
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code_dir(tmp_path: Path, source: str, name: str = "code") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "app.py").write_text(source)
    return directory


def deploy(
    server: FaasServer, directory: Path, name: str, *options: str
) -> subprocess.CompletedProcess[str]:
    return server.cli(
        "deploy", str(directory), "--name", name, "--handler", "app.handler", *options
    )


def only_error_line(completed: subprocess.CompletedProcess[str]) -> str:
    """The single `error: ...` line on stderr (the CLI promises exactly one)."""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("error: "), completed.stderr
    return lines[0]


def ok(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_deploy_invoke_update_list_records_and_remove(
    server: FaasServer, lambda_api: Any, tmp_path: Path
) -> None:
    name = unique("cli")
    directory = code_dir(tmp_path, APP_V1)
    options = ("--memory", "256", "--timeout", "5", "--env", "A=1", "--env", "B=x=y")

    created = ok(deploy(server, directory, name, *options)).splitlines()
    assert len(created) == 1
    assert created[0].startswith(f"deployed {name} (created)")
    configuration = lambda_api.get_function_configuration(FunctionName=name)
    assert (configuration["MemorySize"], configuration["Timeout"]) == (256, 5)

    inline = json.loads(ok(server.cli("invoke", name, "--payload", '{"x":1}')))
    assert inline == {"version": 1, "event": {"x": 1}, "A": "1", "B": "x=y"}
    event_file = tmp_path / "event.json"
    event_file.write_text('{"from": "file"}')
    from_file = json.loads(ok(server.cli("invoke", name, "--payload", f"@{event_file}")))
    assert from_file["event"] == {"from": "file"}

    listed = ok(server.cli("ls")).splitlines()
    assert [line for line in listed if line.split()[0] == name]

    (directory / "app.py").write_text(APP_V2)
    updated = ok(deploy(server, directory, name)).splitlines()
    assert len(updated) == 1
    assert updated[0].startswith(f"deployed {name} (updated)")
    assert json.loads(ok(server.cli("invoke", name)))["version"] == 2

    records = ok(server.cli("records", name)).splitlines()
    assert records[0].startswith("REQUEST ID")
    assert len([line for line in records[1:] if name in line]) == 3

    assert ok(server.cli("rm", name)).strip() == f"deleted {name}"
    gone = server.cli("invoke", name)
    assert gone.returncode == 1
    assert only_error_line(gone).startswith("error: ResourceNotFoundException")


def test_function_error_exits_1_with_the_error_document(server: FaasServer, tmp_path: Path) -> None:
    name = unique("cli-fails")
    ok(deploy(server, code_dir(tmp_path, FAILING), name))

    failed = server.cli("invoke", name, "--payload", '{"amount": -3}')

    assert failed.returncode == 1
    document = json.loads(failed.stdout)
    assert document["errorType"] == "ValueError"
    assert document["errorMessage"] == "amount must be positive, got -3"
    assert only_error_line(failed) == (
        "error: function failed: ValueError: amount must be positive, got -3"
    )


def test_json_output_is_machine_readable(server: FaasServer, tmp_path: Path) -> None:
    name = unique("cli-json")
    directory = code_dir(tmp_path, APP_V1)

    deployed = json.loads(
        ok(
            server.cli(
                "--json", "deploy", str(directory), "--name", name, "--handler", "app.handler"
            )
        )
    )
    listed = json.loads(ok(server.cli("--json", "ls")))
    invoked = json.loads(ok(server.cli("--json", "invoke", name, "--payload", '{"k": "v"}')))

    assert deployed["FunctionName"] == name
    assert deployed["State"] == "Active"
    assert name in [cfg["FunctionName"] for cfg in listed]
    assert invoked["event"] == {"k": "v"}


def test_deploying_a_missing_path_is_one_error_line(server: FaasServer, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    completed = deploy(server, missing, unique("cli-missing"))
    assert completed.returncode != 0
    assert str(missing) in only_error_line(completed)


def test_invalid_inline_payload_is_one_error_line(server: FaasServer, tmp_path: Path) -> None:
    name = unique("cli-bad-payload")
    ok(deploy(server, code_dir(tmp_path, APP_V1), name))
    completed = server.cli("invoke", name, "--payload", "{bad")
    assert completed.returncode != 0
    assert "payload" in only_error_line(completed)
    assert completed.stdout == ""


def test_unreachable_server_is_one_error_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there once the probe closed
    completed = run_cli(url, "ls")
    assert completed.returncode == 1
    assert only_error_line(completed).startswith(f"error: cannot reach faas at {url}")


def test_json_works_after_the_command_too(server: FaasServer, tmp_path: Path) -> None:
    name = unique("cli-json-after")
    ok(deploy(server, code_dir(tmp_path, APP_V1), name, "--json"))
    ok(server.cli("invoke", name, "--json"))
    after = json.loads(ok(server.cli("records", name, "--json")))
    before = json.loads(ok(server.cli("--json", "records", name)))
    assert [r["RequestId"] for r in after["Invocations"]] == [
        r["RequestId"] for r in before["Invocations"]
    ]
    assert len(after["Invocations"]) == 1
    assert name in [cfg["FunctionName"] for cfg in json.loads(ok(server.cli("ls", "--json")))]


def test_usage_errors_are_one_line_with_exit_2(server: FaasServer) -> None:
    for argv, expected in (
        (("records", "x", "--jsn"), "error: No such option '--jsn'"),
        (("--bogus", "ls"), "error: No such option '--bogus'"),
        (("nosuch",), "error: No such command 'nosuch'"),
        (("records", "--limit", "x"), "error: Invalid value for '--limit'"),
        (("deploy",), "error: Missing argument 'CODE'"),
    ):
        completed = server.cli(*argv)
        assert completed.returncode == 2, argv
        assert only_error_line(completed).startswith(expected), completed.stderr
        assert "--help" in completed.stderr


def test_records_of_a_function_that_does_not_exist_is_an_error(server: FaasServer) -> None:
    missing = server.cli("records", unique("never-deployed"))
    assert missing.returncode == 1
    assert only_error_line(missing).startswith("error: ResourceNotFoundException: Function not")


def test_records_of_a_deleted_function_are_still_shown(server: FaasServer, tmp_path: Path) -> None:
    name = unique("cli-deleted")
    ok(deploy(server, code_dir(tmp_path, APP_V1), name))
    ok(server.cli("invoke", name))
    ok(server.cli("rm", name))
    lines = ok(server.cli("records", name)).splitlines()
    assert lines[0].startswith("REQUEST ID") and len(lines) == 2


def test_get_shows_configuration_code_concurrency_and_last_invocations(
    server: FaasServer, tmp_path: Path
) -> None:
    name = unique("cli-get")
    directory = code_dir(tmp_path, APP_V1)
    ok(deploy(server, directory, name, "--memory", "256", "--env", "A=secret-value"))
    ok(server.cli("invoke", name, "--payload", '{"n": 1}'))
    ok(server.cli("invoke", name, "--payload", '{"n": 2}'))
    described = json.loads(ok(server.cli("get", name, "--json")))
    zip_sha = described["Configuration"]["CodeSha256"]

    text = ok(server.cli("get", name))

    facts = dict(line.split(":", 1) for line in text.split("\n\n")[0].splitlines())
    facts = {key: value.strip() for key, value in facts.items()}
    assert facts["name"] == name
    assert facts["memory"] == "256 MB"
    assert facts["handler"] == "app.handler"
    assert facts["environment"] == "A"  # names only: values stay out of the terminal
    assert "secret-value" not in text
    assert bytes.fromhex(facts["code sha256"]) == base64.b64decode(zip_sha)
    assert facts["reserved"] == "-" and facts["provisioned"] == "-"
    assert text.count(name) >= 2 + 2  # name, arn and one row per invocation
    assert len(described["Invocations"]) == 2
    assert described["ProvisionedConcurrency"] is None

    ok(server.cli("--json", "get", name))  # both places for --json
    missing = server.cli("get", unique("never-deployed"))
    assert missing.returncode == 1
    assert only_error_line(missing).startswith("error: ResourceNotFoundException")


def test_deploy_help_says_name_is_an_option(server: FaasServer) -> None:
    help_text = ok(server.cli("deploy", "--help"))
    assert "the function --name" in " ".join(help_text.split())
    assert "function NAME" not in help_text


def test_a_version_that_was_never_published_is_one_not_found_line(
    server: FaasServer, tmp_path: Path
) -> None:
    name = unique("cli-qualifier")
    ok(deploy(server, code_dir(tmp_path, APP_V1), name))
    completed = server.cli("invoke", name, "--qualifier", "1")
    assert completed.returncode == 1
    line = only_error_line(completed)
    assert line == (
        "error: ResourceNotFoundException: Function not found: "
        f"arn:aws:lambda:us-east-1:000000000000:function:{name}:1"
    )
