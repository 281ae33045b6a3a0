"""`faas publish`, `faas versions` and `faas alias`: the parts that are no HTTP."""

from __future__ import annotations

import pytest

from faas.cli.app import UsageProblem
from faas.cli.functions import describe_function
from faas.cli.versions import alias_path, parse_weight, routing_text


@pytest.mark.parametrize(
    ("text", "weights"),
    [("2=0.1", {"2": 0.1}), ("12=1", {"12": 1.0}), ("3=0", {"3": 0.0})],
)
def test_a_weight_is_version_equals_share(text: str, weights: dict[str, float]) -> None:
    assert parse_weight(text) == weights


@pytest.mark.parametrize("text", ["2", "=0.1", "2=", "2=half", "0.1"])
def test_anything_else_is_a_usage_problem(text: str) -> None:
    with pytest.raises(UsageProblem, match="VERSION=WEIGHT"):
        parse_weight(text)


def test_routing_is_shown_as_percentages() -> None:
    assert routing_text({"RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}}}) == "2: 10%"
    assert routing_text({"Name": "live"}) == ""


def test_alias_paths_are_percent_encoded() -> None:
    assert alias_path("fn", "live") == "/2015-03-31/functions/fn/aliases/live"
    assert alias_path("arn:aws:lambda:us-east-1:0:function:fn", "a b") == (
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction%3Afn/aliases/a%20b"
    )


def test_get_shows_versions_and_aliases() -> None:
    text = describe_function(
        {
            "Configuration": {"FunctionName": "fn"},
            "Versions": ["1", "2"],
            "Aliases": [
                {"Name": "live", "FunctionVersion": "1",
                 "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}},
                {"Name": "dev", "FunctionVersion": "$LATEST"},
            ],
        }
    )  # fmt: skip
    assert "versions:     1, 2" in text
    assert "aliases:      live -> 1 (2: 25%), dev -> $LATEST" in text
    assert "versions:     -" in describe_function({"Configuration": {}})
