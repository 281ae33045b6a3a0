"""`faas audit`'s own parts: --since as the server takes it, and the OUTCOME column."""

from __future__ import annotations

from typing import Any

import pytest

from faas.cli.app import UsageProblem
from faas.cli.audit import outcome_text, since_parameter

NOW_S = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", str(1_700_000_000_000 - 90_000)),
        ("15m", str(1_700_000_000_000 - 900_000)),
        ("1h", str(1_700_000_000_000 - 3_600_000)),
        ("2d", str(1_700_000_000_000 - 172_800_000)),
        # Anything else goes to the server as given, which reads ISO 8601 and epoch ms.
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"),
        (" 1700000000000 ", "1700000000000"),
    ],
)
def test_since(text: str, expected: str) -> None:
    assert since_parameter(text, NOW_S) == expected


def test_an_empty_since_is_a_usage_error() -> None:
    with pytest.raises(UsageProblem):
        since_parameter("  ", NOW_S)


@pytest.mark.parametrize(
    ("event", "shown"),
    [
        ({"Outcome": "allowed", "Status": 200, "ErrorCode": None}, "allowed"),
        (
            {"Outcome": "allowed", "Status": 404, "ErrorCode": "ResourceNotFoundException"},
            "allowed 404 ResourceNotFoundException",
        ),
        (
            {"Outcome": "denied", "Status": 403, "ErrorCode": "InvalidSignatureException"},
            "denied InvalidSignatureException",
        ),
        ({"Outcome": "failed", "Status": 499, "ErrorCode": None}, "failed 499"),
    ],
)
def test_outcome_column(event: dict[str, Any], shown: str) -> None:
    assert outcome_text(event) == shown
