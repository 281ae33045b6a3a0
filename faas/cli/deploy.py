"""`faas deploy`: zip a directory (deterministically) and create or update the function."""

from __future__ import annotations

import base64
import binascii
import io
import stat
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from faas.cli.app import (
    DEPLOY_TIMEOUT_S,
    UsageProblem,
    cli_context,
    json_option,
    main,
    print_json,
)
from faas.cli.gateway_client import (
    GatewayClient,
    GatewayError,
    function_path,
    one_line,
)
from faas.cli.tags import parse_tag_items, tag_function
from faas.domain import (
    APPLICATION_LOG_LEVELS,
    LOG_FORMAT_JSON,
    LOG_FORMAT_TEXT,
    NETWORK_MODES,
    SYSTEM_LOG_LEVELS,
)

# Lambda requires a role on CreateFunction; faas has no IAM, so a fixed placeholder is sent.
PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/faas"
# Zip timestamps cannot predate 1980; a fixed one makes the same tree give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc",)


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
    role: str | None = None
    network: str | None = None
    network_allow: tuple[str, ...] | None = None
    snap_start: bool | None = None  # only ever True from the CLI: the flag turns it on
    # --mount BUCKET:/mnt/PATH, as FileSystemConfigs (replaces the list).
    mounts: tuple[tuple[str, str], ...] | None = None
    # --log-format (Text or JSON), --app-log-level, --system-log-level: LoggingConfig.
    log_format: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    # --layer ARN, as Layers (replaces the list, in the order given).
    layers: tuple[str, ...] | None = None

    def to_lambda(self, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The UpdateFunctionConfiguration / CreateFunction fields for the given options;
        `current`: the function's configuration, when it exists."""
        fields: dict[str, Any] = {
            "Handler": self.handler,
            "Runtime": self.runtime,
            "MemorySize": self.memory_mb,
            "Timeout": self.timeout_s,
            "Description": self.description,
            "Role": self.role,
            "FaasNetwork": self.network,
            "FaasNetworkAllow": list(self.network_allow) if self.network_allow else None,
        }
        if self.ephemeral_storage_mb is not None:
            fields["EphemeralStorage"] = {"Size": self.ephemeral_storage_mb}
        if self.environment is not None:
            fields["Environment"] = {"Variables": dict(self.environment)}
        if self.mounts is not None:
            fields["FileSystemConfigs"] = [
                {"Arn": f"arn:aws:s3:::{bucket}", "LocalMountPath": path}
                for bucket, path in self.mounts
            ]
        if self.layers is not None:
            fields["Layers"] = list(self.layers)
        if self.snap_start is not None:
            fields["SnapStart"] = {"ApplyOn": "PublishedVersions" if self.snap_start else "None"}
        fields["LoggingConfig"] = self._logging_config(current)
        return {key: value for key, value in fields.items() if value is not None}

    def _logging_config(self, current: Mapping[str, Any] | None) -> dict[str, str] | None:
        """LoggingConfig for the logging options given, what they leave out kept from the
        current configuration (Lambda replaces the whole object). A level alone means JSON,
        the only format levels apply to."""
        levels = {
            "ApplicationLogLevel": self.application_log_level,
            "SystemLogLevel": self.system_log_level,
        }
        if self.log_format is None and not any(levels.values()):
            return None
        kept: Mapping[str, Any] = (current or {}).get("LoggingConfig") or {}
        log_format = self.log_format or LOG_FORMAT_JSON
        document = {"LogFormat": log_format}
        for key, given in levels.items():
            # Levels kept only from a JSON configuration; given ones are sent even with Text,
            # for the server to say why not.
            level = given or (kept.get(key) if log_format == LOG_FORMAT_JSON else None)
            if level:
                document[key] = str(level)
        group = kept.get("LogGroup")
        if group and current is not None and group != f"/aws/lambda/{current['FunctionName']}":
            document["LogGroup"] = str(group)
        return document


def parse_mount_items(items: Sequence[str]) -> tuple[tuple[str, str], ...] | None:
    """`BUCKET:/mnt/PATH` items; None when none were given."""
    if not items:
        return None
    mounts = []
    for item in items:
        bucket, colon, path = item.partition(":")
        if not colon or not bucket or not path.startswith("/mnt/"):
            raise UsageProblem(f"--mount {item!r}: give BUCKET:/mnt/PATH, e.g. photos:/mnt/photos")
        mounts.append((bucket, path))
    return tuple(mounts)


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
    "--role",
    default=None,
    help="Execution role ARN (faas roles ls): the function's own API calls get its rights.",
)
@click.option(
    "--network",
    type=click.Choice(NETWORK_MODES),
    default=None,
    help="egress: the world beyond the host, nothing of the host (the server's usual "
    "default); allowlist: only the --allow destinations; none: no network; host: the host's "
    "own network, unsafe (faas extension).",
)
@click.option(
    "--allow",
    "allow",
    multiple=True,
    metavar="CIDR[:PORT[-PORT]]",
    help="With --network allowlist: a destination the function may reach (repeat; replaces "
    "the list), e.g. --allow 10.0.0.5/32:5432.",
)
@click.option(
    "--mount",
    "mount_items",
    multiple=True,
    metavar="BUCKET:/mnt/PATH",
    help="Mount a bucket in the function at /mnt/PATH (repeat; replaces the list; read-only "
    "unless the bucket is writable).",
)
@click.option(
    "--tag",
    "tag_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Tag the function (repeat), e.g. --tag team=payments; faas bill --group-by tag:team.",
)
@click.option(
    "--snap-start",
    is_flag=True,
    default=False,
    help="Fork workers from a snapshot taken after init (faster cold starts).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"], case_sensitive=False),
    default=None,
    help="text: Lambda's plain log lines; json: one JSON object per `logging` record and "
    "per platform line (print() output stays plain).",
)
@click.option(
    "--app-log-level",
    "application_log_level",
    type=click.Choice(APPLICATION_LOG_LEVELS, case_sensitive=False),
    default=None,
    help="The least level of the function's `logging` records kept (JSON logs only; "
    "implies --log-format json).",
)
@click.option(
    "--system-log-level",
    type=click.Choice(SYSTEM_LOG_LEVELS, case_sensitive=False),
    default=None,
    help="The least level of the platform's lines kept: WARN drops START/END/REPORT (JSON "
    "logs only; implies --log-format json).",
)
@click.option(
    "--layer",
    "layer_arns",
    multiple=True,
    metavar="ARN",
    help="A layer version ARN (faas layer versions NAME) bound at /opt (repeat; replaces the "
    "list; later layers win over earlier ones).",
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
    role: str | None,
    network: str | None,
    allow: tuple[str, ...],
    mount_items: tuple[str, ...],
    snap_start: bool,
    tag_items: tuple[str, ...],
    log_format: str | None,
    application_log_level: str | None,
    system_log_level: str | None,
    layer_arns: tuple[str, ...],
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
        role=role,
        network=network,
        network_allow=allow or None,
        mounts=parse_mount_items(mount_items),
        snap_start=True if snap_start else None,
        log_format=_LOG_FORMATS.get(log_format.lower()) if log_format else None,
        application_log_level=application_log_level,
        system_log_level=system_log_level,
        layers=layer_arns or None,
    )
    tags = parse_tag_items(tag_items)
    zip_bytes = load_code(code)
    context = cli_context()
    current = _current_configuration(context.client, name)
    if current is not None:
        configuration = _update_function(context.client, name, zip_bytes, options, current)
        if tags:
            tag_function(context.client, str(configuration["FunctionArn"]), tags)
        outcome = "updated"
    else:
        configuration = _create_function(context.client, name, zip_bytes, options, tags)
        outcome = "created"
    for warning in configuration.get("FaasWarnings", []):
        click.echo(f"warning: {one_line(str(warning))}", err=True)
    if context.json_output:
        print_json(configuration)
    else:
        click.echo(_deploy_summary(name, outcome, configuration))


