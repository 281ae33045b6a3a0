"""faas.pool.sdk: the AWS SDK trees offered to functions."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import boto3
import botocore

from faas.pool.sdk import (
    RuntimeSdks,
    node_sdk,
    python_sdk,
    requirement_closure,
    top_level_entries,
)


def test_the_closure_is_boto3_and_what_it_needs_without_extras() -> None:
    names = {dist.metadata["Name"].lower() for dist in requirement_closure("boto3")}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3"} <= names
    assert "six" in names  # python-dateutil's
    assert "awscrt" not in names  # only botocore[crt]'s


def test_top_level_entries_are_importable_names_only() -> None:
    (dateutil,) = [
        d for d in requirement_closure("boto3") if d.metadata["Name"] == "python-dateutil"
    ]
    assert top_level_entries(dateutil) == ["dateutil"]
    (six,) = [d for d in requirement_closure("boto3") if d.metadata["Name"] == "six"]
    assert top_level_entries(six) == ["six.py"]


def test_the_python_tree_holds_the_sdk_and_nothing_of_the_platform(tmp_path: Path) -> None:
    tree = python_sdk(tmp_path)
    assert tree is not None
    assert dict(tree.versions) == {"boto3": boto3.__version__, "botocore": botocore.__version__}
    names = set(os.listdir(tree.path))
    assert {"boto3", "botocore", "dateutil", "jmespath", "s3transfer", "urllib3", "six.py"} <= names
    assert not names & {"aiohttp", "sqlalchemy", "faas", "click"}
    # Readable by every function's uid, whatever the server's umask.
    for directory, _, files in os.walk(tree.path):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
        for name in files:
            assert os.stat(os.path.join(directory, name)).st_mode & 0o444 == 0o444


def test_the_tree_is_made_once_per_version_set_and_older_sets_go(tmp_path: Path) -> None:
    stale = tmp_path / "python-0000000000000000"
    stale.mkdir()
    first = python_sdk(tmp_path)
    assert first is not None
    marker = first.path / "made-before"
    marker.write_text("")
    again = python_sdk(tmp_path)
    assert again == first and marker.exists()  # not made again
    assert not stale.exists()
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]


def test_node_clients_are_found_with_their_versions(tmp_path: Path) -> None:
    assert node_sdk(tmp_path / "node_modules") is None
    package = tmp_path / "node_modules" / "@aws-sdk" / "client-lambda"
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"version": "3.9.0"}))
    tree = node_sdk(tmp_path / "node_modules")
    assert tree is not None and tree.describe() == "@aws-sdk/client-lambda 3.9.0"


def test_the_report_says_what_each_language_gets() -> None:
    report = RuntimeSdks().report()
    assert report["python"].startswith("none") and report["nodejs"].startswith("none")
