"""`faas ls`, `get`, `rm`, `records`, `doctor`: look at functions and what ran."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import click

from faas.cli.app import (
    MANAGEMENT_TIMEOUT_S,
    cli_context,
    format_table,
    json_option,
    main,
    print_json,
)
from faas.cli.deploy import hex_sha256
from faas.cli.gateway_client import (
    GatewayClient,
    GatewayError,
    GatewayUnreachable,
    function_path,
)
from faas.cli.versions import all_aliases, all_versions, routing_text
from faas.errors import FaasError


@main.command()
@json_option
@click.option("--local", is_flag=True, help="Probe this host instead of asking the server.")
def doctor(local: bool) -> None:
    """Which sandbox protections are active, why not, and what that means for security."""
    context = cli_context()
    source = "this host (local probe)"
    network: Mapping[str, Any] = {}
    sdk: Mapping[str, Any] = {}
    runtimes: list[str] = []
    if local:
        layers = _probe_locally()
    else:
        try:
            health = context.client.request_json("GET", "/health", read_timeout_s=30)
            layers, network = health["sandbox"], health.get("network") or {}
            sdk = health.get("sdk") or {}
            runtimes = list(health.get("runtimes") or [])
            source = f"the server at {context.client.url}"
        except GatewayUnreachable:
            layers = _probe_locally()
    if context.json_output:
        print_json(layers)
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
    if network:
        click.echo(f"FaasNetwork default means: {network.get('default')}")
    if runtimes:
        click.echo(f"runtimes offered: {', '.join(runtimes)}")
    for language, versions in sdk.items():
        click.echo(f"AWS SDK for {language} functions: {versions}")
    unsafe = list(network.get("host_functions") or [])
    if unsafe:
        click.echo(
            "warning: on the host's network (unsafe: they reach its loopback and the "
            f"platform's port): {', '.join(unsafe)}"
        )


def _probe_locally() -> list[dict[str, Any]]:
    from faas.server import probe_sandbox_layers  # noqa: PLC0415 (server code only here)

    return probe_sandbox_layers()


@main.command("ls")
@json_option
def list_functions() -> None:
    """List the functions."""
    context = cli_context()
    functions = list(_all_functions(context.client))
    if context.json_output:
        print_json(functions)
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
    """Show the function NAME: configuration, code, concurrency, versions and aliases, and
    last invocations (NAME:VERSION or NAME:ALIAS shows that version's configuration)."""
    context = cli_context()
    client = context.client
    function = client.request_json("GET", function_path(name), read_timeout_s=MANAGEMENT_TIMEOUT_S)
    configuration = function.get("Configuration", {})
    function_name = str(configuration.get("FunctionName", name))
    described: dict[str, Any] = {
        **function,
        "Versions": _published_versions(client, function_name),
        "Aliases": _aliases(client, function_name),
        "ProvisionedConcurrency": _provisioned_config(client, function_name),
        "Invocations": _recent_invocations(client, function_name, last) if last else [],
    }
    if context.json_output:
        print_json(described)
    else:
        click.echo(describe_function(described))


def _published_versions(client: GatewayClient, name: str) -> list[str]:
    """The numbers of the function's published versions ([] from a server without them)."""
    try:
        found = [str(cfg.get("Version")) for cfg in all_versions(client, name)]
    except GatewayError as exc:
        if exc.code == "UnknownOperationException":
            return []
        raise
    return [version for version in found if version != "$LATEST"]


def _aliases(client: GatewayClient, name: str) -> list[dict[str, Any]]:
    try:
        return list(all_aliases(client, name))
    except GatewayError as exc:
        if exc.code == "UnknownOperationException":
            return []
        raise


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
        rows = [record_row(item) for item in invocations]
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
        ("network", _network_text(cfg)),
        ("mounts", _mounts_text(cfg)),
        ("snap start", str((cfg.get("SnapStart") or {}).get("OptimizationStatus", "Off"))),
        ("log format", _log_format_text(cfg)),
        ("log group", str((cfg.get("LoggingConfig") or {}).get("LogGroup", "-"))),
        # Names only: values may be secrets, and --json has them for whoever needs them.
        ("environment", ", ".join(sorted(variables)) or "-"),
        ("code sha256", hex_sha256(str(cfg.get("CodeSha256", "")))),
        ("code size", f"{cfg.get('CodeSize', '')} bytes"),
        ("modified", str(cfg.get("LastModified", ""))),
        ("revision", str(cfg.get("RevisionId", ""))),
        ("reserved", "-" if reserved is None else str(reserved)),
        ("provisioned", _provisioned_text(provisioned)),
        ("versions", ", ".join(described.get("Versions") or []) or "-"),
        ("aliases", _aliases_text(described.get("Aliases") or [])),
    ]


