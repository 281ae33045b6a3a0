"""`faas bill [--month YYYY-MM] [--function NAME | --group-by tag:KEY]
[--format table|json|csv]`: what a month costs, per function or per value of a tag, as
Lambda would bill it (GET /faas/v1/billing)."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

import click

from faas.cli.app import MANAGEMENT_TIMEOUT_S, cli_context, format_table, main, print_json

# (column, field) of every line; the storage and provisioned columns are shown in the table
# only when the month has such charges (they are always in csv and json).
AMOUNTS = (
    ("REQUESTS", "Requests"),
    ("BILLED MS", "BilledDurationMs"),
    ("GB-SECONDS", "GBSeconds"),
    ("REQUEST COST", "RequestCost"),
    ("DURATION COST", "DurationCost"),
    ("STORAGE COST", "EphemeralStorageCost"),
    ("PROVISIONED COST", "ProvisionedConcurrencyCost"),
    ("TOTAL", "Total"),
)
OPTIONAL_FIELDS = frozenset({"EphemeralStorageCost", "ProvisionedConcurrencyCost"})
UNTAGGED = "(untagged)"


@main.command("bill")
@click.option("--month", default=None, metavar="YYYY-MM", help="A UTC month (default: this one).")
@click.option("--function", "function", default=None, help="One function's line only.")
@click.option(
    "--group-by",
    "group_by",
    default=None,
    metavar="tag:KEY",
    help="One line per value of a function tag (e.g. tag:team), untagged functions apart.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def bill(month: str | None, function: str | None, group_by: str | None, output: str) -> None:
    """What a month costs: requests plus GB-seconds (and storage and provisioned
    concurrency), free tier applied."""
    if function and group_by:
        raise click.UsageError("give --function or --group-by, not both")
    options = (("month", month), ("function", function), ("group-by", group_by))
    query = {key: value for key, value in options if value}
    context = cli_context()
    path = "/faas/v1/billing" + (f"?{urlencode(query)}" if query else "")
    document = context.client.request_json("GET", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if output == "json" or context.json_output:
        print_json(document)
    elif output == "csv":
        click.echo(bill_csv(document), nl=False)
    else:
        click.echo(bill_table(document))
        free = document.get("FreeTier") or {}
        if free.get("Applied"):
            click.echo(f"free tier: {free.get('Requests')} requests, {free.get('GBSeconds')} GB-s")
        click.echo(f"total {document['Month']}: {document['Total']} {document['Currency']}")


def _lines(document: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """(first column, its field, the lines) of a bill per function or per tag value."""
    if "Groups" in document:
        key = str(document.get("GroupBy", "tag:")).removeprefix("tag:").upper()
        return key or "TAG", "TagValue", list(document["Groups"])
    return "FUNCTION", "FunctionName", list(document["Functions"])


def bill_table(document: dict[str, Any]) -> str:
    heading, name_field, lines = _lines(document)
    shown = [
        (column, field)
        for column, field in AMOUNTS
        if field not in OPTIONAL_FIELDS or any(_nonzero(line.get(field)) for line in lines)
    ]
    rows = [
        (_name(line.get(name_field)), *(str(line.get(field, "")) for _, field in shown))
        for line in lines
    ]
    return format_table((heading, *(column for column, _ in shown)), rows)


def bill_csv(document: dict[str, Any]) -> str:
    _, name_field, lines = _lines(document)
    fields = [name_field, *(field for _, field in AMOUNTS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for line in lines:
        writer.writerow(["" if line.get(f) is None else line.get(f) for f in fields])
    return out.getvalue()


def _name(value: object) -> str:
    return UNTAGGED if value is None else str(value)


def _nonzero(amount: object) -> bool:
    try:
        return float(str(amount)) != 0
    except ValueError:
        return False
