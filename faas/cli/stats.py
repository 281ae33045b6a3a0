"""`faas stats NAME [--since 1h]`: a function's invocations, errors, cold starts, duration
percentiles and cost, from its records."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    UsageProblem,
    cli_context,
    json_option,
    main,
    print_json,
)

SINCE_RE = re.compile(r"^(\d+)([smhdw])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def since_seconds(text: str) -> int:
    """`90s`, `30m`, `1h`, `2d`, `1w` -> seconds; UsageProblem otherwise."""
    found = SINCE_RE.match(text.strip())
    if found is None or int(found.group(1)) < 1:
        raise UsageProblem(f"--since {text!r}: give a number and s, m, h, d or w, e.g. 1h")
    return int(found.group(1)) * UNIT_SECONDS[found.group(2)]


@main.command("stats")
@json_option
@click.argument("name")
@click.option("--since", "since", default="1h", show_default=True, help="e.g. 30m, 1h, 7d.")
def stats(name: str, since: str) -> None:
    """Invocations of NAME since then: errors, cold starts, duration p50/p90/p99, cost."""
    seconds = since_seconds(since)
    context = cli_context()
    path = f"/faas/v1/functions/{quote(name, safe='')}/stats?{urlencode({'since': seconds})}"
    document = context.client.request_json("GET", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        print_json(document)
        return
    for label, value in stats_lines(document, since):
        click.echo(f"{label:<14}{value}")


def stats_lines(document: dict[str, Any], since: str) -> list[tuple[str, str]]:
    durations = document.get("DurationMs") or {}
    errors = document.get("ErrorTypes") or {}
    error_text = str(document.get("Errors", 0))
    if errors:
        error_text += " (" + ", ".join(f"{kind} {n}" for kind, n in sorted(errors.items())) + ")"
    sampled = " (from the newest records)" if document.get("DurationSampled") else ""
    return [
        ("function", f"{document.get('FunctionName')} (last {since})"),
        ("invocations", str(document.get("Invocations", 0))),
        ("errors", error_text),
        ("cold starts", str(document.get("ColdStarts", 0))),
        (
            "duration ms",
            "p50 {} / p90 {} / p99 {} / max {}{}".format(
                *(_ms(durations.get(k)) for k in ("p50", "p90", "p99", "max")), sampled
            ),
        ),
        ("billed", f"{document.get('BilledDurationMs', 0)} ms, {document.get('GBSeconds')} GB-s"),
        ("cost", f"{document.get('Cost')} {document.get('Currency')} (list prices)"),
    ]


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"
