"""Weighted aliases: which version one invocation runs, with a seeded random source."""

from __future__ import annotations

import random

import pytest

from faas.domain import Alias
from faas.registry.routing import routed_version

DRAWS = 10_000


def alias(weight: float | None) -> Alias:
    return Alias(
        function_name="fn",
        name="live",
        function_version="1",
        description="",
        revision_id="r",
        additional_version=None if weight is None else "2",
        additional_weight=0.0 if weight is None else weight,
    )


@pytest.mark.parametrize("weight", [0.02, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_the_additional_version_gets_its_weight_within_two_points(weight: float, seed: int) -> None:
    draw = random.Random(seed).random
    routed = alias(weight)
    additional = sum(routed_version(routed, draw) == "2" for _ in range(DRAWS))
    assert abs(additional / DRAWS - weight) <= 0.02


def test_every_choice_is_one_of_the_two_versions() -> None:
    draw = random.Random(3).random
    assert {routed_version(alias(0.5), draw) for _ in range(1000)} == {"1", "2"}


@pytest.mark.parametrize(("weight", "expected"), [(0.0, "1"), (1.0, "2")])
def test_the_bounds_send_everything_one_way(weight: float, expected: str) -> None:
    draw = random.Random(5).random
    assert {routed_version(alias(weight), draw) for _ in range(1000)} == {expected}


@pytest.mark.parametrize(("drawn", "expected"), [(0.0, "2"), (0.29999, "2"), (0.3, "1")])
def test_a_draw_below_the_weight_runs_the_additional_version(drawn: float, expected: str) -> None:
    assert routed_version(alias(0.3), lambda: drawn) == expected


def test_an_alias_without_routing_draws_nothing() -> None:
    def never() -> float:
        raise AssertionError("an unweighted alias must not draw")

    assert routed_version(alias(None), never) == "1"


def test_one_invocation_takes_exactly_one_draw() -> None:
    draws: list[float] = []
    source = random.Random(11)

    def counted() -> float:
        draws.append(source.random())
        return draws[-1]

    for _ in range(100):
        routed_version(alias(0.5), counted)
    assert len(draws) == 100
