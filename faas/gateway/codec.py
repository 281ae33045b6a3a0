"""JSON <-> domain at the API edge: FunctionConfiguration documents and request bodies."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import platform
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from faas.domain import (
    AuditEvent,
    ConfigChange,
    DeadLetter,
    FileSystemConfig,
    FunctionConfig,
    LoggingConfig,
    Record,
)
from faas.errors import InvalidParameterValue, InvalidRequestContent

ARCHITECTURE = "arm64" if platform.machine() in {"aarch64", "arm64"} else "x86_64"
# SnapStart.ApplyOn values: Lambda's only ways to say on and off.
SNAP_START_ON = "PublishedVersions"
SNAP_START_OFF = "None"


def configuration_document(cfg: FunctionConfig, arn: str) -> dict[str, Any]:
    """Lambda's FunctionConfiguration, with State/LastUpdateStatus that satisfy the waiters."""
    return {
        "FunctionName": cfg.name,
        "FunctionArn": arn,
        "Runtime": cfg.runtime,
        "Role": cfg.role,
        "Handler": cfg.handler,
        "CodeSize": cfg.code_size,
        "CodeSha256": base64.b64encode(bytes.fromhex(cfg.code_sha256)).decode(),
        "Description": cfg.description,
        "Timeout": cfg.timeout_s,
        "MemorySize": cfg.memory_mb,
        "LastModified": cfg.last_modified,
        "Version": cfg.version,
        "Environment": {"Variables": dict(cfg.environment)},
        "EphemeralStorage": {"Size": cfg.ephemeral_storage_mb},
        "TracingConfig": {"Mode": "PassThrough"},
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [ARCHITECTURE],
        "RevisionId": cfg.revision_id,
        "LoggingConfig": logging_document(cfg),
        "FaasNetwork": cfg.network,
        "FaasNetworkAllow": list(cfg.network_allow),
        "SnapStart": snap_start_document(cfg.snap_start),
        **(
            {
                "FileSystemConfigs": [
                    {"Arn": entry.arn, "LocalMountPath": entry.local_mount_path}
                    for entry in cfg.file_system_configs
                ]
            }
            if cfg.file_system_configs
            else {}
        ),
        **({"KMSKeyArn": cfg.kms_key_arn} if cfg.kms_key_arn else {}),
        **(
            {"Layers": [{"Arn": ref.arn, "CodeSize": ref.code_size} for ref in cfg.layers]}
            if cfg.layers
            else {}
        ),
    }


def logging_document(cfg: FunctionConfig) -> dict[str, str]:
    """Lambda's LoggingConfig: with JSON, both levels (INFO where none was given)."""
    logging = cfg.logging
    document = {"LogFormat": logging.log_format}
    application, system = logging.application_level_in_effect, logging.system_level_in_effect
    if application is not None and system is not None:
        document["ApplicationLogLevel"] = application
        document["SystemLogLevel"] = system
    document["LogGroup"] = logging.group_for(cfg.name)
    return document


def snap_start_document(enabled: bool) -> dict[str, str]:
    """Lambda's SnapStartResponse: what was asked for, and whether it is in effect."""
    return {
        "ApplyOn": SNAP_START_ON if enabled else SNAP_START_OFF,
        "OptimizationStatus": "On" if enabled else "Off",
    }


def record_document(record: Record) -> dict[str, Any]:
    return {
        "RequestId": record.request_id,
        "FunctionName": record.function_name,
        "FunctionVersion": record.function_version,
        "StartTime": _iso_ms(record.started_at_ms),
        "DurationMs": record.duration_ms,
        "BilledDurationMs": record.billed_ms,
        "MemorySize": record.memory_mb,
        "MaxMemoryUsed": record.max_memory_used_mb,
        "InitDurationMs": record.init_duration_ms,
        "Status": str(record.status),
        "ErrorType": record.error_type,
        "Isolation": record.isolation,
        "InvocationType": record.invocation_type,
        "Attempt": record.attempt,
        "EphemeralStorageSize": record.ephemeral_storage_mb,
        "Provisioned": record.provisioned,
    }


