"""`faas queue`: the async invocation queue, as the server's /health reports it."""

from __future__ import annotations

from typing import Any

import click

from faas.cli.app import cli_context, format_table, json_option, main, print_json


@main.command()
@json_option
def queue() -> None:
    """Async events waiting or running, and the age of the oldest, per function."""
    context = cli_context()
    health = context.client.request_json("GET", "/health", read_timeout_s=30)
    report: dict[str, Any] = health.get("queue") or {}
    if context.json_output:
        print_json(report)
        return
    functions: dict[str, Any] = report.get("functions") or {}
    state = "dispatching" if report.get("dispatching") else "NOT dispatching (queue.dispatch off)"
    click.echo(
        f"{report.get('events', 0)} events queued, {report.get('running', 0)} running; {state}"
    )
    if functions:
        rows = [
            (name, str(item.get("events", 0)), f"{item.get('oldest_age_s', 0)}s")
            for name, item in sorted(functions.items())
        ]
        click.echo(format_table(("FUNCTION", "EVENTS", "OLDEST"), rows))
