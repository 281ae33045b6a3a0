"""`faas tag`, `faas untag`, `faas tags`: a function's tags (Lambda's TagResource,
UntagResource, ListTags), e.g. team=payments, which `faas bill --group-by tag:team` bills by."""

from __future__ import annotations

from collections.abc import Sequence
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


def tags_path(function_arn: str, keys: Sequence[str] = ()) -> str:
    path = f"/2017-03-31/tags/{quote(function_arn, safe='')}"
    return f"{path}?{urlencode([('tagKeys', key) for key in keys])}" if keys else path


def parse_tag_items(items: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` items (the value may be empty or contain '=')."""
    tags: dict[str, str] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise UsageProblem(f"a tag is KEY=VALUE, e.g. team=payments, not {item!r}")
        tags[key] = value
    return tags


def function_arn(client: GatewayClient, name: str) -> str:
    configuration = client.request_json(
        "GET", function_path(name, "/configuration"), read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    return str(configuration["FunctionArn"])


def tag_function(client: GatewayClient, arn: str, tags: dict[str, str]) -> None:
    client.request_json("POST", tags_path(arn), {"Tags": tags}, read_timeout_s=MANAGEMENT_TIMEOUT_S)


@main.command("tag")
@click.argument("function")
@click.argument("items", nargs=-1, required=True, metavar="KEY=VALUE...")
def tag(function: str, items: tuple[str, ...]) -> None:
    """Add tags to FUNCTION (a key it has already gets the new value)."""
    tags = parse_tag_items(items)
    context = cli_context()
    tag_function(context.client, function_arn(context.client, function), tags)
    click.echo(f"tagged {function}: {', '.join(f'{k}={v}' for k, v in tags.items())}")


@main.command("untag")
@click.argument("function")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
def untag(function: str, keys: tuple[str, ...]) -> None:
    """Remove tags from FUNCTION by key."""
    context = cli_context()
    path = tags_path(function_arn(context.client, function), keys)
    context.client.request_json("DELETE", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    click.echo(f"untagged {function}: {', '.join(keys)}")


@main.command("tags")
@json_option
@click.argument("function")
def tags(function: str) -> None:
    """List FUNCTION's tags."""
    context = cli_context()
    path = tags_path(function_arn(context.client, function))
    document = context.client.request_json("GET", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        print_json(document)
        return
    found = document.get("Tags") or {}
    if not found:
        click.echo(f"{function} has no tags")
        return
    click.echo(format_table(("KEY", "VALUE"), sorted(found.items())))
