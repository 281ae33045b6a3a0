"""`faas publish`, `faas versions` and `faas alias`: published versions and aliases.

`faas invoke NAME:ALIAS` (or `NAME:3`) invokes one; `faas rm NAME:3` deletes a version.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    UsageProblem,
    cli_context,
    format_table,
    json_option,
    main,
    print_json,
)
from faas.cli.gateway_client import GatewayClient, function_path
from faas.errors import FaasError

VERSION_COLUMNS = ("VERSION", "DESCRIPTION", "CODE SHA256", "LAST MODIFIED")
ALIAS_COLUMNS = ("ALIAS", "VERSION", "ROUTING", "DESCRIPTION")


@main.command()
@json_option
@click.argument("name")
@click.option("--description", default=None, help="The version's description ($LATEST's).")
def publish(name: str, description: str | None) -> None:
    """Publish $LATEST of NAME as a new version (its newest version, when nothing changed)."""
    context = cli_context()
    body = {} if description is None else {"Description": description}
    version = context.client.request_json(
        "POST", function_path(name, "/versions"), body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(version)
    else:
        click.echo(f"version {version.get('Version')} of {name}: {version.get('FunctionArn')}")


@main.command()
@json_option
@click.argument("name")
def versions(name: str) -> None:
    """List the versions of NAME: $LATEST, then the published ones."""
    context = cli_context()
    found = list(all_versions(context.client, name))
    if context.json_output:
        print_json(found)
        return
    rows = [
        (
            str(cfg.get("Version", "")),
            str(cfg.get("Description") or "-"),
            str(cfg.get("CodeSha256", "")),
            str(cfg.get("LastModified", "")),
        )
        for cfg in found
    ]
    click.echo(format_table(VERSION_COLUMNS, rows))


@main.group()
def alias() -> None:
    """Aliases: names for versions of a function, optionally weighted between two."""


@alias.command("create")
@json_option
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version")
@click.option(
    "--weight",
    default=None,
    metavar="VERSION=W",
    help="Send a share W (0 to 1) of the invocations to another published VERSION.",
)
@click.option("--description", default=None)
def create_alias(
    *, name: str, alias_name: str, version: str, weight: str | None, description: str | None
) -> None:
    """Create ALIAS of the function NAME for VERSION ($LATEST or a number)."""
    body: dict[str, Any] = {"Name": alias_name, "FunctionVersion": version}
    if description is not None:
        body["Description"] = description
    if weight is not None:
        body["RoutingConfig"] = {"AdditionalVersionWeights": parse_weight(weight)}
    context = cli_context()
    document = context.client.request_json(
        "POST", function_path(name, "/aliases"), body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    _show_alias(document, context.json_output)


@alias.command("update")
@json_option
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--version", "version", default=None, help="Point it at this version.")
@click.option(
    "--weight",
    default=None,
    metavar="VERSION=W",
    help="Send a share W (0 to 1) of the invocations to another published VERSION.",
)
@click.option("--no-weight", is_flag=True, help="Send every invocation to its own version.")
@click.option("--description", default=None)
def update_alias(
    *,
    name: str,
    alias_name: str,
    version: str | None,
    weight: str | None,
    no_weight: bool,
    description: str | None,
) -> None:
    """Change ALIAS of the function NAME: its version, weight or description."""
    if weight is not None and no_weight:
        raise UsageProblem("--weight and --no-weight exclude each other")
    body: dict[str, Any] = {}
    if version is not None:
        body["FunctionVersion"] = version
    if description is not None:
        body["Description"] = description
    if weight is not None:
        body["RoutingConfig"] = {"AdditionalVersionWeights": parse_weight(weight)}
    if no_weight:
        body["RoutingConfig"] = {"AdditionalVersionWeights": {}}
    context = cli_context()
    document = context.client.request_json(
        "PUT", alias_path(name, alias_name), body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    _show_alias(document, context.json_output)


@alias.command("get")
@json_option
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
def get_alias(name: str, alias_name: str) -> None:
    """Show ALIAS of the function NAME."""
    context = cli_context()
    document = context.client.request_json(
        "GET", alias_path(name, alias_name), read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    _show_alias(document, context.json_output)


@alias.command("ls")
@json_option
@click.argument("name")
@click.option("--version", "version", default=None, help="Only the aliases of this version.")
def list_aliases(name: str, version: str | None) -> None:
    """List the aliases of the function NAME."""
    context = cli_context()
    found = list(all_aliases(context.client, name, version))
    if context.json_output:
        print_json(found)
    elif not found:
        click.echo("no aliases")
    else:
        rows = [
            (
                str(item.get("Name", "")),
                str(item.get("FunctionVersion", "")),
                routing_text(item) or "-",
                str(item.get("Description") or "-"),
            )
            for item in found
        ]
        click.echo(format_table(ALIAS_COLUMNS, rows))


@alias.command("rm")
@json_option
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
def remove_alias(name: str, alias_name: str) -> None:
    """Delete ALIAS of the function NAME (its versions stay)."""
    context = cli_context()
    context.client.request(
        "DELETE", alias_path(name, alias_name), read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json({"FunctionName": name, "Name": alias_name, "Deleted": True})
    else:
        click.echo(f"deleted alias {alias_name} of {name}")


def alias_path(name: str, alias_name: str) -> str:
    return function_path(name, "/aliases/" + quote(alias_name, safe=""))


def parse_weight(text: str) -> dict[str, float]:
    """`VERSION=W` -> {"VERSION": W}: the AdditionalVersionWeights of one version."""
    version, equals, share = text.partition("=")
    try:
        weight = float(share)
    except ValueError:
        weight = None
    if not equals or not version or weight is None:
        raise UsageProblem(f"--weight takes VERSION=WEIGHT (e.g. 3=0.1), not {text!r}")
    return {version: weight}


def routing_text(alias_document: Mapping[str, Any]) -> str:
    """`3: 10%` for an alias that sends a tenth of its invocations to version 3; "" without."""
    weights = (alias_document.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return ", ".join(f"{version}: {float(weight):.0%}" for version, weight in weights.items())


def all_versions(client: GatewayClient, name: str) -> Iterator[dict[str, Any]]:
    yield from marker_pages(client, function_path(name, "/versions"), {}, "Versions")


def all_aliases(
    client: GatewayClient, name: str, version: str | None = None
) -> Iterator[dict[str, Any]]:
    query = {} if version is None else {"FunctionVersion": version}
    yield from marker_pages(client, function_path(name, "/aliases"), query, "Aliases")


def marker_pages(
    client: GatewayClient, path: str, query: Mapping[str, str], key: str
) -> Iterator[dict[str, Any]]:
    """Every item under `key` of a Marker/NextMarker listing."""
    marker: str | None = None
    seen: set[str] = set()
    while True:
        parameters = {**query, **({"Marker": marker} if marker else {})}
        suffix = f"?{urlencode(parameters)}" if parameters else ""
        page = client.request_json("GET", path + suffix, read_timeout_s=MANAGEMENT_TIMEOUT_S)
        yield from page.get(key, [])
        marker = page.get("NextMarker")
        if not marker:
            return
        if marker in seen:  # a server bug must not make the CLI loop forever
            raise FaasError(f"the server repeated the list marker {marker!r}")
        seen.add(marker)


def _show_alias(document: Mapping[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(document)
        return
    routing = routing_text(document)
    click.echo(
        f"alias {document.get('Name')} -> version {document.get('FunctionVersion')}"
        + (f" ({routing})" if routing else "")
        + f": {document.get('AliasArn')}"
    )
