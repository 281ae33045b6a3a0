"""`faas ...`: the command-line client. An HTTP client of the gateway; it never touches the
database. Failures a user can cause print one `error: ...` line: exit 2 for a bad command line,
1 for everything else.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import stat
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import quote, urlencode

import click

from faas.cli_credentials import CREDENTIALS_FILE, find_credentials
from faas.cli_http import (
    GatewayClient,
    GatewayError,
    GatewayUnreachable,
    HttpResponse,
    function_path,
    one_line,
)
from faas.config import ConfigError, default_config_file, load
from faas.errors import FaasError, InvalidParameterValue

DEFAULT_URL = "http://127.0.0.1:8080"
DEPLOY_TIMEOUT_S = 120.0
MANAGEMENT_TIMEOUT_S = 60.0
# Lambda requires a role on CreateFunction; faas has no IAM, so a fixed placeholder is sent.
PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/faas"
# Zip timestamps cannot predate 1980; a fixed one makes the same tree give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc",)


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


@dataclass(frozen=True, slots=True)
class ConfigOptions:
    """The configuration options `deploy` was given; None means "not given, leave as is"."""

    handler: str | None = None
    runtime: str | None = None
    memory_mb: int | None = None
    timeout_s: int | None = None
    ephemeral_storage_mb: int | None = None
    environment: Mapping[str, str] | None = None
    description: str | None = None
    network: str | None = None
    snap_start: bool | None = None  # only ever True from the CLI: the flag turns it on

    def to_lambda(self) -> dict[str, Any]:
        """The UpdateFunctionConfiguration / CreateFunction fields for the given options."""
        fields: dict[str, Any] = {
            "Handler": self.handler,
            "Runtime": self.runtime,
            "MemorySize": self.memory_mb,
            "Timeout": self.timeout_s,
            "Description": self.description,
            "FaasNetwork": self.network,
        }
        if self.ephemeral_storage_mb is not None:
            fields["EphemeralStorage"] = {"Size": self.ephemeral_storage_mb}
        if self.environment is not None:
            fields["Environment"] = {"Variables": dict(self.environment)}
        if self.snap_start is not None:
            fields["SnapStart"] = {"ApplyOn": "PublishedVersions" if self.snap_start else "None"}
        return {key: value for key, value in fields.items() if value is not None}


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


def _cli_context() -> CliContext:
    ctx = click.get_current_context()
    options = ctx.find_object(GlobalOptions)
    if options is None:  # only when a command is called without the `faas` group
        options = GlobalOptions(DEFAULT_URL, json_output=False)
    try:
        client = GatewayClient.for_url(options.url)
    except FaasError as exc:
        raise UsageProblem(exc.message) from exc
    client = _signing(client, options.profile)
    return CliContext(client, options.json_output or bool(ctx.meta.get(JSON_AFTER_COMMAND)))


def _signing(client: GatewayClient, profile: str | None) -> GatewayClient:
    """The client, signing with the credentials found as faas.cli_credentials describes, in
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


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


# --- serve -------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default from config).")
@click.option("--port", type=int, default=None, help="Port to listen on (default from config).")
@click.option("--data-dir", default=None, help="Where the database and code live.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML settings file (default: FAAS_CONFIG, else ./config.toml if present).",
)
def serve(
    host: str | None, port: int | None, data_dir: str | None, config_file: Path | None
) -> None:
    """Run the faas server in the foreground until SIGTERM or SIGINT."""
    file = config_file or default_config_file(os.environ, Path.cwd())
    overrides = {"server.host": host, "server.port": port, "server.data_dir": data_dir}
    try:
        settings = load(file, os.environ, overrides)
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from exc
    # The server's dependencies (SQLAlchemy, the pool) load only when it actually runs.
    from faas.server import serve as run_server  # noqa: PLC0415

    sys.exit(run_server(settings))


# --- deploy ------------------------------------------------------------------------------


def parse_env_items(items: Sequence[str]) -> dict[str, str] | None:
    """`KEY=VALUE` items (the value may contain '='); None when none were given."""
    if not items:
        return None
    variables: dict[str, str] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise UsageProblem(f"--env expects KEY=VALUE, got {item!r}")
        variables[key] = value
    return variables


