"""`faas bucket` and `faas trigger`: directories bound to names, and the triggers that turn
files landing in them into async invocations (S3 events)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    cli_context,
    delete_named,
    format_table,
    json_option,
    main,
    print_json,
)

BUCKETS_PATH = "/faas/v1/buckets"
TRIGGERS_PATH = "/faas/v1/triggers"
TRIGGER_COLUMNS = (
    "ID",
    "FUNCTION",
    "BUCKET",
    "PREFIX",
    "SUFFIX",
    "EVENTS",
    "STATE",
    "BACKLOG",
    "DELIVERED",
    "LAST DELIVERY",
    "ERRORS",
    "LOOPS STOPPED",
)


@main.group()
def bucket() -> None:
    """Buckets: a name bound to a directory on the server, read-only to functions unless
    --writable."""


@bucket.command("add")
@json_option
@click.argument("name")
@click.argument("path")
@click.option("--writable", is_flag=True, help="Functions that mount it may write to it.")
def add_bucket(name: str, path: str, writable: bool) -> None:
    """Bind bucket NAME to the directory PATH (on the server; relative to here)."""
    context = cli_context()
    body = {"Name": name, "Path": os.path.abspath(path), "Writable": writable}
    document = context.client.request_json(
        "POST", BUCKETS_PATH, body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(document)
        return
    mode = "writable" if document.get("Writable") else "read-only"
    click.echo(f"added bucket {document.get('Name')} -> {document.get('Path')} ({mode})")


@bucket.command("ls")
@json_option
def list_buckets() -> None:
    """List the buckets."""
    context = cli_context()
    document = context.client.request_json("GET", BUCKETS_PATH, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        print_json(document)
        return
    rows = [
        (
            str(b.get("Name", "")),
            str(b.get("Path", "")),
            "writable" if b.get("Writable") else "read-only",
            str(b.get("Origin", "")),
        )
        for b in document.get("Buckets", [])
    ]
    click.echo(format_table(("NAME", "PATH", "ACCESS", "FROM"), rows))


@bucket.command("rm")
@json_option
@click.argument("name")
def remove_bucket(name: str) -> None:
    """Remove bucket NAME (its directory and files stay as they are)."""
    delete_named(BUCKETS_PATH, name, "bucket", "Name")


@main.group()
def trigger() -> None:
    """Triggers: files that land in (or leave) a bucket invoke a function asynchronously
    with an S3 event."""


@trigger.command("add")
@json_option
@click.argument("function")
@click.option("--bucket", "bucket_name", required=True, help="The bucket to watch.")
@click.option("--prefix", default="", help="Only keys starting with this (e.g. in/).")
@click.option("--suffix", default="", help="Only keys ending with this (e.g. .jpg).")
@click.option(
    "--events",
    default="created",
    show_default=True,
    help="Comma-separated: created, removed (or s3:ObjectCreated:*, s3:ObjectRemoved:*).",
)
def add_trigger(function: str, bucket_name: str, prefix: str, suffix: str, events: str) -> None:
    """Invoke FUNCTION for files in a bucket."""
    context = cli_context()
    body = {
        "FunctionName": function,
        "Bucket": bucket_name,
        "Prefix": prefix,
        "Suffix": suffix,
        "Events": [e.strip() for e in events.split(",") if e.strip()],
    }
    document = context.client.request_json(
        "POST", TRIGGERS_PATH, body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(document)
        return
    click.echo(
        f"added trigger {document.get('Id')}: {document.get('Bucket')}/"
        f"{document.get('Prefix')}*{document.get('Suffix')} -> {document.get('FunctionName')} "
        f"({', '.join(document.get('Events', []))})"
    )


@trigger.command("ls")
@json_option
def list_triggers() -> None:
    """List the triggers and their state: watching, backlog, last delivery, errors."""
    context = cli_context()
    document = context.client.request_json(
        "GET", TRIGGERS_PATH, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(document)
        return
    click.echo(
        format_table(TRIGGER_COLUMNS, [trigger_row(t) for t in document.get("Triggers", [])])
    )


@trigger.command("rm")
@json_option
@click.argument("trigger_id")
def remove_trigger(trigger_id: str) -> None:
    """Remove trigger TRIGGER_ID: its function is no longer invoked for that bucket."""
    delete_named(TRIGGERS_PATH, trigger_id, "trigger", "Id")


def trigger_row(item: Mapping[str, Any]) -> tuple[str, ...]:
    state = str(item.get("State", ""))
    if item.get("StateReason"):
        state = f"{state}: {item['StateReason']}"
    return (
        str(item.get("Id", "")),
        str(item.get("FunctionName", "")),
        str(item.get("Bucket", "")),
        str(item.get("Prefix") or "-"),
        str(item.get("Suffix") or "-"),
        ",".join(str(e) for e in item.get("Events", [])),
        state,
        str(item.get("Backlog", 0)),
        str(item.get("Delivered", 0)),
        _when(item.get("LastDelivery")),
        str(item.get("Errors", 0)),
        str(item.get("LoopsStopped", 0)),
    )


def _when(epoch_ms: Any) -> str:
    if not isinstance(epoch_ms, int):
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
