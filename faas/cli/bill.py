"""`faas bill [--month YYYY-MM] [--function NAME] [--format table|json|csv]`: what a month
costs, per function, as Lambda would bill it (GET /faas/v1/billing)."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

import click

from faas.cli.app import MANAGEMENT_TIMEOUT_S, cli_context, format_table, main, print_json

COLUMNS = (
    "FUNCTION",
    "REQUESTS",
    "BILLED MS",
    "GB-SECONDS",
    "REQUEST COST",
    "DURATION COST",
    "TOTAL",
)
FIELDS = (
    "FunctionName",
    "Requests",
    "BilledDurationMs",
    "GBSeconds",
    "RequestCost",
    "DurationCost",
    "Total",
)


@main.command("bill")
@click.option("--month", default=None, metavar="YYYY-MM", help="A UTC month (default: this one).")
@click.option("--function", "function", default=None, help="One function's line only.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def bill(month: str | None, function: str | None, output: str) -> None:
    """What a month costs, per function: requests plus GB-seconds, free tier applied."""
    query = {key: value for key, value in (("month", month), ("function", function)) if value}
    context = cli_context()
    path = "/faas/v1/billing" + (f"?{urlencode(query)}" if query else "")
    document = context.client.request_json("GET", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if output == "json" or context.json_output:
        print_json(document)
    elif output == "csv":
        click.echo(bill_csv(document), nl=False)
    else:
        rows = [tuple(str(line.get(f, "")) for f in FIELDS) for line in document["Functions"]]
        click.echo(format_table(COLUMNS, rows))
        free = document.get("FreeTier") or {}
        if free.get("Applied"):
            click.echo(f"free tier: {free.get('Requests')} requests, {free.get('GBSeconds')} GB-s")
        click.echo(f"total {document['Month']}: {document['Total']} {document['Currency']}")


def bill_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for line in document["Functions"]:
        writer.writerow([line.get(field, "") for field in FIELDS])
    return out.getvalue()
