"""Event invoke configurations as the Lambda API sees them: Put (replace), Update (merge),
Get, Delete, List, with Lambda's validation and errors.

The repository calls block: the gateway runs these methods in a thread.

Choices a Lambda user would expect:
- A configuration is for `$LATEST` (an unqualified name), a published version or an alias,
  which must exist; an event runs under the configuration of the qualifier it was sent to
  (an alias's, not its version's), as on Lambda. Deleting the version or alias deletes it.
- A destination must be a Lambda function of this server (its region and account), and it
  must exist: Lambda checks a destination when the configuration is written (it refuses one
  the function may not reach with "The destination ARN ... is invalid"), so a typo shows up
  here and not as silently lost records later. A destination deleted afterwards makes the
  records meant for it dead letters. A destination may name a version or an alias.
- SQS, SNS, EventBridge and S3 destinations are refused, naming what is supported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from faas.domain import LATEST, EventInvokeConfig, FunctionConfig
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.registry.names import list_limit, list_target, split_function_name
from faas.store.event_configs import EventConfigRepo

MAX_RETRY_ATTEMPTS = 2
MAX_EVENT_AGE_S = 21600
MAX_LIST_ITEMS = 50
MAX_DESTINATION_LENGTH = 350
FIELDS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "OnSuccess", "OnFailure")
_OTHER_KINDS = {
    "sqs": "SQS queue",
    "sns": "SNS topic",
    "events": "EventBridge event bus",
    "s3": "S3 bucket",
}


class Functions(Protocol):
    """The registry, as configurations use it."""

    def get(self, name: str) -> FunctionConfig: ...

    def resolve(self, raw_name: str, qualifier: str | None) -> FunctionConfig: ...

    def function_arn(self, name: str, qualifier: str | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class EventConfigChange:
    """What a Put or Update request says; `given` names the fields it carries (FIELDS), so an
    Update changes those only. A destination of None or "" removes it."""

    maximum_retry_attempts: int | None = None
    maximum_event_age_s: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    given: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ConfigPage:
    configs: list[EventInvokeConfig]
    next_marker: str | None


def parse_change(document: Mapping[str, Any]) -> EventConfigChange:
    """A Put/Update body (FunctionEventInvokeConfig's fields) as a EventConfigChange; types and
    the fixed ranges checked (the event age floor is the server's: see EventConfigs)."""
    given: set[str] = set()
    retries = document.get("MaximumRetryAttempts")
    if retries is not None:
        given.add("MaximumRetryAttempts")
        _check_range(retries, "maximumRetryAttempts", 0, MAX_RETRY_ATTEMPTS)
    age = document.get("MaximumEventAgeInSeconds")
    if age is not None:
        given.add("MaximumEventAgeInSeconds")
        _check_range(age, "maximumEventAgeInSeconds", 1, MAX_EVENT_AGE_S)
    destinations = document.get("DestinationConfig")
    on_success = on_failure = None
    if destinations is not None:
        if not isinstance(destinations, dict):
            raise InvalidParameterValue("DestinationConfig must be an object")
        if "OnSuccess" in destinations:
            given.add("OnSuccess")
            on_success = _destination(destinations["OnSuccess"], "OnSuccess")
        if "OnFailure" in destinations:
            given.add("OnFailure")
            on_failure = _destination(destinations["OnFailure"], "OnFailure")
    return EventConfigChange(retries, age, on_success, on_failure, frozenset(given))


def _check_range(value: object, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
            "constraint: Member must be an integer"
        )
    if value < low:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
            f"constraint: Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
            f"constraint: Member must have value less than or equal to {high}"
        )


def _destination(block: object, field: str) -> str | None:
    if block is None:
        return None
    if not isinstance(block, dict):
        raise InvalidParameterValue(f"DestinationConfig.{field} must be an object")
    arn = block.get("Destination")
    if arn is None or arn == "":
        return None
    if not isinstance(arn, str) or len(arn) > MAX_DESTINATION_LENGTH:
        raise InvalidParameterValue(
            f"DestinationConfig.{field}.Destination must be an ARN of at most "
            f"{MAX_DESTINATION_LENGTH} characters"
        )
    return arn


def destination_function(arn: str, region: str, account_id: str) -> tuple[str, str | None]:
    """(name, qualifier) of a destination ARN, which must be a Lambda function of this
    server's region and account (qualified or not); InvalidParameterValue otherwise."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
    service = parts[2]
    if service in _OTHER_KINDS:
        raise InvalidParameterValue(
            f"The destination ARN {arn} is invalid: faas supports Lambda function destinations "
            f"only (arn:aws:lambda:{region}:{account_id}:function:NAME), not an "
            f"{_OTHER_KINDS[service]}"
        )
    if service != "lambda" or len(parts) not in (7, 8) or parts[5] != "function":
        raise InvalidParameterValue(
            f"The destination ARN {arn} is invalid: a destination must be a Lambda function "
            f"ARN (arn:aws:lambda:{region}:{account_id}:function:NAME)"
        )
    if parts[3] != region or parts[4] != account_id:
        raise InvalidParameterValue(
            f"The destination ARN {arn} is invalid: the function must be in this server's "
            f"region and account ({region}, {account_id})"
        )
    qualifier = parts[7] if len(parts) == 8 else None
    if qualifier == "":
        raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
    return parts[6], qualifier


class EventConfigs:
    def __init__(
        self,
        repo: EventConfigRepo,
        functions: Functions,
        *,
        region: str,
        account_id: str,
        min_event_age_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._functions = functions
        self._region = region
        self._account_id = account_id
        self._min_event_age_s = min_event_age_s
        self._clock = clock
        # Called (from the thread that wrote) after every change, so that the dispatcher
        # reads the configurations again before its next claim.
        self.on_change: Callable[[], None] = lambda: None

    def all(self) -> list[EventInvokeConfig]:
        """Every configuration (the dispatcher keeps them in memory)."""
        return self._repo.all()

    def function_arn(self, config: EventInvokeConfig) -> str:
        return self._functions.function_arn(config.function_name, config.qualifier)

    def put(
        self, raw_name: str, qualifier: str | None, change: EventConfigChange
    ) -> EventInvokeConfig:
        """Create or replace the whole configuration: fields not given are removed."""
        name, qualifier = self._target(raw_name, qualifier)
        if not change.given:
            raise InvalidParameterValue(
                "You must specify at least one of error handling or destination setting."
            )
        config = self._checked(
            EventInvokeConfig(
                function_name=name,
                qualifier=qualifier,
                maximum_retry_attempts=change.maximum_retry_attempts,
                maximum_event_age_s=change.maximum_event_age_s,
                on_success=change.on_success,
                on_failure=change.on_failure,
                last_modified_ms=self._now_ms(),
            )
        )
        self._repo.put(config)
        self.on_change()
        return config

    def update(
        self, raw_name: str, qualifier: str | None, change: EventConfigChange
    ) -> EventInvokeConfig:
        """Change the fields given; ResourceNotFound when there is no configuration yet."""
        current = self.get(raw_name, qualifier)
        if not change.given:
            raise InvalidParameterValue(
                "You must specify at least one of error handling or destination setting."
            )
        given = change.given
        config = self._checked(
            EventInvokeConfig(
                function_name=current.function_name,
                qualifier=current.qualifier,
                maximum_retry_attempts=change.maximum_retry_attempts
                if "MaximumRetryAttempts" in given
                else current.maximum_retry_attempts,
                maximum_event_age_s=change.maximum_event_age_s
                if "MaximumEventAgeInSeconds" in given
                else current.maximum_event_age_s,
                on_success=change.on_success if "OnSuccess" in given else current.on_success,
                on_failure=change.on_failure if "OnFailure" in given else current.on_failure,
                last_modified_ms=self._now_ms(),
            )
        )
        self._repo.put(config)
        self.on_change()
        return config

    def get(self, raw_name: str, qualifier: str | None) -> EventInvokeConfig:
        name, qualifier = self._target(raw_name, qualifier)
        config = self._repo.get(name, qualifier)
        if config is None:
            raise self._none(name, qualifier)
        return config

    def delete(self, raw_name: str, qualifier: str | None) -> None:
        name, qualifier = self._target(raw_name, qualifier)
        if self._repo.delete(name, qualifier) == 0:
            raise self._none(name, qualifier)
        self.on_change()

    def list_page(self, raw_name: str, marker: str | None, max_items: int | None) -> ConfigPage:
        """The function's configurations (every qualifier), in qualifier order; the marker
        is the qualifier the next page starts at."""
        name = list_target(raw_name, "ListFunctionEventInvokeConfigs")
        self._functions.get(name)
        limit = list_limit(max_items, MAX_LIST_ITEMS)
        configs = self._repo.list_for(name)
        if marker:
            configs = [config for config in configs if config.qualifier >= marker]
        page, rest = configs[:limit], configs[limit:]
        return ConfigPage(page, rest[0].qualifier if rest else None)

    def forget_function(self, name: str) -> None:
        """Every configuration of a deleted function goes with it."""
        self._repo.delete(name)
        self.on_change()

    def forget_qualifier(self, name: str, qualifier: str) -> None:
        """A deleted version's or alias's configuration goes with it."""
        if self._repo.delete(name, qualifier):
            self.on_change()

    # -- steps ------------------------------------------------------------------------------

    def _target(self, raw_name: str, qualifier: str | None) -> tuple[str, str]:
        """(name, qualifier) a request names: $LATEST (no qualifier), a version or an alias,
        which must exist."""
        name, in_name = split_function_name(raw_name)
        if in_name is not None and qualifier is not None and in_name != qualifier:
            raise InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        qualifier = in_name or qualifier or LATEST
        self._functions.resolve(name, qualifier)
        return name, qualifier

    def _checked(self, config: EventInvokeConfig) -> EventInvokeConfig:
        age = config.maximum_event_age_s
        if age is not None and age < self._min_event_age_s:
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{age}' at 'maximumEventAgeInSeconds' "
                "failed to satisfy constraint: Member must have value greater than or equal "
                f"to {self._min_event_age_s}"
            )
        for arn in (config.on_success, config.on_failure):
            if arn is None:
                continue
            name, qualifier = destination_function(arn, self._region, self._account_id)
            if name == config.function_name:
                raise InvalidParameterValue(
                    "You can't specify the function as a destination for itself."
                )
            try:
                self._functions.resolve(name, qualifier)
            except ResourceNotFound:
                what = name if qualifier is None else f"{name}:{qualifier}"
                raise InvalidParameterValue(
                    f"The destination ARN {arn} is invalid: no function {what} exists"
                ) from None
        return config

    def _none(self, name: str, qualifier: str) -> ResourceNotFound:
        return ResourceNotFound(
            f"The function {self._functions.function_arn(name, qualifier)} doesn't have an "
            "EventInvokeConfig"
        )

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
