"""`faas invoke`: call a function and print its answer (and its log tail)."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

import click

from faas.cli.app import (
    UsageProblem,
    cli_context,
    json_option,
    main,
    print_json,
)
from faas.cli.gateway_client import (
    HttpResponse,
    function_path,
    one_line,
)


def read_payload(spec: str) -> bytes:
    """`@file` and `-` (stdin) are sent as raw bytes; inline text must be valid JSON."""
    if spec == "-":
        with click.open_file("-", "rb") as stdin:
            data: bytes = stdin.read()
        return data
    if spec.startswith("@"):
        try:
            return Path(spec[1:]).read_bytes()
        except OSError as exc:
            raise UsageProblem(f"cannot read payload file {spec[1:]}: {exc.strerror}") from exc
    try:
        json.loads(spec)
    except ValueError as exc:
        raise UsageProblem(f"--payload is not valid JSON: {exc}") from exc
    return spec.encode("utf-8")


@main.command()
@json_option
@click.argument("name")
@click.option("--payload", "payload_spec", default="{}", help="JSON, @file or - for stdin.")
@click.option("--tail", is_flag=True, help="Print the end of the function's log to stderr.")
@click.option("--qualifier", default=None, help="Version or alias.")
@click.option("--async", "run_async", is_flag=True, help="Queue the event; do not wait.")
def invoke(
    *, name: str, payload_spec: str, tail: bool, qualifier: str | None, run_async: bool
) -> None:
    """Invoke the function NAME and print what it returned (NAME:ALIAS or NAME:3 invokes an
    alias or a version)."""
    payload = read_payload(payload_spec)
    context = cli_context()
    headers = {"X-Amz-Invocation-Type": "Event" if run_async else "RequestResponse"}
    if tail:
        headers["X-Amz-Log-Type"] = "Tail"
    query = {"Qualifier": qualifier} if qualifier else None
    response = context.client.request(
        "POST",
        function_path(name, "/invocations", query),
        body=payload,
        headers=headers,
        read_timeout_s=None,  # a function may run for up to 900 s
    )
    if response.status == 202:
        _report_accepted(response, context.json_output)
        return
    _print_invocation(response, tail)


def _report_accepted(response: HttpResponse, json_output: bool) -> None:
    request_id = response.header("x-amzn-RequestId") or ""
    if json_output:
        print_json({"StatusCode": response.status, "RequestId": request_id})
    else:
        click.echo(f"accepted {request_id}")


def _print_invocation(response: HttpResponse, tail: bool) -> None:
    if tail:
        _print_log_tail(response.header("X-Amz-Log-Result"))
    click.echo(response.body)  # bytes go to stdout untouched, plus a newline
    function_error = response.header("X-Amz-Function-Error")
    if function_error:
        click.echo(
            f"error: function failed: {_function_failure(response, function_error)}", err=True
        )
        click.get_current_context().exit(1)


def _print_log_tail(encoded: str | None) -> None:
    if not encoded:
        return
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        text = f"(undecodable log tail: {encoded[:40]}...)"
    click.echo(text.rstrip("\n"), err=True)


def _function_failure(response: HttpResponse, function_error: str) -> str:
    """`<errorType>: <errorMessage>` from Lambda's error document."""
    try:
        document = json.loads(response.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return one_line(f"{function_error}: {response.body.decode('utf-8', 'replace')}")
    error_type = document.get("errorType") or function_error
    return one_line(f"{error_type}: {document.get('errorMessage', '')}")
