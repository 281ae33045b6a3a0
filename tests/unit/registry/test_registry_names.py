from __future__ import annotations

import pytest

from faas.errors import InvalidParameterValue
from faas.registry.names import function_arn, split_function_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hello", ("hello", None)),
        ("my-fn_2", ("my-fn_2", None)),
        ("a" * 64, ("a" * 64, None)),
        ("hello:$LATEST", ("hello", "$LATEST")),
        ("hello:3", ("hello", "3")),
        ("hello:live", ("hello", "live")),
        ("123456789012:function:hello", ("hello", None)),
        ("123456789012:function:hello:live", ("hello", "live")),
        ("arn:aws:lambda:us-east-1:123456789012:function:hello", ("hello", None)),
        ("arn:aws:lambda:us-east-1:123456789012:function:hello:$LATEST", ("hello", "$LATEST")),
        ("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:hello:7", ("hello", "7")),
        ("arn:aws:lambda:local:000000000000:function:hello", ("hello", None)),
    ],
)
def test_accepted_forms(raw: str, expected: tuple[str, str | None]) -> None:
    assert split_function_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a" * 65,
        "has space",
        "dots.not.allowed",
        "hello\n",
        "hello:",
        ":live",
        "hello:live:extra",
        "hello:bad/qualifier",
        "12345:function:hello",
        "123456789012:layer:hello",
        "123456789012:function:",
        "arn:aws:s3:us-east-1:123456789012:function:hello",
        "arn:aws:lambda:us-east-1:123456789012:layer:hello",
        "arn:aws:lambda:us-east-1:12345:function:hello",
        "arn:aws:lambda:us-east-1:123456789012:function",
        "arn:aws:lambda:us-east-1:123456789012:function:hello:1:2",
        "arn:gcp:lambda:us-east-1:123456789012:function:hello",
        "arn:aws:lambda:US-EAST-1:123456789012:function:hello",
        "../etc/passwd",
        "x" * 1000,
    ],
)
def test_rejected_forms(raw: str) -> None:
    with pytest.raises(InvalidParameterValue, match="functionName"):
        split_function_name(raw)


def test_rejection_does_not_echo_huge_input() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        split_function_name("y" * 100_000)
    assert len(caught.value.message) < 1000


@pytest.mark.parametrize(
    ("qualifier", "expected"),
    [
        (None, "arn:aws:lambda:eu-west-1:123456789012:function:hello"),
        ("$LATEST", "arn:aws:lambda:eu-west-1:123456789012:function:hello:$LATEST"),
        ("live", "arn:aws:lambda:eu-west-1:123456789012:function:hello:live"),
    ],
)
def test_function_arn(qualifier: str | None, expected: str) -> None:
    assert function_arn("eu-west-1", "123456789012", "hello", qualifier) == expected


@pytest.mark.parametrize("qualifier", [None, "$LATEST", "12"])
def test_arn_round_trips(qualifier: str | None) -> None:
    arn = function_arn("us-east-1", "000000000000", "round-trip", qualifier)
    assert split_function_name(arn) == ("round-trip", qualifier)
