"""Layers through the AWS CLI v1 (every layer call, and Layers on a function) and through
`faas layer ...` and `faas deploy --layer`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.auth import ACCOUNT
from tests.helpers.server import FaasServer, aws_cli_for, make_zip, require_layers

RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"
LAYER_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:"
GREETER = "import greeting\n\n\ndef handler(event, context):\n    return greeting.text()\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("layer-clients") / "data")
    yield started
    started.stop()


def test_every_layer_call_through_the_aws_cli(server: FaasServer, tmp_path: Path) -> None:
    cli = aws_cli_for(server.data_dir, server.url)
    run, ok = cli.run, cli.ok

    layer_zip = tmp_path / "layer.zip"
    layer_zip.write_bytes(make_zip({"python/greeting.py": "def text():\n    return 'cli'\n"}))
    published = ok(
        "publish-layer-version",
        "--layer-name", "cli-layer",
        "--zip-file", f"fileb://{layer_zip}",
        "--compatible-runtimes", RUNTIME,
        "--description", "from the AWS CLI",
    )  # fmt: skip
    arn = published["LayerVersionArn"]
    assert arn == LAYER_ARN + "cli-layer:1"
    assert (
        ok("get-layer-version", "--layer-name", "cli-layer", "--version-number", "1")["Description"]
        == "from the AWS CLI"
    )
    assert ok("get-layer-version-by-arn", "--arn", arn)["Version"] == 1
    listed = ok("list-layers", "--compatible-runtime", RUNTIME)["Layers"]
    assert [layer["LayerName"] for layer in listed] == ["cli-layer"]
    versions = ok("list-layer-versions", "--layer-name", "cli-layer")["LayerVersions"]
    assert [version["Version"] for version in versions] == [1]

    added = ok(
        "add-layer-version-permission",
        "--layer-name", "cli-layer",
        "--version-number", "1",
        "--statement-id", "anyone",
        "--action", "lambda:GetLayerVersion",
        "--principal", "*",
    )  # fmt: skip
    assert json.loads(added["Statement"])["Resource"] == arn
    policy = ok("get-layer-version-policy", "--layer-name", "cli-layer", "--version-number", "1")
    assert policy["RevisionId"] == added["RevisionId"]
    ok(
        "remove-layer-version-permission",
        "--layer-name", "cli-layer",
        "--version-number", "1",
        "--statement-id", "anyone",
    )  # fmt: skip
    gone = run("get-layer-version-policy", "--layer-name", "cli-layer", "--version-number", "1")
    assert gone.returncode == 255
    assert "ResourceNotFoundException" in gone.stderr

    code_zip = tmp_path / "code.zip"
    code_zip.write_bytes(make_zip({"app.py": GREETER}))
    created = ok(
        "create-function",
        "--function-name", "cli-layered",
        "--runtime", RUNTIME,
        "--role", "arn:aws:iam::000000000000:role/test",
        "--handler", "app.handler",
        "--zip-file", f"fileb://{code_zip}",
        "--layers", arn,
    )  # fmt: skip
    assert [layer["Arn"] for layer in created["Layers"]] == [arn]
    missing = run(
        "update-function-configuration",
        "--function-name", "cli-layered",
        "--layers", LAYER_ARN + "cli-layer:7",
    )  # fmt: skip
    assert missing.returncode == 255
    assert f"Layer version {LAYER_ARN}cli-layer:7 does not exist." in missing.stderr
    ok("update-function-configuration", "--function-name", "cli-layered", "--layers")
    assert "Layers" not in ok("get-function-configuration", "--function-name", "cli-layered")

    ok("delete-layer-version", "--layer-name", "cli-layer", "--version-number", "1")
    refused = run("get-layer-version", "--layer-name", "cli-layer", "--version-number", "1")
    assert refused.returncode == 255
    assert "ResourceNotFoundException" in refused.stderr


def test_the_faas_cli_publishes_lists_uses_and_removes_layers(
    server: FaasServer, tmp_path: Path
) -> None:
    require_layers(server, "mount namespace")
    layer_dir = tmp_path / "layer"
    (layer_dir / "python").mkdir(parents=True)
    (layer_dir / "python" / "greeting.py").write_text("def text():\n    return 'from a dir'\n")
    published = server.cli(
        "layer", "publish", str(layer_dir), "--name", "dir-layer", "--runtime", RUNTIME, "--json"
    )
    assert published.returncode == 0, published.stderr
    arn = json.loads(published.stdout)["LayerVersionArn"]
    again = server.cli("layer", "publish", str(layer_dir), "--name", "dir-layer")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"published {LAYER_ARN}dir-layer:2 ")

    listed = server.cli("layer", "ls")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:2] == ["dir-layer", "2"] for line in listed.stdout.splitlines())
    versions = server.cli("layer", "versions", "dir-layer")
    assert versions.returncode == 0, versions.stderr
    assert [line.split()[0] for line in versions.stdout.splitlines()[1:]] == ["2", "1"]

    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(GREETER)
    deployed = server.cli(
        "deploy", str(code_dir), "--name", "dir-layered", "--handler", "app.handler", "--layer", arn
    )
    assert deployed.returncode == 0, deployed.stderr
    invoked = server.cli("invoke", "dir-layered")
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == "from a dir"

    removed = server.cli("layer", "rm", "dir-layer", "1")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "deleted version 1 of layer dir-layer"
    missing = server.cli("deploy", str(code_dir), "--name", "dir-layered", "--layer", arn)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"error: InvalidParameterValueException: Layer version {arn} does not exist."
    )
    refused = server.cli("layer", "publish", str(tmp_path / "nowhere"), "--name", "x")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ")
