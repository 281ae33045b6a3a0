"""Lambda layers through boto3: publishing, reading, listing, deleting and sharing layer
versions; functions using them (a module imported from /opt/python, a later layer's file over
an earlier one's, a program on PATH from /opt/bin) and Lambda's refusals."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.auth import ACCOUNT, allow, create_key, policy
from tests.helpers.server import FaasServer, lambda_client, make_zip, require_layers

RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"
ROLE = "arn:aws:iam::000000000000:role/test"
LAYER_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:"
EXCLAIMS = "import greeting\n\n\ndef handler(event, context):\n    return greeting.text() + '!'\n"
USES_LAYERS = """
import os
import subprocess

import greeting


def handler(event, context):
    found = {"greeting": greeting.text(), "which": open("/opt/which.txt").read()}
    if event.get("run"):
        ran = subprocess.run(["layer-tool"], capture_output=True, text=True, check=True)
        found["tool"] = ran.stdout.strip()
        found["ld_library_path"] = os.environ.get("LD_LIBRARY_PATH")
    return found
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("layers") / "data")
    yield started
    started.stop()


def executable_zip(files: dict[str, str], executables: dict[str, str]) -> bytes:
    """A zip whose `executables` keep their x bits (as `zip` writes them)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        for name, content in executables.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def publish(api: Any, name: str, zip_bytes: bytes, **extra: Any) -> dict[str, Any]:
    return dict(api.publish_layer_version(LayerName=name, Content={"ZipFile": zip_bytes}, **extra))


def test_publish_get_list_and_delete_as_lambda_answers_them(server: FaasServer) -> None:
    api = server.client()
    content = make_zip({"python/shared.py": "VALUE = 1\n"})
    first = publish(
        api,
        "tools",
        content,
        Description="shared code",
        CompatibleRuntimes=[RUNTIME],
        CompatibleArchitectures=["x86_64"],
        LicenseInfo="MIT",
    )
    assert first["Version"] == 1
    assert first["LayerArn"] == LAYER_ARN + "tools"
    assert first["LayerVersionArn"] == LAYER_ARN + "tools:1"
    assert first["Description"] == "shared code"
    assert first["LicenseInfo"] == "MIT"
    assert first["CompatibleRuntimes"] == [RUNTIME]
    assert first["Content"]["CodeSize"] == len(content)
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert first["Content"]["CodeSha256"] == digest
    # Content.Location downloads the zip itself (presigned, no credentials needed).
    with urllib.request.urlopen(first["Content"]["Location"], timeout=30) as download:
        assert download.read() == content
    second = publish(api, "tools", make_zip({"python/shared.py": "VALUE = 2\n"}))
    assert second["Version"] == 2

    got = api.get_layer_version(LayerName="tools", VersionNumber=1)
    assert got["LayerVersionArn"] == first["LayerVersionArn"]
    assert got["CreatedDate"] == first["CreatedDate"]
    by_arn = api.get_layer_version_by_arn(Arn=LAYER_ARN + "tools:2")
    assert by_arn["Version"] == 2
    by_layer_arn = api.get_layer_version(LayerName=LAYER_ARN + "tools", VersionNumber=2)
    assert by_layer_arn["Version"] == 2

    versions = api.list_layer_versions(LayerName="tools")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    matching = api.list_layer_versions(LayerName="tools", CompatibleRuntime=RUNTIME)
    assert [v["Version"] for v in matching["LayerVersions"]] == [1]
    listed = {layer["LayerName"]: layer for layer in api.list_layers()["Layers"]}
    assert listed["tools"]["LatestMatchingVersion"]["Version"] == 2
    filtered = {
        layer["LayerName"]: layer
        for layer in api.list_layers(CompatibleArchitecture="x86_64")["Layers"]
    }
    assert filtered["tools"]["LatestMatchingVersion"]["Version"] == 1

    api.delete_layer_version(LayerName="tools", VersionNumber=2)
    api.delete_layer_version(LayerName="tools", VersionNumber=2)  # gone already: no error
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.get_layer_version(LayerName="tools", VersionNumber=2)
    # A number is never given twice, even after its version is gone.
    assert publish(api, "tools", content)["Version"] == 3


def test_pagination_of_layers_and_versions(server: FaasServer) -> None:
    api = server.client()
    for name in ("page-a", "page-b", "page-c"):
        publish(api, name, make_zip({"a.txt": name}))
    for number in range(3):
        publish(api, "page-v", make_zip({"a.txt": str(number)}))
    paginator = api.get_paginator("list_layers")
    names = [
        layer["LayerName"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 1})
        for layer in page["Layers"]
    ]
    assert [n for n in names if n.startswith("page-")] == ["page-a", "page-b", "page-c", "page-v"]
    first = api.list_layer_versions(LayerName="page-v", MaxItems=2)
    assert [v["Version"] for v in first["LayerVersions"]] == [3, 2]
    rest = api.list_layer_versions(LayerName="page-v", Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]
    assert "NextMarker" not in rest


def test_functions_import_from_layers_later_layers_win_and_programs_are_on_path(
    server: FaasServer,
) -> None:
    require_layers(server, "mount namespace")
    api = server.client()
    base = publish(
        api,
        "base",
        executable_zip(
            {
                "python/greeting.py": "def text():\n    return 'hello from base'\n",
                "which.txt": "base",
            },
            {"bin/layer-tool": "#!/bin/sh\necho tool from base\n"},
        ),
    )
    override = publish(
        api,
        "override",
        make_zip(
            {
                "python/greeting.py": "def text():\n    return 'hello from override'\n",
                "which.txt": "override",
            }
        ),
    )
    created = server.deploy(
        "layered",
        {"app.py": USES_LAYERS},
        Layers=[base["LayerVersionArn"], override["LayerVersionArn"]],
    )
    assert created["Layers"] == [
        {"Arn": base["LayerVersionArn"], "CodeSize": base["Content"]["CodeSize"]},
        {"Arn": override["LayerVersionArn"], "CodeSize": override["Content"]["CodeSize"]},
    ]
    _, body = server.invoke("layered", {"run": True})
    assert body == {
        "greeting": "hello from override",
        "which": "override",
        "tool": "tool from base",
        "ld_library_path": "/opt/lib",
    }
    # In the other order, the base layer's files win.
    api.update_function_configuration(
        FunctionName="layered", Layers=[override["LayerVersionArn"], base["LayerVersionArn"]]
    )
    api.get_waiter("function_updated_v2").wait(FunctionName="layered")
    assert server.invoke("layered")[1] == {"greeting": "hello from base", "which": "base"}
    configuration = api.get_function(FunctionName="layered")["Configuration"]
    assert [layer["Arn"] for layer in configuration["Layers"]] == [
        override["LayerVersionArn"],
        base["LayerVersionArn"],
    ]
    # A published version keeps the layers it had; an empty list removes them from $LATEST.
    published = api.publish_version(FunctionName="layered")
    api.update_function_configuration(FunctionName="layered", Layers=[])
    api.get_waiter("function_updated_v2").wait(FunctionName="layered")
    assert "Layers" not in api.get_function_configuration(FunctionName="layered")
    version = api.get_function_configuration(FunctionName="layered", Qualifier=published["Version"])
    assert len(version["Layers"]) == 2
    _, body = server.invoke("layered", Qualifier=published["Version"])
    assert body == {"greeting": "hello from base", "which": "base"}
    _, error = server.invoke("layered")
    assert error["errorType"] == "Runtime.ImportModuleError"


def test_a_deleted_layer_version_stays_usable_by_the_functions_that_have_it(
    server: FaasServer,
) -> None:
    require_layers(server, "mount namespace")
    api = server.client()
    layer = publish(
        api, "fleeting", make_zip({"python/greeting.py": "def text():\n    return 'kept'\n"})
    )
    server.deploy(
        "keeper",
        {"app.py": "import greeting\n\ndef handler(event, context):\n    return greeting.text()\n"},
        Layers=[layer["LayerVersionArn"]],
    )
    api.delete_layer_version(LayerName="fleeting", VersionNumber=layer["Version"])
    assert server.invoke("keeper")[1] == "kept"
    # New code, same layers: still there.
    api.update_function_code(
        FunctionName="keeper",
        ZipFile=make_zip({"app.py": EXCLAIMS}),
    )
    api.get_waiter("function_updated_v2").wait(FunctionName="keeper")
    assert server.invoke("keeper")[1] == "kept!"
    # But no function can take it any more.
    with pytest.raises(api.exceptions.InvalidParameterValueException) as refused:
        server.deploy(
            "late",
            {"app.py": "def handler(e, c):\n    return 1\n"},
            Layers=[layer["LayerVersionArn"]],
        )
    assert refused.value.response["Error"]["Message"] == (
        f"Layer version {layer['LayerVersionArn']} does not exist."
    )


def test_lambdas_refusals(server: FaasServer) -> None:
    api = server.client()
    arns = [
        publish(api, f"many-{index}", make_zip({"a.txt": str(index)}))["LayerVersionArn"]
        for index in range(6)
    ]
    code = {"app.py": "def handler(e, c):\n    return 1\n"}

    def refusal(**config: Any) -> str:
        with pytest.raises(api.exceptions.InvalidParameterValueException) as refused:
            server.deploy("refused", code, **config)
        return str(refused.value.response["Error"]["Message"])

    assert refusal(Layers=arns) == "Cannot reference more than 5 layers."
    missing = LAYER_ARN + "many-0:9"
    assert refusal(Layers=[missing]) == f"Layer version {missing} does not exist."
    assert "at 'layers' failed to satisfy constraint" in refusal(Layers=[LAYER_ARN + "many-0"])
    second = publish(api, "many-0", make_zip({"a.txt": "again"}))["LayerVersionArn"]
    assert "Two different versions of the same layer" in refusal(Layers=[arns[0], second])
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.get_layer_version(LayerName="never-published", VersionNumber=1)
    assert api.list_layer_versions(LayerName="never-published")["LayerVersions"] == []

    with pytest.raises(api.exceptions.InvalidParameterValueException) as extensions:
        publish(api, "agent", make_zip({"extensions/agent": "#!/bin/sh\n"}))
    assert "faas does not run Lambda extensions" in extensions.value.response["Error"]["Message"]
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.get_layer_version(LayerName="agent", VersionNumber=1)
    with pytest.raises(api.exceptions.InvalidParameterValueException):
        publish(api, "not-a-zip", b"plain text")


def test_code_and_layers_together_stay_under_the_unzipped_limit(
    server: FaasServer, tmp_path: Path
) -> None:
    """250 MB unzipped across code and layers: two layers of 126 MB of zeros (a few hundred
    KB zipped each) go over it together, though each one alone is fine."""
    api = server.client()
    big = 126 * 1024 * 1024
    arns = [
        publish(api, f"zeros-{index}", make_zip({f"zeros-{index}.bin": bytes(big)}))[
            "LayerVersionArn"
        ]
        for index in range(2)
    ]
    code = {"app.py": "def handler(e, c):\n    return 1\n"}
    with pytest.raises(api.exceptions.InvalidParameterValueException) as refused:
        server.deploy("too-big", code, Layers=arns)
    message = refused.value.response["Error"]["Message"]
    assert message.startswith(
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes."
    )
    server.deploy("fits", code, Layers=arns[:1])
    with pytest.raises(api.exceptions.InvalidParameterValueException):
        api.update_function_configuration(FunctionName="fits", Layers=arns)
    for index in range(2):
        api.delete_layer_version(LayerName=f"zeros-{index}", VersionNumber=1)


def test_using_a_layer_needs_get_layer_version_or_a_permission(server: FaasServer) -> None:
    api = server.client()
    layer = publish(api, "private", make_zip({"python/p.py": "X = 1\n"}))
    arn = layer["LayerVersionArn"]
    deployer_key = create_key(
        server,
        "deployer",
        policy(
            allow(["lambda:CreateFunction", "lambda:GetFunction*", "lambda:DeleteFunction"], "*")
        ),
    )
    deployer = lambda_client(server.url, deployer_key)

    def create() -> Any:
        return deployer.create_function(
            FunctionName="borrower",
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})},
            Layers=[arn],
        )

    with pytest.raises(deployer.exceptions.ClientError) as refused:
        create()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "lambda:GetLayerVersion" in refused.value.response["Error"]["Message"]
    with pytest.raises(deployer.exceptions.ClientError):
        deployer.get_layer_version(LayerName="private", VersionNumber=1)

    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.get_layer_version_policy(LayerName="private", VersionNumber=1)
    added = api.add_layer_version_permission(
        LayerName="private",
        VersionNumber=1,
        StatementId="everyone",
        Action="lambda:GetLayerVersion",
        Principal="*",
    )
    assert json.loads(added["Statement"]) == {
        "Sid": "everyone",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:GetLayerVersion",
        "Resource": arn,
    }
    assert create()["Layers"][0]["Arn"] == arn
    assert deployer.get_layer_version(LayerName="private", VersionNumber=1)["Version"] == 1

    document = api.get_layer_version_policy(LayerName="private", VersionNumber=1)
    assert document["RevisionId"] == added["RevisionId"]
    assert [s["Sid"] for s in json.loads(document["Policy"])["Statement"]] == ["everyone"]
    with pytest.raises(api.exceptions.ResourceConflictException):
        api.add_layer_version_permission(
            LayerName="private",
            VersionNumber=1,
            StatementId="everyone",
            Action="lambda:GetLayerVersion",
            Principal="*",
        )
    account = api.add_layer_version_permission(
        LayerName="private",
        VersionNumber=1,
        StatementId="account",
        Action="lambda:GetLayerVersion",
        Principal=ACCOUNT,
        RevisionId=added["RevisionId"],
    )
    assert json.loads(account["Statement"])["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    with pytest.raises(api.exceptions.PreconditionFailedException):
        api.remove_layer_version_permission(
            LayerName="private",
            VersionNumber=1,
            StatementId="everyone",
            RevisionId=added["RevisionId"],
        )
    api.remove_layer_version_permission(
        LayerName="private", VersionNumber=1, StatementId="everyone"
    )
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.remove_layer_version_permission(
            LayerName="private", VersionNumber=1, StatementId="everyone"
        )
    with pytest.raises(api.exceptions.InvalidParameterValueException):
        api.add_layer_version_permission(
            LayerName="private",
            VersionNumber=1,
            StatementId="wrong",
            Action="lambda:InvokeFunction",
            Principal="*",
        )


def test_publish_a_layer_from_a_bucket(server: FaasServer, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    content = make_zip({"python/from_bucket.py": "X = 1\n"})
    (artifacts / "layer.zip").write_bytes(content)
    assert server.cli("bucket", "add", "layer-artifacts", str(artifacts)).returncode == 0
    api = server.client()
    published = api.publish_layer_version(
        LayerName="from-bucket",
        Content={"S3Bucket": "layer-artifacts", "S3Key": "layer.zip"},
    )
    assert published["Content"]["CodeSize"] == len(content)
    with pytest.raises(api.exceptions.InvalidParameterValueException) as missing:
        api.publish_layer_version(
            LayerName="from-bucket",
            Content={"S3Bucket": "layer-artifacts", "S3Key": "missing.zip"},
        )
    assert "NoSuchKey" in missing.value.response["Error"]["Message"]


SNAPPED = "import greeting\n\nTEXT = greeting.text()\n\n\ndef handler(e, c):\n    return TEXT\n"


def test_snapshot_start_workers_see_the_layers(server: FaasServer) -> None:
    """The template runs init with /opt bound; its clones, forked from it, share that."""
    require_layers(server, "mount namespace")
    api = server.client()
    layer = publish(
        api, "snap", make_zip({"python/greeting.py": "def text():\n    return 'snapped'\n"})
    )
    server.deploy(
        "snapped",
        {"app.py": SNAPPED},
        Layers=[layer["LayerVersionArn"]],
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    assert server.invoke("snapped")[1] == "snapped"
