"""`faas dlq`: the dead letters of a function's async invocations: list, re-drive, delete."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    CliContext,
    UsageProblem,
    cli_context,
    format_table,
    json_option,
    main,
    print_json,
)

DEAD_LETTER_COLUMNS = ("REQUEST ID", "FAILED AT", "ATTEMPTS", "CONDITION", "LAST ERROR", "PAYLOAD")
_CELL = 60


def dead_letters_path(name: str, suffix: str = "") -> str:
    return f"/faas/v1/functions/{quote(name, safe='')}/dead-letters{suffix}"


@main.command("dlq")
@json_option
@click.argument("name")
@click.argument("request_ids", nargs=-1)
@click.option("--redrive", is_flag=True, help="Queue them again (REQUEST_IDS, or all).")
@click.option("--delete", is_flag=True, help="Delete them (REQUEST_IDS, or all).")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=100, show_default=True)
def dlq(name: str, request_ids: tuple[str, ...], redrive: bool, delete: bool, limit: int) -> None:
    """List the dead letters of NAME: async events that failed every attempt and had no
    OnFailure destination. --redrive or --delete acts on REQUEST_IDS, or on all of them."""
    if redrive and delete:
        raise UsageProblem("--redrive and --delete exclude each other")
    if request_ids and not (redrive or delete):
        raise UsageProblem("request ids go with --redrive or --delete")
    context = cli_context()
    body = {"RequestIds": list(request_ids)} if request_ids else {}
    if redrive:
        _redrive(context, name, body)
    elif delete:
        _delete(context, name, body)
    else:
        _list(context, name, limit)


def _redrive(context: CliContext, name: str, body: dict[str, Any]) -> None:
    document = context.client.request_json(
        "POST", dead_letters_path(name, "/redrive"), body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(document)
        return
    moved = document.get("Redriven", [])
    for item in moved:
        click.echo(f"re-driven {item['RequestId']} as {item['NewRequestId']}")
    if not moved:
        click.echo("no dead letters re-driven")


def _delete(context: CliContext, name: str, body: dict[str, Any]) -> None:
    document = context.client.request_json(
        "DELETE", dead_letters_path(name), body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(document)
        return
    deleted = document.get("Deleted", [])
    click.echo(f"deleted {len(deleted)} dead letter{'' if len(deleted) == 1 else 's'}")


def _list(context: CliContext, name: str, limit: int) -> None:
    query = urlencode({"limit": limit})
    document = context.client.request_json(
        "GET", f"{dead_letters_path(name)}?{query}", read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    letters = document.get("DeadLetters", [])
    if context.json_output:
        print_json(document)
    elif not letters:
        click.echo("no dead letters")
    else:
        click.echo(format_table(DEAD_LETTER_COLUMNS, [dead_letter_row(x) for x in letters]))


def dead_letter_row(letter: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(letter.get("RequestId", "")),
        str(letter.get("FailedAt", "")),
        str(letter.get("Attempts", "")),
        str(letter.get("Condition", "")),
        _short(str(letter.get("LastError") or "-")),
        _short(json.dumps(letter.get("Payload"), separators=(",", ":"))),
    )


def _short(text: str) -> str:
    """One table cell: one line, cut at _CELL characters (--json has the whole)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _CELL else flat[: _CELL - 3] + "..."
