"""The environment a worker gets: Lambda's logging variables, and the zygote's rehearsal of
it naming every variable the platform sets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from types import ModuleType

import pytest

from faas.domain import WorkerSpec
from faas.pool.environment import worker_environment
from tests.helpers.runtime_files import runtime_module

SPEC = WorkerSpec(
    key="fn:1",
    function_name="fn",
    version="$LATEST",
    runtime="python3.11",
    handler="app.handler",
    memory_mb=128,
    timeout_s=3,
    ephemeral_storage_mb=512,
    environment={"GREETING": "hi"},
    code_dir="/code",
    function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
    region="us-east-1",
)
JSON_SPEC = dataclasses.replace(SPEC, log_format="JSON", log_level="DEBUG", log_group="/team/fn")


@pytest.fixture(scope="module")
def zygote() -> Iterator[ModuleType]:
    """runtimes/python/zygote.py, loaded as the platform starts it (a file, not a package)."""
    with runtime_module("zygote") as loaded:
        yield loaded


def test_text_sets_the_format_and_no_level() -> None:
    env = worker_environment(SPEC, "/runtime", "stream")

    assert env["AWS_LAMBDA_LOG_FORMAT"] == "Text"
    assert "AWS_LAMBDA_LOG_LEVEL" not in env
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fn"


def test_json_sets_the_application_level_and_the_custom_group() -> None:
    env = worker_environment(JSON_SPEC, "/runtime", "stream")

    assert env["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert env["AWS_LAMBDA_LOG_LEVEL"] == "DEBUG"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/team/fn"


def test_the_platforms_values_win_over_the_functions_own() -> None:
    spec = dataclasses.replace(
        JSON_SPEC, environment={"AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_LOG_LEVEL": "FATAL"}
    )

    env = worker_environment(spec, "/runtime", "stream")

    assert (env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "DEBUG")


@pytest.mark.parametrize("spec", [SPEC, JSON_SPEC], ids=["text", "json"])
def test_the_zygote_rehearses_every_variable_the_platform_sets(
    zygote: ModuleType, spec: WorkerSpec
) -> None:
    platform_set = set(worker_environment(spec, "/runtime", "stream")) - set(spec.environment)

    assert platform_set <= set(zygote._REHEARSAL_ENV)


def test_os_only_runtimes_have_no_execution_env_as_on_lambda() -> None:
    python = worker_environment(SPEC, "/runtime", "stream")
    provided = worker_environment(
        dataclasses.replace(SPEC, runtime="provided.al2023", handler="anything"), "/rt", "stream"
    )
    assert python["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{SPEC.runtime}"
    assert "AWS_EXECUTION_ENV" not in provided
    assert provided["_HANDLER"] == "anything"
    assert provided["LAMBDA_RUNTIME_DIR"] == "/rt"
    assert set(python) - set(provided) == {"AWS_EXECUTION_ENV"}
