"""LoggingConfig at the API edge: the request member as a whole, the document as Lambda
shows it."""

from __future__ import annotations

from typing import Any

import pytest

from faas.domain import FunctionConfig, LoggingConfig
from faas.errors import InvalidParameterValue
from faas.gateway.codec import config_change, configuration_document
from tests.helpers.configs import function_config

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def config(logging: LoggingConfig) -> FunctionConfig:
    return function_config(logging=logging)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, None),
        ({"LoggingConfig": None}, None),
        # Lambda replaces the whole configuration: a member left out is its default.
        ({"LoggingConfig": {}}, LoggingConfig()),
        ({"LoggingConfig": {"LogFormat": "JSON"}}, LoggingConfig("JSON")),
        (
            {
                "LoggingConfig": {
                    "LogFormat": "JSON",
                    "ApplicationLogLevel": "DEBUG",
                    "SystemLogLevel": "WARN",
                    "LogGroup": "/team/fn",
                }
            },
            LoggingConfig("JSON", "DEBUG", "WARN", "/team/fn"),
        ),
        # Checked by the registry, which gives Lambda's reason.
        ({"LoggingConfig": {"ApplicationLogLevel": "INFO"}}, LoggingConfig("Text", "INFO")),
    ],
)
def test_the_request_member_becomes_a_whole_logging_config(
    document: dict[str, Any], expected: LoggingConfig | None
) -> None:
    assert config_change(document).logging == expected


@pytest.mark.parametrize(
    "document",
    [
        {"LoggingConfig": "JSON"},
        {"LoggingConfig": ["JSON"]},
        {"LoggingConfig": {"LogFormat": 1}},
        {"LoggingConfig": {"LogGroup": ["/a"]}},
    ],
)
def test_a_malformed_member_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterValue, match="LoggingConfig"):
        config_change(document)


@pytest.mark.parametrize(
    ("logging", "expected"),
    [
        (LoggingConfig(), {"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"}),
        (LoggingConfig(log_group="/team/fn"), {"LogFormat": "Text", "LogGroup": "/team/fn"}),
        (
            LoggingConfig("JSON"),
            {
                "LogFormat": "JSON",
                "ApplicationLogLevel": "INFO",
                "SystemLogLevel": "INFO",
                "LogGroup": "/aws/lambda/fn",
            },
        ),
        (
            LoggingConfig("JSON", system_log_level="WARN", log_group="/team/fn"),
            {
                "LogFormat": "JSON",
                "ApplicationLogLevel": "INFO",
                "SystemLogLevel": "WARN",
                "LogGroup": "/team/fn",
            },
        ),
    ],
)
def test_the_document_shows_levels_with_json_only(
    logging: LoggingConfig, expected: dict[str, str]
) -> None:
    assert configuration_document(config(logging), ARN)["LoggingConfig"] == expected
