"""Configuration checks for CreateFunction / UpdateFunctionConfiguration.

Pure: `validate_change` raises `InvalidParameterValue` with the message Lambda would give, or
returns None. Only the fields a change sets are checked (None means "leave as is").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from faas.domain import (
    APPLICATION_LOG_LEVELS,
    ENV_KEY_RE,
    HANDLER_RE,
    LOG_FORMAT_JSON,
    LOG_FORMATS,
    LOG_GROUP_RE,
    MAX_NETWORK_ALLOW,
    MOUNT_TARGET_RE,
    NETWORK_MODES,
    RESERVED_ENV_KEYS,
    SYSTEM_LOG_LEVELS,
    ConfigChange,
    FileSystemConfig,
    Limits,
    LoggingConfig,
    NetworkDestination,
)
from faas.errors import InvalidParameterValue
from faas.runtimes import custom_runtime

# Lambda's limits on free-text fields.
MAX_DESCRIPTION_CHARS = 256
MAX_ROLE_CHARS = 2048
MAX_HANDLER_CHARS = 128
# Lambda's own Handler pattern (any runtime).
LAMBDA_HANDLER_RE = re.compile(r"[^\s]+")
# Lambda's LocalMountPath pattern is MOUNT_TARGET_RE (max 160 characters).
MAX_LOCAL_MOUNT_PATH_CHARS = 160
# Lambda takes one FileSystemConfigs entry; faas takes several buckets (an extension).
MAX_FILE_SYSTEMS = 8
MAX_LOG_GROUP_CHARS = 512
# Lambda's answer to a log level without LogFormat JSON (an absent LogFormat is Text).
LOG_LEVEL_NEEDS_JSON = (
    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your '
    'request or change the LogFormat to "JSON" and try again.'
)
# Lambda's pattern for KMSKeyArn ("" resets it).
KMS_KEY_ARN_RE = re.compile(r"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()")


def validate_change(change: ConfigChange, limits: Limits, runtimes: Collection[str]) -> None:
    """Raise InvalidParameterValue for the first field of `change` Lambda would reject."""
    if change.handler is not None:
        check_handler(change.handler, change.runtime)
    if change.runtime is not None:
        _check_runtime(change.runtime, runtimes)
    _check_sizes(change, limits)
    if change.environment is not None:
        _check_environment(change.environment, limits.max_env_bytes)
    if change.description is not None:
        _check_text(change.description, "description", MAX_DESCRIPTION_CHARS)
    if change.kms_key_arn is not None and not KMS_KEY_ARN_RE.fullmatch(change.kms_key_arn):
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{change.kms_key_arn[:256]}' at 'kMSKeyArn' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()"
        )
    _check_network(change)
    if change.file_system_configs is not None:
        _check_file_systems(change.file_system_configs)
    if change.role is not None:
        _check_text(change.role, "role", MAX_ROLE_CHARS)
    if change.logging is not None:
        _check_logging(change.logging)
    if change.snap_start is not None and not isinstance(change.snap_start, bool):
        raise _constraint(change.snap_start, "snapStart", "Member must be a boolean")


def _check_sizes(change: ConfigChange, limits: Limits) -> None:
    if change.memory_mb is not None:
        _check_range(change.memory_mb, "memorySize", limits.min_memory_mb, limits.max_memory_mb)
    if change.timeout_s is not None:
        _check_range(change.timeout_s, "timeout", limits.min_timeout_s, limits.max_timeout_s)
    if change.ephemeral_storage_mb is not None:
        _check_range(
            change.ephemeral_storage_mb,
            "ephemeralStorage.size",
            limits.min_ephemeral_mb,
            limits.max_ephemeral_mb,
        )


def check_handler(handler: object, runtime: str | None) -> None:
    """faas's Python runtimes (and a change that does not say which runtime) import
    `module.function`; a custom runtime's bootstrap decides what its handler means (it gets it
    as _HANDLER), so there only Lambda's own pattern holds."""
    if not isinstance(handler, str) or len(handler) > MAX_HANDLER_CHARS:
        raise InvalidParameterValue("Handler must be of the form module.function")
    if runtime is not None and custom_runtime(runtime) is not None:
        if not LAMBDA_HANDLER_RE.fullmatch(handler):
            raise _constraint(
                handler, "handler", "Member must satisfy regular expression pattern: [^\\s]+"
            )
        return
    if not HANDLER_RE.fullmatch(handler):
        raise InvalidParameterValue("Handler must be of the form module.function")


def _check_runtime(runtime: object, runtimes: Collection[str]) -> None:
    if not isinstance(runtime, str) or runtime not in runtimes:
        available = ", ".join(runtimes) or "none"
        raise InvalidParameterValue(
            f"Runtime {runtime} is not supported on this host; available: {available}"
        )


def _check_range(value: object, field: str, low: int, high: int) -> None:
    # bool is an int subclass; `true` from JSON is not a memory size.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _constraint(value, field, "Member must be an integer")
    if value < low:
        raise _constraint(value, field, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise _constraint(value, field, f"Member must have value less than or equal to {high}")


def _check_text(value: object, field: str, max_chars: int) -> None:
    if not isinstance(value, str):
        raise _constraint(value, field, "Member must be a string")
    if len(value) > max_chars:
        shown = value[:32] + "..."
        raise _constraint(
            shown, field, f"Member must have length less than or equal to {max_chars}"
        )


def _check_environment(environment: object, max_bytes: int) -> None:
    if not isinstance(environment, Mapping):
        raise _constraint("...", "environment.variables", "Member must be a map of strings")
    _check_env_keys(environment)
    _check_env_values(environment)
    _check_env_size(environment, max_bytes)


def _check_env_keys(environment: Mapping[object, object]) -> None:
    # Reserved first: `_HANDLER` breaks the key pattern too, but "reserved" is the real reason.
    reserved = sorted(str(key) for key in environment if key in RESERVED_ENV_KEYS)
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            f"currently not supported for modification. Reserved keys used in this request: "
            f"{','.join(reserved)}"
        )
    for key in environment:
        if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
            raise InvalidParameterValue(
                "1 validation error detected: Value at 'environment.variables' failed to "
                "satisfy constraint: Map keys must satisfy constraint: [Member must satisfy "
                f"regular expression pattern: {ENV_KEY_RE.pattern}] (key: {key!r})"
            )


