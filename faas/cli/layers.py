"""`faas layer ...`: Lambda layers (publish a directory or a zip, list, list versions, delete).

A function takes layers with `faas deploy ... --layer ARN` (repeat, in order).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from faas.cli.app import (
    DEPLOY_TIMEOUT_S,
    MANAGEMENT_TIMEOUT_S,
    cli_context,
    format_table,
    json_option,
    main,
    print_json,
)
from faas.cli.deploy import hex_sha256, load_code
from faas.cli.versions import marker_pages

LAYERS = "/2018-10-31/layers"
LAYER_COLUMNS = ("LAYER", "LATEST", "DESCRIPTION", "CREATED")
VERSION_COLUMNS = ("VERSION", "ARN", "DESCRIPTION", "RUNTIMES", "CREATED")


@main.group()
def layer() -> None:
    """Layers: code shared by functions, bound read-only at /opt in their workers."""


@layer.command("publish")
@json_option
@click.argument("code", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Layer name.")
@click.option("--description", default=None, help="Free text.")
@click.option(
    "--runtime",
    "runtimes",
    multiple=True,
    help="A compatible runtime, e.g. python3.12 (repeat); `faas layer ls --runtime` filters on it.",
)
@click.option("--license", "license_info", default=None, help="License information.")
def publish_layer(
    *,
    code: Path,
    name: str,
    description: str | None,
    runtimes: tuple[str, ...],
    license_info: str | None,
) -> None:
    """Publish CODE (a zip file, or a directory zipped as `faas deploy` zips one) as the next
    version of the layer --name. Python packages go under python/, programs under bin/."""
    body: dict[str, Any] = {
        "Content": {"ZipFile": base64.b64encode(load_code(code)).decode("ascii")},
        "CompatibleRuntimes": list(runtimes),
    }
    if description is not None:
        body["Description"] = description
    if license_info is not None:
        body["LicenseInfo"] = license_info
    context = cli_context()
    published = context.client.request_json(
        "POST", _layer_path(name, "/versions"), body, read_timeout_s=DEPLOY_TIMEOUT_S
    )
    if context.json_output:
        print_json(published)
        return
    content = published.get("Content") or {}
    sha = hex_sha256(str(content.get("CodeSha256", "")))[:12]
    click.echo(
        f"published {published.get('LayerVersionArn')} sha256={sha} size={content.get('CodeSize')}"
    )


@layer.command("ls")
@json_option
@click.option("--runtime", default=None, help="Only layers with a version compatible with it.")
def list_layers(runtime: str | None) -> None:
    """List the layers, each with its newest version."""
    context = cli_context()
    query = {"CompatibleRuntime": runtime} if runtime else {}
    found = list(marker_pages(context.client, LAYERS, query, "Layers"))
    if context.json_output:
        print_json(found)
        return
    rows = []
    for item in found:
        latest = item.get("LatestMatchingVersion") or {}
        rows.append(
            (
                str(item.get("LayerName", "")),
                str(latest.get("Version", "")),
                str(latest.get("Description") or "-"),
                str(latest.get("CreatedDate", "")),
            )
        )
    click.echo(format_table(LAYER_COLUMNS, rows))


@layer.command("versions")
@json_option
@click.argument("name")
def list_versions(name: str) -> None:
    """List the versions of the layer NAME, newest first."""
    context = cli_context()
    found = list(marker_pages(context.client, _layer_path(name, "/versions"), {}, "LayerVersions"))
    if context.json_output:
        print_json(found)
        return
    rows = [
        (
            str(item.get("Version", "")),
            str(item.get("LayerVersionArn", "")),
            str(item.get("Description") or "-"),
            ",".join(item.get("CompatibleRuntimes") or []) or "-",
            str(item.get("CreatedDate", "")),
        )
        for item in found
    ]
    click.echo(format_table(VERSION_COLUMNS, rows))


@layer.command("rm")
@json_option
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
def remove_version(name: str, version: int) -> None:
    """Delete VERSION of the layer NAME. Functions that use it keep it; no new one can."""
    context = cli_context()
    context.client.request(
        "DELETE", _layer_path(name, f"/versions/{version}"), read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json({"LayerName": name, "Version": version, "Deleted": True})
    else:
        click.echo(f"deleted version {version} of layer {name}")


def _layer_path(name: str, suffix: str) -> str:
    return f"{LAYERS}/{quote(name, safe='')}{suffix}"
