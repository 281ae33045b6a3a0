"""Event invoke configurations' validation and merge rules (faas.queue.configs), with a
fake registry and the real repository on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faas.domain import FunctionConfig
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.queue.configs import EventConfigs, destination_function, parse_change
from faas.registry.names import function_arn
from faas.store import make_engine, migrate
from faas.store.event_configs import EventConfigRepo
from tests.helpers.sealing import TEST_SEALER

REGION, ACCOUNT = "us-east-1", "000000000000"
ALERTS = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:alerts"


class FakeFunctions:
    """Functions by name, each with the qualifiers it has besides $LATEST."""

    def __init__(self, *names: str, qualifiers: frozenset[str] = frozenset({"1", "prod"})) -> None:
        self.names = set(names)
        self.qualifiers = qualifiers

    def get(self, name: str) -> FunctionConfig:
        if name not in self.names:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name)}")
        return None  # type: ignore[return-value]  # only existence matters here

    def resolve(self, raw_name: str, qualifier: str | None) -> FunctionConfig:
        found = self.get(raw_name)
        if qualifier not in (None, "$LATEST", *self.qualifiers):
            raise ResourceNotFound(f"Function not found: {self.function_arn(raw_name, qualifier)}")
        return found

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(REGION, ACCOUNT, name, qualifier)


@pytest.fixture
def configs(tmp_path: Path) -> Iterator[EventConfigs]:
    engine = make_engine(f"sqlite:///{tmp_path / 'faas.db'}")
    migrate(engine, sealer=TEST_SEALER)
    yield EventConfigs(
        EventConfigRepo(engine),
        FakeFunctions("fn", "alerts"),
        region=REGION,
        account_id=ACCOUNT,
        min_event_age_s=60,
        clock=lambda: 1_700_000_000.5,
    )
    engine.dispose()


def change(**document: Any) -> Any:
    return parse_change(document)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"MaximumRetryAttempts": 3}, "less than or equal to 2"),
        ({"MaximumRetryAttempts": -1}, "greater than or equal to 0"),
        ({"MaximumRetryAttempts": "2"}, "must be an integer"),
        ({"MaximumRetryAttempts": True}, "must be an integer"),
        ({"MaximumEventAgeInSeconds": 21601}, "less than or equal to 21600"),
        ({"MaximumEventAgeInSeconds": 0}, "greater than or equal to 1"),
        ({"DestinationConfig": []}, "must be an object"),
        ({"DestinationConfig": {"OnSuccess": "arn"}}, "must be an object"),
        ({"DestinationConfig": {"OnFailure": {"Destination": 5}}}, "must be an ARN"),
    ],
)
def test_bad_fields_are_refused(document: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidParameterValue, match=says):
        parse_change(document)


def test_only_the_fields_given_count_as_given() -> None:
    parsed = change(MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {}})
    assert parsed.given == {"MaximumRetryAttempts", "OnFailure"}
    assert parsed.maximum_retry_attempts == 0 and parsed.on_failure is None


@pytest.mark.parametrize(
    ("arn", "says"),
    [
        ("arn:aws:sqs:us-east-1:000000000000:q", "not an SQS queue"),
        ("arn:aws:sns:us-east-1:000000000000:t", "not an SNS topic"),
        ("arn:aws:events:us-east-1:000000000000:event-bus/b", "EventBridge"),
        ("arn:aws:s3:::bucket", "S3 bucket"),
        ("alerts", "is invalid"),
        ("arn:aws:lambda:us-east-1:000000000000:layer:x:1", "must be a Lambda function ARN"),
        ("arn:aws:lambda:eu-west-1:000000000000:function:alerts", "region and account"),
        ("arn:aws:lambda:us-east-1:111111111111:function:alerts", "region and account"),
        ("arn:aws:lambda:us-east-1:000000000000:function:alerts:", "is invalid"),
    ],
)
def test_destinations_must_be_lambda_functions_of_this_server(arn: str, says: str) -> None:
    with pytest.raises(InvalidParameterValue, match=says.replace("$", r"\$")):
        destination_function(arn, REGION, ACCOUNT)


def test_a_destination_arn_names_the_function() -> None:
    assert destination_function(ALERTS, REGION, ACCOUNT) == ("alerts", None)
    assert destination_function(ALERTS + ":$LATEST", REGION, ACCOUNT) == ("alerts", "$LATEST")
    assert destination_function(ALERTS + ":prod", REGION, ACCOUNT) == ("alerts", "prod")


def test_put_replaces_the_whole_configuration(configs: EventConfigs) -> None:
    configs.put(
        "fn",
        None,
        change(MaximumRetryAttempts=1, DestinationConfig={"OnSuccess": {"Destination": ALERTS}}),
    )
    replaced = configs.put("fn", "$LATEST", change(MaximumEventAgeInSeconds=120))
    assert (replaced.maximum_retry_attempts, replaced.maximum_event_age_s) == (None, 120)
    assert replaced.on_success is None
    assert replaced.last_modified_ms == 1_700_000_000_500
    assert configs.get("fn", None) == replaced


def test_update_changes_only_the_fields_given(configs: EventConfigs) -> None:
    with pytest.raises(ResourceNotFound, match="doesn't have an EventInvokeConfig"):
        configs.update("fn", None, change(MaximumRetryAttempts=1))
    configs.put(
        "fn",
        None,
        change(MaximumRetryAttempts=1, DestinationConfig={"OnSuccess": {"Destination": ALERTS}}),
    )
    updated = configs.update(
        "fn", None, change(DestinationConfig={"OnFailure": {"Destination": ALERTS}})
    )
    assert (updated.maximum_retry_attempts, updated.on_success, updated.on_failure) == (
        1,
        ALERTS,
        ALERTS,
    )
    cleared = configs.update("fn", None, change(DestinationConfig={"OnSuccess": {}}))
    assert (cleared.on_success, cleared.on_failure) == (None, ALERTS)


def test_requests_lambda_refuses_are_refused(configs: EventConfigs) -> None:
    with pytest.raises(InvalidParameterValue, match="at least one of"):
        configs.put("fn", None, change())
    with pytest.raises(ResourceNotFound, match="Function not found"):
        configs.put("nobody", None, change(MaximumRetryAttempts=1))
    with pytest.raises(ResourceNotFound, match="function:fn:staging"):
        configs.put("fn", "staging", change(MaximumRetryAttempts=1))
    with pytest.raises(InvalidParameterValue, match="does not match"):
        configs.put("fn:$LATEST", "1", change(MaximumRetryAttempts=1))
    with pytest.raises(InvalidParameterValue, match="greater than or equal to 60"):
        configs.put("fn", None, change(MaximumEventAgeInSeconds=59))
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:missing"
    with pytest.raises(InvalidParameterValue, match="no function missing exists"):
        configs.put("fn", None, change(DestinationConfig={"OnFailure": {"Destination": missing}}))
    with pytest.raises(InvalidParameterValue, match="no function alerts:staging exists"):
        configs.put(
            "fn",
            None,
            change(DestinationConfig={"OnFailure": {"Destination": ALERTS + ":staging"}}),
        )
    itself = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
    with pytest.raises(InvalidParameterValue, match="destination for itself"):
        configs.put("fn", None, change(DestinationConfig={"OnSuccess": {"Destination": itself}}))
    with pytest.raises(ResourceNotFound, match="doesn't have an EventInvokeConfig"):
        configs.delete("fn", None)


def test_the_list_pages_and_a_deleted_function_forgets_its_configurations(
    configs: EventConfigs,
) -> None:
    configs.put("fn", None, change(MaximumRetryAttempts=0))
    page = configs.list_page("fn", None, 1)
    assert [c.qualifier for c in page.configs] == ["$LATEST"] and page.next_marker is None
    with pytest.raises(InvalidParameterValue, match="between 1 and 50"):
        configs.list_page("fn", None, 51)
    configs.forget_function("fn")
    assert configs.list_page("fn", None, None).configs == []


def test_versions_and_aliases_have_configurations_of_their_own(configs: EventConfigs) -> None:
    configs.put("fn", None, change(MaximumRetryAttempts=0))
    configs.put("fn", "prod", change(MaximumRetryAttempts=2))
    configs.put(
        "fn:1", None, change(DestinationConfig={"OnSuccess": {"Destination": ALERTS + ":prod"}})
    )
    assert configs.get("fn", "$LATEST").maximum_retry_attempts == 0
    assert configs.get("fn", "prod").maximum_retry_attempts == 2
    assert configs.get("fn", "1").on_success == ALERTS + ":prod"
    page = configs.list_page("fn", None, None)
    assert [c.qualifier for c in page.configs] == ["$LATEST", "1", "prod"]
    # The alias's configuration goes with the alias; the others stay.
    configs.forget_qualifier("fn", "prod")
    with pytest.raises(ResourceNotFound, match="doesn't have an EventInvokeConfig"):
        configs.get("fn", "prod")
    assert [c.qualifier for c in configs.list_page("fn", None, None).configs] == ["$LATEST", "1"]
