"""`faas audit`: who called the API, what they did, and what was refused."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

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

AUDIT_PATH = "/faas/v1/audit"
_AGO = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
AUDIT_COLUMNS = ("TIME", "KEY", "SOURCE", "ACTION", "RESOURCE", "OUTCOME", "REQUEST ID")


def since_parameter(text: str, now_s: float) -> str:
    """`--since` for the server: `90s`, `15m`, `1h`, `2d` ago as epoch milliseconds; anything
    else (an ISO 8601 time, epoch ms) as given, for the server to read."""
    ago = _AGO.match(text.strip())
    if ago is None:
        if not text.strip():
            raise UsageProblem("--since needs a duration (15m, 1h, 2d) or an ISO 8601 time")
        return text.strip()
    seconds = int(ago.group(1)) * _UNIT_S[ago.group(2)]
    return str(int((now_s - seconds) * 1000))


@main.command("audit")
@json_option
@click.option(
    "--since",
    default=None,
    help="Only events from this long ago on (30s, 15m, 1h, 2d) or from this ISO 8601 time "
    "(2024-05-01T12:00:00Z) on.",
)
@click.option("--key", default=None, help="Only the calls of this key (its name or key id).")
@click.option("--denied", is_flag=True, help="Only refused calls (403 and rate-limited 429).")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=50, show_default=True)
def audit(since: str | None, key: str | None, denied: bool, limit: int) -> None:
    """Show the newest audit events: management calls and refused calls."""
    context = cli_context()
    query: dict[str, str | int] = {"limit": limit}
    if since is not None:
        query["since"] = since_parameter(since, time.time())
    if key:
        query["key"] = key
    if denied:
        query["outcome"] = "denied"
    document = context.client.request_json(
        "GET", f"{AUDIT_PATH}?{urlencode(query)}", read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    events = document.get("AuditEvents", [])
    if context.json_output:
        print_json(document)
    elif not events:
        click.echo("no audit events")
    else:
        click.echo(format_table(AUDIT_COLUMNS, [audit_row(event) for event in events]))


def audit_row(event: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(event.get("Time", "")),
        str(event.get("KeyName") or "-"),
        str(event.get("SourceIp", "")),
        str(event.get("Action", "")),
        str(event.get("Resource") or "-"),
        outcome_text(event),
        str(event.get("RequestId", "")),
    )


def outcome_text(event: Mapping[str, Any]) -> str:
    """`allowed`; `allowed 404 ResourceNotFoundException` when the call then failed;
    `denied AccessDeniedException`."""
    outcome = str(event.get("Outcome", ""))
    status = event.get("Status")
    code = event.get("ErrorCode")
    if outcome == "denied":
        return f"denied {code}" if code else "denied"
    if isinstance(status, int) and status >= 400:
        return f"{outcome} {status} {code}" if code else f"{outcome} {status}"
    return outcome