def _aliases_text(aliases: list[Mapping[str, Any]]) -> str:
    """`live -> 3 (4: 10%), beta -> $LATEST`."""
    shown = []
    for alias in aliases:
        routing = routing_text(alias)
        text = f"{alias.get('Name')} -> {alias.get('FunctionVersion')}"
        shown.append(f"{text} ({routing})" if routing else text)
    return ", ".join(shown) or "-"


def _provisioned_text(provisioned: Mapping[str, Any] | None) -> str:
    if not provisioned:
        return "-"
    return (
        f"{provisioned.get('AllocatedProvisionedConcurrentExecutions', 0)} of "
        f"{provisioned.get('RequestedProvisionedConcurrentExecutions', 0)} ready "
        f"({provisioned.get('Status', '')})"
    )


@main.command("rm")
@json_option
@click.argument("name")
def remove_function(name: str) -> None:
    """Delete the function NAME, with its versions and aliases (NAME:3: version 3 only)."""
    context = cli_context()
    response = context.client.request(
        "DELETE", function_path(name), read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    if context.json_output:
        print_json(response.json())
    else:
        click.echo(f"deleted {name}")


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
    "TYPE",
)


@main.command()
@json_option
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def records(name: str | None, limit: int) -> None:
    """Show the newest invocation records (of NAME, or of every function)."""
    context = cli_context()
    query: dict[str, str | int] = {"function": name} if name else {}
    query["limit"] = limit
    document = context.client.request_json(
        "GET", f"/faas/v1/invocations?{urlencode(query)}", read_timeout_s=MANAGEMENT_TIMEOUT_S
    )
    invocations = document.get("Invocations", [])
    if context.json_output:
        print_json(document)
    elif not invocations:
        click.echo("no invocations")
    else:
        click.echo(format_table(RECORD_COLUMNS, [record_row(item) for item in invocations]))


def record_row(item: Mapping[str, Any]) -> tuple[str, ...]:
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
        _invocation_kind(item),
    )


def _invocation_kind(item: Mapping[str, Any]) -> str:
    """`sync`, or `async #N` (the attempt) for an Event invocation."""
    if item.get("InvocationType") == "Event":
        return f"async #{item.get('Attempt', 1)}"
    return "sync"


def _milliseconds(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:.2f}ms" if isinstance(value, float) else f"{value}ms"
    return "-"


if __name__ == "__main__":
    main()


def _mounts_text(cfg: Mapping[str, Any]) -> str:
    """FileSystemConfigs as `photos:/mnt/photos, ...` (the form `faas deploy --mount` takes)."""
    mounts = [
        f"{str(entry.get('Arn', '')).removeprefix('arn:aws:s3:::')}:{entry.get('LocalMountPath')}"
        for entry in cfg.get("FileSystemConfigs") or []
    ]
    return ", ".join(mounts) or "-"


def _log_format_text(cfg: Mapping[str, Any]) -> str:
    """LoggingConfig's format, with JSON its levels: `JSON (application INFO, system WARN)`."""
    logging = cfg.get("LoggingConfig") or {}
    text = str(logging.get("LogFormat", "Text"))
    if "ApplicationLogLevel" in logging or "SystemLogLevel" in logging:
        text += (
            f" (application {logging.get('ApplicationLogLevel', '-')}, "
            f"system {logging.get('SystemLogLevel', '-')})"
        )
    return text


def _network_text(cfg: Mapping[str, Any]) -> str:
    mode = str(cfg.get("FaasNetwork", "default"))
    allowed = cfg.get("FaasNetworkAllow") or []
    return f"{mode}: {', '.join(allowed)}" if allowed else mode
