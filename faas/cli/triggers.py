"""`faas trigger`: what invokes a function asynchronously: files that land in (or leave) a
bucket (S3 events), or a schedule (EventBridge rate/cron, Scheduled Events)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    UsageProblem,
    cli_context,
    delete_named,
    format_table,
    json_option,
    main,
    print_json,
)

TRIGGERS_PATH = "/faas/v1/triggers"
TRIGGER_COLUMNS = (
    "ID",
    "FUNCTION",
    "SOURCE",
    "EVENTS",
    "STATE",
    "BACKLOG",
    "DELIVERED",
    "LAST DELIVERY",
    "NEXT",
    "ERRORS",
    "LOOPS STOPPED",
)


@main.group()
def trigger() -> None:
    """Triggers: files that land in (or leave) a bucket, or a schedule, invoke a function
    asynchronously."""


@trigger.command("add")
@json_option
@click.argument("function")
@click.option("--bucket", "bucket_name", default=None, help="The bucket to watch.")
@click.option("--prefix", default="", help="Only keys starting with this (e.g. in/).")
@click.option("--suffix", default="", help="Only keys ending with this (e.g. .jpg).")
@click.option(
    "--events",
    default="created",
    show_default=True,
    help="Comma-separated: created, removed (or s3:ObjectCreated:*, s3:ObjectRemoved:*).",
)
@click.option(
    "--schedule",
    default=None,
    metavar="EXPRESSION",
    help="EventBridge's 'rate(5 minutes)' or 'cron(0 12 * * ? *)', in UTC.",
)
def add_trigger(
    *,
    function: str,
    bucket_name: str | None,
    prefix: str,
    suffix: str,
    events: str,
    schedule: str | None,
) -> None:
    """Invoke FUNCTION for files in a bucket (--bucket) or on a schedule (--schedule)."""
    if (bucket_name is None) == (schedule is None):
        raise UsageProblem("give --bucket NAME or --schedule EXPRESSION")
    body: dict[str, Any] = {"FunctionName": function}
    if schedule is not None:
        body["Schedule"] = schedule
    else:
        body.update(
            Bucket=bucket_name,
            Prefix=prefix,
            Suffix=suffix,
            Events=[e.strip() for e in events.split(",") if e.strip()],
        )
    context = cli_context()
    document = context.client.request_json(
        "POST", TRIGGERS_PATH, body, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(document)
    elif document.get("Type") == "schedule":
        click.echo(
            f"added trigger {document.get('Id')}: {document.get('Schedule')} -> "
            f"{document.get('FunctionName')}"
        )
    else:
        click.echo(
            f"added trigger {document.get('Id')}: {document.get('Bucket')}/"
            f"{document.get('Prefix')}*{document.get('Suffix')} -> "
            f"{document.get('FunctionName')} ({', '.join(document.get('Events', []))})"
        )


@trigger.command("ls")
@json_option
def list_triggers() -> None:
    """List the triggers and their state: watching or scheduled, backlog, deliveries, the
    next tick, errors."""
    context = cli_context()
    document = context.client.request_json(
        "GET", TRIGGERS_PATH, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(document)
        return
    rows = [trigger_row(t) for t in document.get("Triggers", [])]
    click.echo(format_table(TRIGGER_COLUMNS, rows))


@trigger.command("rm")
@json_option
@click.argument("trigger_id")
def remove_trigger(trigger_id: str) -> None:
    """Remove trigger TRIGGER_ID: its function is no longer invoked by it."""
    delete_named(TRIGGERS_PATH, trigger_id, "trigger", "Id")


def trigger_row(item: Mapping[str, Any]) -> tuple[str, ...]:
    state = str(item.get("State", ""))
    if item.get("StateReason"):
        state = f"{state}: {item['StateReason']}"
    if item.get("Type") == "schedule":
        source, events = str(item.get("Schedule", "")), "-"
    else:
        affixes = f"{item.get('Prefix') or ''}*{item.get('Suffix') or ''}"
        source = f"{item.get('Bucket', '')}/{affixes}"
        events = ",".join(str(e) for e in item.get("Events", []))
    return (
        str(item.get("Id", "")),
        str(item.get("FunctionName", "")),
        source,
        events,
        state,
        str(item.get("Backlog", 0)),
        str(item.get("Delivered", 0)),
        _when(item.get("LastDelivery")),
        _when(item.get("NextTick")),
        str(item.get("Errors", 0)),
        str(item.get("LoopsStopped", 0)),
    )


def _when(epoch_ms: Any) -> str:
    if not isinstance(epoch_ms, int):
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
