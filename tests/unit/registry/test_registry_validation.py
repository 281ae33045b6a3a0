from __future__ import annotations

from typing import Any

import pytest

from faas.domain import ConfigChange, Limits, LoggingConfig
from faas.errors import InvalidParameterValue
from faas.registry.validation import LOG_LEVEL_NEEDS_JSON, validate_change

RUNTIMES = ("python3.11", "python3.12", "provided.al2023")
LIMITS = Limits()


def check(**fields: Any) -> None:
    validate_change(ConfigChange(**fields), LIMITS, RUNTIMES)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"handler": "app.handler"},
        {"handler": "pkg.sub.module.handler"},
        {"handler": "_private.run"},
        {"runtime": "python3.12"},
        # A custom runtime's bootstrap decides what its handler means: Lambda's own pattern.
        {"runtime": "provided.al2023", "handler": "function.handler"},
        {"runtime": "provided.al2023", "handler": "bootstrap"},
        {"runtime": "provided.al2023", "handler": "my-handler/v2"},
        {"memory_mb": 128},
        {"memory_mb": 10240},
        {"timeout_s": 1},
        {"timeout_s": 900},
        {"ephemeral_storage_mb": 512},
        {"ephemeral_storage_mb": 10240},
        {"environment": {}},
        {"environment": {"A": "1", "LOG_LEVEL": "debug", "x_y_1": ""}},
        {"environment": {"BIG": "v" * (4096 - 3)}},
        {"description": "d" * 256},
        {"role": "arn:aws:iam::123456789012:role/anything"},
    ],
)
def test_accepted(fields: dict[str, Any]) -> None:
    check(**fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"handler": "handler"}, "Handler must be of the form module.function"),
        ({"handler": "app."}, "Handler must be of the form module.function"),
        ({"handler": "app.handler\n"}, "Handler must be of the form module.function"),
        ({"handler": "../x.handler"}, "Handler must be of the form module.function"),
        ({"handler": "1app.handler"}, "Handler must be of the form module.function"),
        (
            {"runtime": "python3.9"},
            "Runtime python3.9 is not supported on this host; available: python3.11, "
            "python3.12, provided.al2023",
        ),
        (
            {"runtime": "provided.al2023", "handler": "two words"},
            "Value 'two words' at 'handler' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern: [^\\s]+",
        ),
        ({"runtime": "python3.12", "handler": "bootstrap"}, "module.function"),
        (
            {"memory_mb": 127},
            "Value '127' at 'memorySize' failed to satisfy constraint: "
            "Member must have value greater than or equal to 128",
        ),
        (
            {"memory_mb": 10241},
            "Value '10241' at 'memorySize' failed to satisfy constraint: "
            "Member must have value less than or equal to 10240",
        ),
        ({"memory_mb": True}, "at 'memorySize' failed to satisfy constraint"),
        ({"memory_mb": "256"}, "at 'memorySize' failed to satisfy constraint"),
        ({"timeout_s": 0}, "Value '0' at 'timeout' failed to satisfy constraint"),
        ({"timeout_s": 901}, "Member must have value less than or equal to 900"),
        ({"ephemeral_storage_mb": 511}, "at 'ephemeralStorage.size'"),
        ({"ephemeral_storage_mb": 10241}, "at 'ephemeralStorage.size'"),
        ({"environment": {"1BAD": "x"}}, "Map keys must satisfy constraint"),
        ({"environment": {"has-dash": "x"}}, "Map keys must satisfy constraint"),
        ({"environment": {"": "x"}}, "Map keys must satisfy constraint"),
        (
            {"environment": {"OK": "1", "AWS_REGION": "x", "_HANDLER": "y"}},
            "contains reserved keys that are currently not supported for modification. "
            "Reserved keys used in this request: AWS_REGION,_HANDLER",
        ),
        ({"environment": {"N": 5}}, "values must be strings"),
        ({"environment": {"BIG": "v" * (4096 - 2)}}, "exceeded the 4KB limit"),
        # The size counts utf-8 bytes, not characters.
        ({"environment": {"U": "\u00e9" * 2048}}, "exceeded the 4KB limit"),
        ({"environment": ["A=1"]}, "environment.variables"),
        ({"description": "d" * 257}, "at 'description'"),
        ({"role": 42}, "at 'role'"),
    ],
)
def test_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check(**fields)
    assert message in caught.value.message


def test_limits_come_from_the_host() -> None:
    small = Limits(max_memory_mb=512, max_env_bytes=10)
    with pytest.raises(InvalidParameterValue, match="less than or equal to 512"):
        validate_change(ConfigChange(memory_mb=1024), small, RUNTIMES)
    with pytest.raises(InvalidParameterValue, match="environment variables"):
        validate_change(ConfigChange(environment={"KEY": "12345678"}), small, RUNTIMES)


def test_oversized_environment_message_does_not_leak_values() -> None:
    secret = "s3cr3t-" + "x" * 5000
    with pytest.raises(InvalidParameterValue) as caught:
        check(environment={"TOKEN": secret})
    assert "s3cr3t" not in caught.value.message


@pytest.mark.parametrize(
    "logging",
    [
        LoggingConfig(),
        LoggingConfig(log_format="JSON"),
        LoggingConfig("JSON", application_log_level="TRACE", system_log_level="DEBUG"),
        LoggingConfig("JSON", application_log_level="FATAL", system_log_level="WARN"),
        LoggingConfig(log_group="/aws/lambda/other"),
        LoggingConfig(log_group="a.b-c_d/#E9"),
        LoggingConfig(log_group="g" * 512),
    ],
)
def test_logging_configs_lambda_accepts(logging: LoggingConfig) -> None:
    check(logging=logging)


@pytest.mark.parametrize(
    ("logging", "message"),
    [
        (LoggingConfig(log_format="json"), "Value 'json' at 'loggingConfig.logFormat'"),
        (LoggingConfig(log_format="XML"), "Member must satisfy enum value set: [JSON, Text]"),
        (
            LoggingConfig("JSON", application_log_level="WARNING"),
            "Value 'WARNING' at 'loggingConfig.applicationLogLevel' failed to satisfy "
            "constraint: Member must satisfy enum value set: "
            "[TRACE, DEBUG, INFO, WARN, ERROR, FATAL]",
        ),
        (
            LoggingConfig("JSON", system_log_level="ERROR"),
            "at 'loggingConfig.systemLogLevel' failed to satisfy constraint: Member must "
            "satisfy enum value set: [DEBUG, INFO, WARN]",
        ),
        (LoggingConfig(application_log_level="INFO"), LOG_LEVEL_NEEDS_JSON),
        (LoggingConfig(system_log_level="WARN"), LOG_LEVEL_NEEDS_JSON),
        (
            LoggingConfig(log_group=""),
            "at 'loggingConfig.logGroup' failed to satisfy constraint: Member must have "
            "length greater than or equal to 1",
        ),
        (
            LoggingConfig(log_group="g" * 513),
            "Member must have length less than or equal to 512",
        ),
        (
            LoggingConfig(log_group="my group"),
            "Value 'my group' at 'loggingConfig.logGroup' failed to satisfy constraint: Member "
            "must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ),
        (LoggingConfig(log_group="/aws/lambda/x\n"), "regular expression pattern"),
    ],
)
def test_logging_configs_lambda_refuses(logging: LoggingConfig, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        check(logging=logging)
    assert message in caught.value.message
