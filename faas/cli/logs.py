"""`faas logs NAME [-f] [--since 10m] [--request-id ID] [--filter TEXT]`: what a function
printed, framed as on Lambda (START, its lines, END, REPORT), oldest first; `-f` then shows
new invocations' lines as they come (a server-sent event stream, not polling)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import click

from faas.cli.app import MANAGEMENT_TIMEOUT_S, cli_context, json_option, main
from faas.cli.gateway_client import GatewayClient
from faas.cli.stats import since_seconds

DATA = b"data: "


@main.command("logs")
@json_option
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep showing new lines as they come.")
@click.option("--since", default="1h", show_default=True, help="How far back: 30s, 10m, 2h, 7d.")
@click.option("--request-id", default=None, help="Only one invocation's lines.")
@click.option(
    "--filter",
    "pattern",
    default=None,
    help='Only lines with these terms: ERROR, "quoted phrase", ?ANY ?OF, -NOT.',
)
def logs(name: str, follow: bool, since: str, request_id: str | None, pattern: str | None) -> None:
    """What NAME's invocations wrote (stdout, stderr, logging), with Lambda's START, END and
    REPORT lines."""
    context = cli_context()
    options = {"request-id": request_id, "filter": pattern}
    chosen = {key: value for key, value in options.items() if value}
    since_ms = int((time.time() - since_seconds(since)) * 1000)

    def show(event: dict[str, Any]) -> None:
        echo_event(event, context.json_output)

    follow_after = history(context.client, name, {**chosen, "since": str(since_ms)}, show)
    if not follow:
        return
    path = f"{logs_path(name)}/follow?{urlencode({**chosen, 'after': follow_after})}"
    try:
        for line in context.client.stream_lines(path, read_timeout_s=None):
            if line.startswith(DATA):
                show(json.loads(line[len(DATA) :]))
    except KeyboardInterrupt:
        return


def logs_path(name: str) -> str:
    return f"/faas/v1/logs/{quote(name, safe='')}"


def history(
    client: GatewayClient, name: str, query: dict[str, str], show: Callable[[dict[str, Any]], None]
) -> int:
    """Show every stored event the query wants, page by page; where a follow starts."""
    token = None
    while True:
        page_query = {**query, **({"token": token} if token else {})}
        document = client.request_json(
            "GET", f"{logs_path(name)}?{urlencode(page_query)}", read_timeout_s=MANAGEMENT_TIMEOUT_S
        )
        for event in document.get("Events") or []:
            show(event)
        token = document.get("NextToken")
        if not token:
            return int(document.get("FollowAfter") or 0)


def echo_event(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(event))
        return
    at = dt.datetime.fromtimestamp(event["timestamp"] / 1000, tz=dt.UTC)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    click.echo(f"{stamp} {event['message']}")
