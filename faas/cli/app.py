"""The `faas` command group: global options, one-line errors, the signed client, JSON output.

An HTTP client of the gateway; it never touches the database. Failures a user can cause
print one `error: ...` line: exit 2 for a bad command line, 1 for everything else.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import quote

import click

from faas.cli.credentials import CREDENTIALS_FILE, find_credentials
from faas.cli.gateway_client import (
    GatewayClient,
    one_line,
)
from faas.config import ConfigError, default_config_file, load
from faas.errors import FaasError, InvalidParameterValue

DEFAULT_URL = "http://127.0.0.1:8080"
DEPLOY_TIMEOUT_S = 120.0
MANAGEMENT_TIMEOUT_S = 60.0


class UsageProblem(InvalidParameterValue):
    """The command line itself is wrong (exit 2, like click's own usage errors)."""


@dataclass(frozen=True, slots=True)
class GlobalOptions:
    """What `faas --url ... --json` said, before any command runs."""

    url: str
    json_output: bool
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class CliContext:
    client: GatewayClient
    json_output: bool


class OneLineUsageError(click.UsageError):
    """click's usage error, shown as the CLI's one `error: ...` line (exit 2)."""

    def show(self, file: IO[Any] | None = None) -> None:
        command = self.ctx.command_path if self.ctx is not None else "faas"
        message = f"{one_line(self.format_message())} (see '{command} --help')"
        click.echo(f"error: {message}", err=True, file=file)


class FaasGroup(click.Group):
    """Maps faas errors to one stderr line and an exit code, here at the edge only."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # `faas --bogus`
            raise _one_line_usage(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's arguments, or no such command
            raise _one_line_usage(exc) from None
        except UsageProblem as exc:
            _fail(ctx, exc.message, 2)
        except FaasError as exc:
            _fail(ctx, exc.message, 1)


def _one_line_usage(exc: click.UsageError) -> OneLineUsageError:
    if isinstance(exc, OneLineUsageError):
        return exc
    return OneLineUsageError(exc.format_message(), exc.ctx)


def _fail(ctx: click.Context, message: str, exit_code: int) -> NoReturn:
    click.echo(f"error: {one_line(message)}", err=True)
    ctx.exit(exit_code)


@click.group(cls=FaasGroup)
@click.option(
    "--url",
    envvar="FAAS_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="Where the faas gateway listens (env FAAS_URL).",
)
@click.option("--json", "json_output", is_flag=True, help="Print the server's JSON, for scripts.")
@click.option(
    "--profile",
    default=None,
    help="Sign with this profile of the AWS credentials file (default: the server's own "
    "credentials file on this host, or FAAS_ACCESS_KEY_ID / FAAS_SECRET_ACCESS_KEY).",
)
@click.version_option(package_name="faas")
@click.pass_context
def main(ctx: click.Context, url: str, json_output: bool, profile: str | None) -> None:
    """faas: deploy and invoke Lambda-compatible functions on a faas server."""
    # The URL is checked only by the commands that use it: `faas serve` must not fail on it.
    ctx.obj = GlobalOptions(url, json_output, profile)


JSON_AFTER_COMMAND = "faas.json_output"


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[JSON_AFTER_COMMAND] = True


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--json` after the command name too (`faas records NAME --json`), as well as before."""
    return click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        callback=_remember_json,
        help="Print the server's JSON, for scripts.",
    )(command)


def cli_context() -> CliContext:
    ctx = click.get_current_context()
    options = ctx.find_object(GlobalOptions)
    if options is None:  # only when a command is called without the `faas` group
        options = GlobalOptions(DEFAULT_URL, json_output=False)
    try:
        client = GatewayClient.for_url(options.url)
    except FaasError as exc:
        raise UsageProblem(exc.message) from exc
    ca_bundle = os.environ.get("FAAS_CA_BUNDLE") or os.environ.get("AWS_CA_BUNDLE") or ""
    client = dataclasses.replace(_signing(client, options.profile), ca_bundle=ca_bundle)
    return CliContext(client, options.json_output or bool(ctx.meta.get(JSON_AFTER_COMMAND)))


def _signing(client: GatewayClient, profile: str | None) -> GatewayClient:
    """The client, signing with the credentials found as faas.cli.credentials describes, in
    the region of this host's configuration (the server's, when it runs here)."""
    try:
        settings = load(default_config_file(os.environ, Path.cwd()), os.environ)
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from exc
    try:
        credentials = find_credentials(os.environ, profile, settings.data_dir, Path.home())
    except FaasError as exc:
        raise UsageProblem(exc.message) from exc
    looked_in = str(settings.data_dir / CREDENTIALS_FILE)
    return client.signed_by(credentials, settings.server.region, looked_in)


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; no trailing spaces."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def delete_named(collection_path: str, name: str, what: str, name_field: str) -> None:
    """`DELETE <collection>/<name>`, then one line (or `{name_field: name, "Deleted": true}`
    with --json): the shared end of `faas keys rm` and `faas roles rm`."""
    context = cli_context()
    path = f"{collection_path}/{quote(name, safe='')}"
    context.client.request("DELETE", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        print_json({name_field: name, "Deleted": True})
    else:
        click.echo(f"deleted {what} {name}")