# --log-format's values -> LogFormat.
_LOG_FORMATS = {"text": LOG_FORMAT_TEXT, "json": LOG_FORMAT_JSON}


def _current_configuration(client: GatewayClient, name: str) -> Mapping[str, Any] | None:
    """The function's configuration; None when there is no such function."""
    try:
        described = client.request_json("GET", function_path(name), read_timeout_s=DEPLOY_TIMEOUT_S)
    except GatewayError as exc:
        if exc.status == 404:
            return None
        raise
    return dict(described.get("Configuration") or {"FunctionName": name})


def _create_function(
    client: GatewayClient,
    name: str,
    zip_bytes: bytes,
    options: ConfigOptions,
    tags: Mapping[str, str],
) -> Any:
    if options.handler is None:
        raise UsageProblem("--handler is required when creating a function")
    request = {
        "FunctionName": name,
        "Role": PLACEHOLDER_ROLE,  # Lambda requires one; --role gives a real one
        "Code": {"ZipFile": base64.b64encode(zip_bytes).decode("ascii")},
        **options.to_lambda(),
    }
    if tags:
        request["Tags"] = dict(tags)
    return client.request_json(
        "POST", "/2015-03-31/functions", request, read_timeout_s=DEPLOY_TIMEOUT_S
    )


def _update_function(
    client: GatewayClient,
    name: str,
    zip_bytes: bytes,
    options: ConfigOptions,
    current: Mapping[str, Any],
) -> Any:
    code = {"ZipFile": base64.b64encode(zip_bytes).decode("ascii")}
    configuration = client.request_json(
        "PUT", function_path(name, "/code"), code, read_timeout_s=DEPLOY_TIMEOUT_S
    )
    changes = options.to_lambda(current)
    if changes:
        configuration = client.request_json(
            "PUT", function_path(name, "/configuration"), changes, read_timeout_s=DEPLOY_TIMEOUT_S
        )
    return configuration


def _deploy_summary(name: str, outcome: str, configuration: Mapping[str, Any]) -> str:
    sha = hex_sha256(str(configuration.get("CodeSha256", "")))[:12]
    return (
        f"deployed {name} ({outcome}) sha256={sha} size={configuration.get('CodeSize')} "
        f"runtime={configuration.get('Runtime')} handler={configuration.get('Handler')} "
        f"memory={configuration.get('MemorySize')}MB timeout={configuration.get('Timeout')}s"
    )


def hex_sha256(encoded: str) -> str:
    """CodeSha256 is base64 on the wire; hex is what `sha256sum fn.zip` prints."""
    try:
        return base64.b64decode(encoded, validate=True).hex()
    except (binascii.Error, ValueError):
        return encoded
