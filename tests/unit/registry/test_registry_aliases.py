"""CreateAlias / UpdateAlias input checks, with the errors Lambda answers."""

from __future__ import annotations

import pytest

from faas.errors import FaasError, InvalidParameterValue, ValidationError
from faas.registry.aliases import (
    check_alias_name,
    check_description,
    check_function_version,
    check_routing,
)

PATTERN = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"


@pytest.mark.parametrize("name", ["live", "2024-01-02", "a", "A_b-9", "x" * 128, "v1"])
def test_alias_names_of_the_model_pass(name: str) -> None:
    assert check_alias_name(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("2024", f"Value '2024' at 'name' failed to satisfy constraint: Member must satisfy "
                 f"regular expression pattern: {PATTERN}"),
        ("$LATEST", "regular expression pattern"),
        ("has space", "regular expression pattern"),
        ("dot.ted", "regular expression pattern"),
        ("x" * 129, "Member must have length less than or equal to 128"),
        ("", "Member must not be null"),
        (None, "Value null at 'name'"),
        (7, "Member must not be null"),
    ],
)  # fmt: skip
def test_other_alias_names_are_a_validation_error(name: object, says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        check_alias_name(name)
    assert raised.value.code == "ValidationException"
    assert raised.value.message.startswith("1 validation error detected: ")
    assert says in raised.value.message


@pytest.mark.parametrize("version", ["$LATEST", "1", "42"])
def test_function_versions_are_latest_or_a_number(version: str) -> None:
    assert check_function_version(version) == version


@pytest.mark.parametrize("version", ["live", "$latest", "1.0", "-1", "", None])
def test_anything_else_is_no_function_version(version: object) -> None:
    with pytest.raises(ValidationError, match="functionVersion"):
        check_function_version(version)


def test_a_description_is_at_most_256_characters() -> None:
    assert check_description("d" * 256) == "d" * 256
    with pytest.raises(ValidationError, match="less than or equal to 256"):
        check_description("d" * 257)


@pytest.mark.parametrize(
    ("primary", "routing", "expected"),
    [
        ("1", (), None),
        ("1", (("2", 0.5),), ("2", 0.5)),
        ("1", (("2", 0.0),), ("2", 0.0)),
        ("1", (("2", 1.0),), ("2", 1.0)),
        ("3", (("12", 0.25),), ("12", 0.25)),
    ],
)
def test_one_additional_version_with_a_weight_from_0_to_1(
    primary: str, routing: tuple[tuple[str, float], ...], expected: tuple[str, float] | None
) -> None:
    assert check_routing(primary, routing) == expected


@pytest.mark.parametrize(
    ("primary", "routing", "error", "message"),
    [
        ("1", (("2", 0.5), ("3", 0.1)), InvalidParameterValue,
         "Number of items in AdditionalVersionWeights cannot be greater than 1"),
        ("1", (("2", 2.0),), ValidationError,
         "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' "
         "failed to satisfy constraint: Map value must satisfy constraint: [Member must have "
         "value less than or equal to 1.0, Member must have value greater than or equal to 0.0, "
         "Member must not be null]"),
        ("1", (("2", -1.0),), ValidationError, "Value '{2=-1.0}'"),
        ("1", (("1", 0.5),), InvalidParameterValue,
         "Invalid function version 1. Function version 1 is already included in routing "
         "configuration."),
        ("$LATEST", (("2", 0.5),), InvalidParameterValue,
         "$LATEST is not supported for an alias pointing to more than 1 version"),
        ("1", (("$LATEST", 0.5),), ValidationError,
         "1 validation error detected: Value '{$LATEST=0.5}' at "
         "'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must "
         "satisfy constraint: [Member must have length less than or equal to 1024, Member must "
         "have length greater than or equal to 1, Member must satisfy regular expression "
         "pattern: [0-9]+]"),
        ("1", (("live", 0.5),), ValidationError, "Map keys must satisfy constraint"),
    ],
)  # fmt: skip
def test_routing_lambda_refuses(
    primary: str, routing: tuple[tuple[str, float], ...], error: type[FaasError], message: str
) -> None:
    with pytest.raises(error) as raised:
        check_routing(primary, routing)
    assert raised.value.message == message or message in raised.value.message
    assert type(raised.value) is error


def test_the_count_is_checked_before_the_weights() -> None:
    with pytest.raises(InvalidParameterValue, match="cannot be greater than 1"):
        check_routing("1", (("2", 5.0), ("3", 5.0)))
