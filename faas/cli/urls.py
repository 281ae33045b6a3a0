"""`faas url`: a function's URL (Lambda's function URLs): create, show, remove."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from faas.cli.app import MANAGEMENT_TIMEOUT_S, cli_context, json_option, main, print_json

AUTH_TYPES = {"none": "NONE", "iam": "AWS_IAM"}


def url_config_path(name: str) -> str:
    return f"/2021-10-31/functions/{quote(name, safe='')}/url"


@main.group()
def url() -> None:
    """Function URLs: HTTP endpoints under /urls/<id>/ that invoke a function."""


@url.command("create")
@json_option
@click.argument("function")
@click.option(
    "--auth",
    type=click.Choice(sorted(AUTH_TYPES)),
    required=True,
    help="none: anyone who reaches the port may call it (a choice to make, never a "
    "default); iam: requests must be signed by a key allowed lambda:InvokeFunctionUrl.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="An origin browsers may call it from (repeat it; * for any). Sets CORS for every method.",
)
def create_url(function: str, auth: str, cors_origins: tuple[str, ...]) -> None:
    """Give FUNCTION a URL, and print it."""
    context = cli_context()
    body: dict[str, Any] = {"AuthType": AUTH_TYPES[auth]}
    if cors_origins:
        body["Cors"] = {
            "AllowOrigins": list(cors_origins),
            "AllowMethods": ["*"],
            # A browser's JSON POST and a signed request both send headers of their own.
            "AllowHeaders": ["*"],
        }
    document = context.client.request_json(
        "POST", url_config_path(function), body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    _show(document, context.json_output)


@url.command("get")
@json_option
@click.argument("function")
def get_url(function: str) -> None:
    """Print FUNCTION's URL."""
    context = cli_context()
    document = context.client.request_json(
        "GET", url_config_path(function), read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    _show(document, context.json_output)


@url.command("rm")
@json_option
@click.argument("function")
def remove_url(function: str) -> None:
    """Remove FUNCTION's URL (the function stays)."""
    context = cli_context()
    context.client.request("DELETE", url_config_path(function), read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        print_json({"FunctionName": function, "Deleted": True})
    else:
        click.echo(f"removed the URL of {function}")


def _show(document: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(document)
        return
    auth = "iam" if document.get("AuthType") == "AWS_IAM" else "none"
    origins = (document.get("Cors") or {}).get("AllowOrigins") or []
    cors = f", cors {' '.join(origins)}" if origins else ""
    click.echo(f"{document.get('FunctionUrl')}  (auth {auth}{cors})")