def dead_letter_document(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter for the platform API; its payload as JSON when it parses, else text."""
    try:
        payload: Any = orjson.loads(letter.payload)
    except orjson.JSONDecodeError:
        payload = letter.payload.decode("utf-8", "replace")
    return {
        "RequestId": letter.request_id,
        "FunctionName": letter.function_name,
        "Qualifier": letter.qualifier,
        "Payload": payload,
        "EnqueuedAt": _iso_ms(letter.enqueued_at_ms),
        "FailedAt": _iso_ms(letter.failed_at_ms),
        "Attempts": letter.attempts,
        "Condition": letter.condition,
        "LastError": letter.last_error,
    }


def audit_document(event: AuditEvent) -> dict[str, Any]:
    return {
        "Time": _iso_ms(event.time_ms),
        "RequestId": event.request_id,
        "KeyName": event.key_name,
        "AccessKeyId": event.key_id,
        "Action": event.action,
        "Resource": event.resource,
        "Outcome": str(event.outcome),
        "Status": event.status,
        "ErrorCode": event.error_code,
        "Method": event.method,
        "Path": event.path,
        "SourceIp": event.source_ip,
    }


def json_response(document: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/json")


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        document = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidRequestContent("The request body must be a JSON object")
    return document


def zip_from_code(document: Mapping[str, Any], field: str) -> bytes:
    """Decode base64 `ZipFile` (S3 sources: faas.gateway.code_source); container images are
    refused with a clear reason."""
    if "ImageUri" in document:
        raise InvalidParameterValue(
            f"{field}: faas takes code as a zip (ZipFile, or S3Bucket and S3Key naming a faas "
            "bucket); container images are not supported"
        )
    encoded = document.get("ZipFile")
    if not isinstance(encoded, str) or not encoded:
        raise InvalidParameterValue(f"{field}.ZipFile is required (the zip, base64-encoded)")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue(f"{field}.ZipFile is not valid base64") from exc


def config_change(document: Mapping[str, Any]) -> ConfigChange:
    """The configuration fields of CreateFunction / UpdateFunctionConfiguration."""
    environment = _nested(document, "Environment", "Variables", _string_map)
    return ConfigChange(
        runtime=_typed(document, "Runtime", str),
        handler=_typed(document, "Handler", str),
        role=_typed(document, "Role", str),
        memory_mb=_typed(document, "MemorySize", int),
        timeout_s=_typed(document, "Timeout", int),
        ephemeral_storage_mb=_nested(document, "EphemeralStorage", "Size", _int),
        environment=environment,
        description=_typed(document, "Description", str),
        network=_typed(document, "FaasNetwork", str),
        snap_start=_nested(document, "SnapStart", "ApplyOn", _snap_start),
        kms_key_arn=_typed(document, "KMSKeyArn", str),
        network_allow=string_list(document, "FaasNetworkAllow"),
        file_system_configs=_file_systems(document),
        logging=_logging(document),
        layers=string_list(document, "Layers"),
    )


def refuse_unsupported(document: Mapping[str, Any]) -> None:
    """Options whose meaning faas does not provide yet are refused rather than ignored."""
    if document.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValue("PackageType must be Zip: container images are not supported")


def _typed(document: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidParameterValue(f"{key} must be {'an integer' if kind is int else 'a string'}")
    return value


def _nested(
    document: Mapping[str, Any], outer: str, inner: str, convert: Callable[[Any, str], Any]
) -> Any:
    container = document.get(outer)
    if container is None:
        return None
    if not isinstance(container, Mapping):
        raise InvalidParameterValue(f"{outer} must be an object")
    value = container.get(inner)
    if value is None:
        return {} if inner == "Variables" else None
    return convert(value, f"{outer}.{inner}")


def _string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterValue(f"{name} must map strings to strings")
    return dict(value)


def _snap_start(value: Any, name: str) -> bool:
    """SnapStart.ApplyOn -> on/off.

    On Lambda, PublishedVersions applies snapshot start to versions published from now on.
    faas turns it on for $LATEST itself as well (its next workers fork from an initialised
    template), and versions published from it keep it.
    """
    if value == SNAP_START_ON:
        return True
    if value == SNAP_START_OFF:
        return False
    raise InvalidParameterValue(
        f"{name} must be {SNAP_START_ON} or {SNAP_START_OFF}, not {str(value)[:64]!r}"
    )


def string_list(document: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidParameterValue(f"{key} must be a list of strings")
    return tuple(value)


def _file_systems(document: Mapping[str, Any]) -> tuple[FileSystemConfig, ...] | None:
    value = document.get("FileSystemConfigs")
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidParameterValue("FileSystemConfigs must be a list")
    entries = []
    for entry in value:
        if not isinstance(entry, Mapping) or not all(
            isinstance(entry.get(k), str) for k in ("Arn", "LocalMountPath")
        ):
            raise InvalidParameterValue(
                "Each FileSystemConfigs entry needs Arn and LocalMountPath (strings)"
            )
        entries.append(FileSystemConfig(entry["Arn"], entry["LocalMountPath"]))
    return tuple(entries)


# LoggingConfig member -> LoggingConfig field.
_LOGGING_FIELDS = (
    ("LogFormat", "log_format"),
    ("ApplicationLogLevel", "application_log_level"),
    ("SystemLogLevel", "system_log_level"),
    ("LogGroup", "log_group"),
)


def _logging(document: Mapping[str, Any]) -> LoggingConfig | None:
    """LoggingConfig as a whole: a member left out takes its default (LogFormat Text, no
    levels, the function's own log group), as on Lambda, which replaces the configuration."""
    value = document.get("LoggingConfig")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidParameterValue("LoggingConfig must be an object")
    members: dict[str, str] = {}
    for key, attribute in _LOGGING_FIELDS:
        member = value.get(key)
        if member is None:
            continue
        if not isinstance(member, str):
            raise InvalidParameterValue(f"LoggingConfig.{key} must be a string")
        members[attribute] = member
    return LoggingConfig(**members)


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParameterValue(f"{name} must be an integer")
    return value


def _iso_ms(epoch_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def string_field(document: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    """A string member of a request body ("" when absent and not required)."""
    value = document.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        what = "is required (a string)" if required else "must be a string"
        raise InvalidParameterValue(f"{key} {what}")
    return value


def decimal_string(value: Decimal) -> str:
    """A Decimal as JSON wants money and GB-seconds: no exponent, no trailing zeros
    (Decimal("1E+2") -> "100", Decimal("0.10") -> "0.1")."""
    return format(value.normalize(), "f")


def query_max_items(request: web.Request) -> int | None:
    """A list operation's MaxItems query parameter (None when absent); its range is the
    operation's own to check."""
    text = request.query.get("MaxItems")
    try:
        return int(text) if text else None
    except ValueError as exc:
        raise InvalidParameterValue(f"MaxItems must be an integer, got {text!r}") from exc
