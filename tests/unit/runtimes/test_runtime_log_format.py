"""The Python runtime's log format (runtimes/python/bootstrap.py): Lambda's text lines, or with
LogFormat JSON one object per `logging` record, and the level AWS_LAMBDA_LOG_LEVEL sets."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.helpers.runtime_files import runtime_module


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[ModuleType]:
    """The runtime as the zygote loads it: a file under a private name, not a package."""
    with runtime_module("bootstrap") as loaded:
        yield loaded


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (the runtime configures the real one)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def record(level: int = logging.INFO, message: str = "hello %s", **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord(
        "orders", level, "/var/task/app.py", 7, message, ("world",), None, func="handler"
    )
    made.__dict__.update(extra)
    return made


def formatted(bootstrap: ModuleType, made: logging.LogRecord) -> dict[str, Any]:
    line = bootstrap.JsonLogFormatter().format(made)
    assert "\n" not in line
    return dict(json.loads(line))


@pytest.mark.parametrize(
    ("environ", "json_format", "level"),
    [
        ({}, False, None),
        ({"AWS_LAMBDA_LOG_FORMAT": "Text"}, False, None),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}, True, logging.INFO),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "TRACE"}, True, logging.DEBUG),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, True, logging.DEBUG),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}, True, logging.WARNING),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "ERROR"}, True, logging.ERROR),
        (
            {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "FATAL"},
            True,
            logging.CRITICAL,
        ),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "LOUD"}, True, None),
        # A level the function set itself applies with Text too, as in Lambda's runtime.
        ({"AWS_LAMBDA_LOG_LEVEL": "error"}, False, logging.ERROR),
    ],
)
def test_settings_come_from_lambdas_variables(
    bootstrap: ModuleType, environ: dict[str, str], json_format: bool, level: int | None
) -> None:
    settings = bootstrap.LogSettings.from_environment(environ)

    assert (settings.json_format, settings.level) == (json_format, level)


def test_a_record_is_one_object_with_lambdas_fields(bootstrap: ModuleType) -> None:
    made = record(aws_request_id="req-1")
    made.created = 1_700_000_000.987

    assert formatted(bootstrap, made) == {
        "timestamp": "2023-11-14T22:13:20Z",
        "level": "INFO",
        "message": "hello world",
        "logger": "orders",
        "requestId": "req-1",
    }


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (logging.DEBUG, "DEBUG"),
        (logging.WARNING, "WARNING"),
        (25, "INFO"),  # a level in between counts as the one below, as on Lambda
        (logging.CRITICAL, "CRITICAL"),
        (60, "CRITICAL"),
    ],
)
def test_levels_are_pythons_names_of_the_decade(
    bootstrap: ModuleType, level: int, name: str
) -> None:
    assert formatted(bootstrap, record(level))["level"] == name


def test_extras_are_kept_when_json_can_encode_them(bootstrap: ModuleType) -> None:
    made = record(order=42, items=["a", {"b": None}], handle=object(), endless=float("nan"))

    document = formatted(bootstrap, made)

    assert (document["order"], document["items"]) == (42, ["a", {"b": None}])
    assert "handle" not in document
    assert "requestId" not in document  # outside an invocation nobody stamped one


def test_an_exception_adds_its_type_message_stack_and_location(bootstrap: ModuleType) -> None:
    try:
        {}["missing"]
    except KeyError:
        made = record(logging.ERROR, "lookup %s", exc_info=sys.exc_info())

    document = formatted(bootstrap, made)

    assert (document["errorType"], document["errorMessage"]) == ("KeyError", "'missing'")
    assert document["message"] == "lookup world"
    assert any('{}["missing"]' in frame for frame in document["stackTrace"])
    assert document["location"] == "/var/task/app.py:handler:7"


def test_exc_info_without_an_exception_adds_nothing(bootstrap: ModuleType) -> None:
    document = formatted(bootstrap, record(exc_info=(None, None, None)))

    assert not {"errorType", "errorMessage", "stackTrace", "location"} & set(document)


def test_json_records_below_the_level_are_dropped_and_prints_stay_plain(
    bootstrap: ModuleType, root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = bootstrap.LogSettings.from_environment(
        {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    )
    stamp = bootstrap.install_log_format(settings)
    stamp.request_id = "req-9"

    logging.getLogger("app").debug("not kept")
    logging.getLogger("app").info("kept %d", 1)
    print("plain words")

    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "plain words"
    assert len(lines) == 2
    kept = json.loads(lines[0])
    assert (kept["message"], kept["logger"], kept["requestId"]) == ("kept 1", "app", "req-9")


def test_text_records_are_lambdas_tab_separated_lines(
    bootstrap: ModuleType, root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    stamp = bootstrap.install_log_format(bootstrap.LogSettings())
    stamp.request_id = "req-3"
    root_logger.setLevel(logging.INFO)

    logging.getLogger("app").info("hello")

    level, stamp_text, request_id, message = capsys.readouterr().out.rstrip("\n").split("\t")
    assert (level, request_id, message) == ("[INFO]", "req-3", "hello")
    assert stamp_text.endswith("Z") and len(stamp_text) == len("2024-01-01T00:00:00.000Z")


def test_an_unhandled_error_is_one_json_object_with_json_logs(
    bootstrap: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = ['  File "/var/task/app.py", line 3, in handler\n    raise ValueError("no")\n']

    bootstrap.log_error("ValueError", "no", stack, "req-5", json_format=True)
    bootstrap.log_error("ValueError", "no", stack, "req-5")

    json_line, *text_lines = capsys.readouterr().out.splitlines()
    document = json.loads(json_line)
    assert document == {
        "timestamp": document["timestamp"],
        "level": "ERROR",
        "errorMessage": "no",
        "errorType": "ValueError",
        "requestId": "req-5",
        "stackTrace": stack,
    }
    assert text_lines[:2] == ["[ERROR] ValueError: no", "Traceback (most recent call last):"]