def _check_env_values(environment: Mapping[object, object]) -> None:
    for key, value in environment.items():
        if not isinstance(value, str):
            raise InvalidParameterValue(
                f"Environment variable values must be strings; the value of {key} is "
                f"{type(value).__name__}"
            )


def _check_env_size(environment: Mapping[object, object], max_bytes: int) -> None:
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in environment.items())
    if size > max_bytes:
        # Lambda echoes the measured variables; we do not, since values are often secrets.
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the "
            f"environment variables you have provided exceeded the {max_bytes // 1024}KB "
            f"limit ({size} bytes of keys and values, at most {max_bytes})"
        )


def _constraint(value: object, field: str, rule: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {rule}"
    )


def _check_network_allow(entries: Sequence[str]) -> None:
    if len(entries) > MAX_NETWORK_ALLOW:
        raise InvalidParameterValue(f"FaasNetworkAllow takes at most {MAX_NETWORK_ALLOW} entries")
    for entry in entries:
        try:
            NetworkDestination.parse(entry)
        except ValueError as exc:
            raise InvalidParameterValue(f"FaasNetworkAllow: {exc}") from None


def check_network(network: str, allow: Sequence[str]) -> None:
    """The two settings together (a change may set one of them only)."""
    if network == "allowlist" and not allow:
        raise InvalidParameterValue(
            "FaasNetwork allowlist needs FaasNetworkAllow: the destinations it may reach, e.g. "
            '["10.0.0.5/32:5432"]'
        )


def _check_network(change: ConfigChange) -> None:
    if change.network_allow is not None:
        _check_network_allow(change.network_allow)
    if change.network is not None and change.network not in NETWORK_MODES:
        raise InvalidParameterValue(
            f"FaasNetwork must be one of {', '.join(NETWORK_MODES)}, not {change.network!r}"
        )


def _check_file_systems(entries: Sequence[FileSystemConfig]) -> None:
    """Each entry names a bucket (arn:aws:s3:::NAME) and a distinct /mnt/NAME; that the
    bucket exists is the registry's to check."""
    if len(entries) > MAX_FILE_SYSTEMS:
        raise InvalidParameterValue(
            f"FileSystemConfigs takes at most {MAX_FILE_SYSTEMS} entries, not {len(entries)}"
        )
    seen: set[str] = set()
    for entry in entries:
        path = entry.local_mount_path
        if len(path) > MAX_LOCAL_MOUNT_PATH_CHARS or not MOUNT_TARGET_RE.fullmatch(path):
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{path[:200]}' at "
                "'fileSystemConfigs.member.localMountPath' failed to satisfy constraint: Member "
                "must satisfy regular expression pattern: /mnt/[a-zA-Z0-9-_.]+"
            )
        if path in (f"/mnt/{dots}" for dots in (".", "..")):
            raise InvalidParameterValue(f"LocalMountPath {path!r} is not a directory name")
        if path in seen:
            raise InvalidParameterValue(f"LocalMountPath {path} is given twice")
        seen.add(path)
        if ":elasticfilesystem:" in entry.arn or ":s3files:" in entry.arn:
            raise InvalidParameterValue(
                f"{entry.arn[:256]}: faas mounts buckets (arn:aws:s3:::NAME), not EFS or S3 Files "
                "access points"
            )
        if not entry.arn.startswith("arn:aws:s3:::"):
            raise InvalidParameterValue(
                f"FileSystemConfigs Arn {entry.arn[:256]!r} must name a bucket: arn:aws:s3:::NAME"
            )


def _check_logging(logging: LoggingConfig) -> None:
    """Each member against Lambda's model, then levels only with JSON."""
    _check_enum(logging.log_format, "loggingConfig.logFormat", LOG_FORMATS)
    if logging.application_log_level is not None:
        _check_enum(
            logging.application_log_level,
            "loggingConfig.applicationLogLevel",
            APPLICATION_LOG_LEVELS,
        )
    if logging.system_log_level is not None:
        _check_enum(logging.system_log_level, "loggingConfig.systemLogLevel", SYSTEM_LOG_LEVELS)
    if logging.log_group is not None:
        _check_log_group(logging.log_group)
    levels = (logging.application_log_level, logging.system_log_level)
    if logging.log_format != LOG_FORMAT_JSON and levels != (None, None):
        raise InvalidParameterValue(LOG_LEVEL_NEEDS_JSON)


def _check_enum(value: str, field: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise _constraint(
            value[:64], field, f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        )


def _check_log_group(group: str) -> None:
    field = "loggingConfig.logGroup"
    if not group:
        raise _constraint(group, field, "Member must have length greater than or equal to 1")
    if len(group) > MAX_LOG_GROUP_CHARS:
        raise _constraint(
            group[:32] + "...",
            field,
            f"Member must have length less than or equal to {MAX_LOG_GROUP_CHARS}",
        )
    if not LOG_GROUP_RE.fullmatch(group):
        raise _constraint(
            group,
            field,
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        )