def load_code(path: Path) -> bytes:
    """The zip to upload: a zip file as is, or a directory zipped in memory."""
    if path.is_dir():
        return zip_directory(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return path.read_bytes()
    if not path.exists():
        raise UsageProblem(f"{path} does not exist")
    raise UsageProblem(f"{path} is neither a zip file nor a directory")


def zip_directory(root: Path) -> bytes:
    """Zip a code directory deterministically: the same tree always gives the same bytes."""
    real_root = root.resolve()
    entries = sorted(_code_files(real_root, real_root, frozenset({real_root})))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _zip_mode(source) << 16
            archive.writestr(info, source.read_bytes())
    return buffer.getvalue()


def _code_files(
    real_root: Path, directory: Path, ancestors: frozenset[Path]
) -> Iterator[tuple[str, Path]]:
    """(name in zip, real file) for every file under `directory`, following inner symlinks."""
    for child in directory.iterdir():
        if child.name in SKIPPED_DIRS or child.name.endswith(SKIPPED_SUFFIXES):
            continue
        target = _inside_target(real_root, child)
        if target.is_dir():
            if target in ancestors:
                raise UsageProblem(f"symlink loop at {child}")
            for name, source in _code_files(real_root, target, ancestors | {target}):
                yield f"{child.name}/{name}", source
        elif target.is_file():
            yield child.name, target


def _inside_target(real_root: Path, child: Path) -> Path:
    """Where `child` really is; a symlink must not lead outside the code directory."""
    if not child.is_symlink():
        return child
    target = child.resolve()
    if not target.is_relative_to(real_root):
        raise UsageProblem(f"{child} is a symlink to {target}, outside the code directory")
    if not target.exists():
        raise UsageProblem(f"{child} is a broken symlink")
    return target


def _zip_mode(source: Path) -> int:
    # Only the executable bit is kept, so the umask of whoever checked out the code does not
    # change the bytes.
    executable = source.stat().st_mode & stat.S_IXUSR
    return stat.S_IFREG | (0o755 if executable else 0o644)


@main.command()
@json_option
@click.argument("code", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Function name.")
@click.option("--handler", default=None, help="module.function (required when creating).")
@click.option("--runtime", default=None, help="e.g. python3.11 (server default if omitted).")
@click.option("--memory", "memory_mb", type=int, default=None, help="Memory in MB.")
@click.option("--timeout", "timeout_s", type=int, default=None, help="Timeout in seconds.")
@click.option(
    "--ephemeral-storage",
    "ephemeral_storage_mb",
    type=int,
    default=None,
    help="Scratch space in MB.",
)
@click.option("--env", "env_items", multiple=True, help="KEY=VALUE; replaces the environment.")
@click.option("--description", default=None, help="Free text.")
@click.option(
    "--network",
    type=click.Choice(["default", "none"]),
    default=None,
    help="none: no network at all for this function (faas extension; default: the host's).",
)
@click.option(
    "--snap-start",
    is_flag=True,
    default=False,
    help="Fork workers from a snapshot taken after init (faster cold starts).",
)
def deploy(
    *,
    code: Path,
    name: str,
    handler: str | None,
    runtime: str | None,
    memory_mb: int | None,
    timeout_s: int | None,
    ephemeral_storage_mb: int | None,
    env_items: tuple[str, ...],
    description: str | None,
    network: str | None,
    snap_start: bool,
) -> None:
    """Deploy CODE (a zip file or a directory) as the function --name: create it, or update
    its code and the given options if it exists."""
    options = ConfigOptions(
        handler=handler,
        runtime=runtime,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        ephemeral_storage_mb=ephemeral_storage_mb,
        environment=parse_env_items(env_items),
        description=description,
        network=network,
        snap_start=True if snap_start else None,
    )
    zip_bytes = load_code(code)
    context = _cli_context()
    if _function_exists(context.client, name):
        configuration = _update_function(context.client, name, zip_bytes, options)
        outcome = "updated"
    else:
        configuration = _create_function(context.client, name, zip_bytes, options)
        outcome = "created"
    for warning in configuration.get("FaasWarnings", []):
        click.echo(f"warning: {one_line(str(warning))}", err=True)
    if context.json_output:
        _print_json(configuration)
    else:
        click.echo(_deploy_summary(name, outcome, configuration))


def _function_exists(client: GatewayClient, name: str) -> bool:
    try:
        client.request_json("GET", function_path(name), read_timeout_s=DEPLOY_TIMEOUT_S)
    except GatewayError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _create_function(
    client: GatewayClient, name: str, zip_bytes: bytes, options: ConfigOptions
) -> Any:
    if options.handler is None:
        raise UsageProblem("--handler is required when creating a function")
    request = {
        "FunctionName": name,
        "Role": PLACEHOLDER_ROLE,
        "Code": {"ZipFile": base64.b64encode(zip_bytes).decode("ascii")},
        **options.to_lambda(),
    }
    return client.request_json(
        "POST", "/2015-03-31/functions", request, read_timeout_s=DEPLOY_TIMEOUT_S
    )


def _update_function(
    client: GatewayClient, name: str, zip_bytes: bytes, options: ConfigOptions
) -> Any:
    code = {"ZipFile": base64.b64encode(zip_bytes).decode("ascii")}
    configuration = client.request_json(
        "PUT", function_path(name, "/code"), code, read_timeout_s=DEPLOY_TIMEOUT_S
    )
    changes = options.to_lambda()
    if changes:
        configuration = client.request_json(
            "PUT", function_path(name, "/configuration"), changes, read_timeout_s=DEPLOY_TIMEOUT_S
        )
    return configuration


def _deploy_summary(name: str, outcome: str, configuration: Mapping[str, Any]) -> str:
    sha = _hex_sha256(str(configuration.get("CodeSha256", "")))[:12]
    return (
        f"deployed {name} ({outcome}) sha256={sha} size={configuration.get('CodeSize')} "
        f"runtime={configuration.get('Runtime')} handler={configuration.get('Handler')} "
        f"memory={configuration.get('MemorySize')}MB timeout={configuration.get('Timeout')}s"
    )


# --- invoke ------------------------------------------------------------------------------


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
    """Invoke the function NAME and print what it returned."""
    payload = read_payload(payload_spec)
    context = _cli_context()
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
        _print_json({"StatusCode": response.status, "RequestId": request_id})
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


# --- ls / rm / records -------------------------------------------------------------------


@main.command()
@json_option
@click.option("--local", is_flag=True, help="Probe this host instead of asking the server.")
def doctor(local: bool) -> None:
    """Which sandbox protections are active, why not, and what that means for security."""
    context = _cli_context()
    source = "this host (local probe)"
    if local:
        layers = _probe_locally()
    else:
        try:
            layers = context.client.request_json("GET", "/health", read_timeout_s=30)["sandbox"]
            source = f"the server at {context.client.url}"
        except GatewayUnreachable:
            layers = _probe_locally()
    if context.json_output:
        _print_json(layers)
        return
    click.echo(f"sandbox layers on {source}:")
    rows = [
        (
            str(layer["layer"]),
            "active" if layer["active"] else "INACTIVE",
            str(layer["detail"]),
            str(layer["meaning"]),
        )
        for layer in layers
    ]
    click.echo(format_table(("LAYER", "STATE", "HOW / WHY NOT", "WHAT IT MEANS"), rows))


def _probe_locally() -> list[dict[str, Any]]:
    from faas.server import probe_sandbox_layers  # noqa: PLC0415 (server code only here)

    return probe_sandbox_layers()


@main.command("ls")
@json_option
def list_functions() -> None:
    """List the functions."""
    context = _cli_context()
    functions = list(_all_functions(context.client))
    if context.json_output:
        _print_json(functions)
    elif not functions:
        click.echo("no functions")
    else:
        click.echo(format_table(FUNCTION_COLUMNS, [_function_row(cfg) for cfg in functions]))


def _all_functions(client: GatewayClient) -> Iterator[dict[str, Any]]:
    marker: str | None = None
    seen: set[str] = set()
    while True:
        query = f"?{urlencode({'Marker': marker})}" if marker else ""
        page = client.request_json(
            "GET", f"/2015-03-31/functions{query}", read_timeout_s=MANAGEMENT_TIMEOUT_S
        )
        yield from page.get("Functions", [])
        marker = page.get("NextMarker")
        if not marker:
            return
        if marker in seen:  # a server bug must not make the CLI loop forever
            raise FaasError(f"the server repeated the list marker {marker!r}")
        seen.add(marker)


FUNCTION_COLUMNS = ("NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "LAST MODIFIED")


def _function_row(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(cfg.get("FunctionName", "")),
        str(cfg.get("Runtime", "")),
        str(cfg.get("Handler", "")),
        f"{cfg.get('MemorySize', '')}MB",
        f"{cfg.get('Timeout', '')}s",
        str(cfg.get("LastModified", "")),
    )


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; no trailing spaces."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


@main.command("get")
@json_option
@click.argument("name")
@click.option(
    "--last",
    type=click.IntRange(min=0, max=100),
    default=5,
    show_default=True,
    help="How many of the newest invocations to show.",
)
def get_function(name: str, last: int) -> None:
    """Show the function NAME: configuration, code, concurrency and last invocations."""
    context = _cli_context()
    client = context.client
    function = client.request_json("GET", function_path(name), read_timeout_s=MANAGEMENT_TIMEOUT_S)
    configuration = function.get("Configuration", {})
    function_name = str(configuration.get("FunctionName", name))
    described: dict[str, Any] = {
        **function,
        "ProvisionedConcurrency": _provisioned_config(client, function_name),
        "Invocations": _recent_invocations(client, function_name, last) if last else [],
    }
    if context.json_output:
        _print_json(described)
    else:
        click.echo(describe_function(described))


def _provisioned_config(client: GatewayClient, name: str) -> Any:
    path = f"/2019-09-30/functions/{quote(name, safe='')}/provisioned-concurrency"
    try:
        return client.request_json(
            "GET", f"{path}?Qualifier=%24LATEST", read_timeout_s=MANAGEMENT_TIMEOUT_S
        )
    except GatewayError as exc:
        if exc.code == "ProvisionedConcurrencyConfigNotFoundException":
            return None
        raise


def _recent_invocations(client: GatewayClient, name: str, limit: int) -> list[Any]:
    query = urlencode({"function": name, "limit": limit})
    document = client.request_json(
        "GET", f"/faas/v1/invocations?{query}", read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    return list(document.get("Invocations", []))


def describe_function(described: Mapping[str, Any]) -> str:
    """`faas get`'s text: one `key: value` line per fact, then the newest invocations."""
    cfg = described.get("Configuration", {})
    lines = [f"{key + ':':<14}{value}" for key, value in _facts(described, cfg)]
    invocations = described.get("Invocations") or []
    if invocations:
        rows = [_record_row(item) for item in invocations]
        lines += ["", "last invocations:", format_table(RECORD_COLUMNS, rows)]
    else:
        lines += ["", "last invocations: none"]
    return "\n".join(lines)


def _facts(described: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[tuple[str, str]]:
    variables = (cfg.get("Environment") or {}).get("Variables") or {}
    reserved = (described.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    provisioned = described.get("ProvisionedConcurrency")
    return [
        ("name", str(cfg.get("FunctionName", ""))),
        ("arn", str(cfg.get("FunctionArn", ""))),
        ("runtime", str(cfg.get("Runtime", ""))),
        ("handler", str(cfg.get("Handler", ""))),
        ("memory", f"{cfg.get('MemorySize', '')} MB"),
        ("timeout", f"{cfg.get('Timeout', '')} s"),
        ("/tmp", f"{(cfg.get('EphemeralStorage') or {}).get('Size', '')} MB"),
        ("network", str(cfg.get("FaasNetwork", "default"))),
        ("snap start", str((cfg.get("SnapStart") or {}).get("OptimizationStatus", "Off"))),
        # Names only: values may be secrets, and --json has them for whoever needs them.
        ("environment", ", ".join(sorted(variables)) or "-"),
        ("code sha256", _hex_sha256(str(cfg.get("CodeSha256", "")))),
        ("code size", f"{cfg.get('CodeSize', '')} bytes"),
        ("modified", str(cfg.get("LastModified", ""))),
        ("revision", str(cfg.get("RevisionId", ""))),
        ("reserved", "-" if reserved is None else str(reserved)),
        ("provisioned", _provisioned_text(provisioned)),
    ]


def _provisioned_text(provisioned: Mapping[str, Any] | None) -> str:
    if not provisioned:
        return "-"
    return (
        f"{provisioned.get('AllocatedProvisionedConcurrentExecutions', 0)} of "
        f"{provisioned.get('RequestedProvisionedConcurrentExecutions', 0)} ready "
        f"({provisioned.get('Status', '')})"
    )


def _hex_sha256(encoded: str) -> str:
    """CodeSha256 is base64 on the wire; hex is what `sha256sum fn.zip` prints."""
    try:
        return base64.b64decode(encoded, validate=True).hex()
    except (binascii.Error, ValueError):
        return encoded


@main.command("rm")
@json_option
@click.argument("name")
def remove_function(name: str) -> None:
    """Delete the function NAME."""
    context = _cli_context()
    response = context.client.request(
        "DELETE", function_path(name), read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        _print_json(response.json())
    else:
        click.echo(f"deleted {name}")


# --- keys ----------------------------------------------------------------------------------

KEYS_PATH = "/faas/v1/keys"
# Without --policy a new key may invoke any function, and nothing else.
INVOKE_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
}


@main.group()
def keys() -> None:
    """Access keys: who may call this server, and what each may do (an IAM-style policy)."""


def read_policy(path: Path | None) -> Any:
    if path is None:
        return INVOKE_ONLY_POLICY
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise UsageProblem(f"cannot read the policy file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageProblem(f"the policy file {path} is not JSON: {exc}") from exc


@keys.command("create")
@json_option
@click.argument("name")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="IAM-style policy document (JSON file). Default: may invoke any function, nothing else.",
)
def create_key(name: str, policy_file: Path | None) -> None:
    """Create the access key NAME; its secret is shown this once."""
    policy = read_policy(policy_file)
    context = _cli_context()
    document = context.client.request_json(
        "POST", KEYS_PATH, {"Name": name, "Policy": policy}, read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    _print_new_key(document, context.json_output, "created")


@keys.command("ls")
@json_option
def list_keys() -> None:
    """List the access keys (never their secrets)."""
    context = _cli_context()
    document = context.client.request_json("GET", KEYS_PATH, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        _print_json(document)
        return
    rows = [
        (
            str(key.get("Name", "")),
            str(key.get("AccessKeyId", "")),
            str(key.get("CreateDate", "")),
            _policy_summary(key.get("Policy")),
        )
        for key in document.get("AccessKeys", [])
    ]
    click.echo(format_table(("NAME", "ACCESS KEY ID", "CREATED", "POLICY"), rows))


@keys.command("rm")
@json_option
@click.argument("name")
def remove_key(name: str) -> None:
    """Delete the access key NAME: requests signed with it are refused from now on."""
    context = _cli_context()
    path = f"{KEYS_PATH}/{quote(name, safe='')}"
    context.client.request("DELETE", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    if context.json_output:
        _print_json({"Name": name, "Deleted": True})
    else:
        click.echo(f"deleted key {name}")


@keys.command("rotate")
@json_option
@click.argument("name")
def rotate_key(name: str) -> None:
    """Give the key NAME a new id and secret (same policy); the old pair stops working now."""
    context = _cli_context()
    path = f"{KEYS_PATH}/{quote(name, safe='')}/rotate"
    document = context.client.request_json("POST", path, read_timeout_s=MANAGEMENT_TIMEOUT_S)
    _print_new_key(document, context.json_output, "rotated")


def _print_new_key(document: Mapping[str, Any], json_output: bool, outcome: str) -> None:
    key = document.get("AccessKey", {})
    if json_output:
        _print_json(document)
        return
    click.echo(
        f"{outcome} key {key.get('Name')}\n"
        f"aws_access_key_id = {key.get('AccessKeyId')}\n"
        f"aws_secret_access_key = {key.get('SecretAccessKey')}\n"
        "(the secret is shown this once: store it now)"
    )


def _policy_summary(policy: Any) -> str:
    """`Allow lambda:InvokeFunction on *; Deny ...`, one statement after another."""
    statements = policy.get("Statement", []) if isinstance(policy, Mapping) else []
    if isinstance(statements, Mapping):
        statements = [statements]
    parts = []
    for statement in statements:
        if not isinstance(statement, Mapping):
            continue
        actions = statement.get("Action") or ["not " + str(statement.get("NotAction"))]
        resources = statement.get("Resource") or ["not " + str(statement.get("NotResource"))]
        parts.append(f"{statement.get('Effect')} {_joined(actions)} on {_joined(resources)}")
    return "; ".join(parts) or "-"


def _joined(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


RECORD_COLUMNS = (
    "REQUEST ID",
    "FUNCTION",
    "VERSION",
    "START",
    "DURATION",
    "BILLED",
    "MEMORY",
    "MAX USED",
    "INIT",
    "STATUS",
    "ERROR",
)


@main.command()
@json_option
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def records(name: str | None, limit: int) -> None:
    """Show the newest invocation records (of NAME, or of every function)."""
    context = _cli_context()
    query: dict[str, str | int] = {"function": name} if name else {}
    query["limit"] = limit
    document = context.client.request_json(
        "GET", f"/faas/v1/invocations?{urlencode(query)}", read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    invocations = document.get("Invocations", [])
    if context.json_output:
        _print_json(document)
    elif not invocations:
        click.echo("no invocations")
    else:
        click.echo(format_table(RECORD_COLUMNS, [_record_row(item) for item in invocations]))


def _record_row(item: Mapping[str, Any]) -> tuple[str, ...]:
    init = item.get("InitDurationMs")
    return (
        str(item.get("RequestId", "")),
        str(item.get("FunctionName", "")),
        str(item.get("FunctionVersion", "")),
        str(item.get("StartTime", "")),
        _milliseconds(item.get("DurationMs")),
        _milliseconds(item.get("BilledDurationMs")),
        f"{item.get('MemorySize', '')}MB",
        f"{item.get('MaxMemoryUsed', '')}MB",
        "-" if init is None else _milliseconds(init),
        str(item.get("Status", "")),
        str(item.get("ErrorType") or "-"),
    )


def _milliseconds(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:.2f}ms" if isinstance(value, float) else f"{value}ms"
    return "-"


if __name__ == "__main__":
    main()
