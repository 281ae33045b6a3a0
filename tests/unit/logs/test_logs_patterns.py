"""FilterLogEvents' filter patterns, the unstructured part."""

from __future__ import annotations

import pytest

from faas.logs.patterns import PatternError, compile_pattern


@pytest.mark.parametrize(
    ("pattern", "kept", "dropped"),
    [
        ("ERROR", ["an ERROR here"], ["an error here", "nothing"]),
        ('ERROR "user 42"', ["ERROR for user 42"], ["ERROR for user 4", "user 42"]),
        ("ERROR -retrying", ["ERROR once"], ["ERROR, retrying"]),
        ("?ERROR ?WARN", ["ERROR", "a WARN"], ["INFO"]),
        ('-"Task timed out"', ["ok"], ["... Task timed out after 3.00 seconds"]),
        ('"a \\"quoted\\" word"', ['a "quoted" word'], ["a quoted word"]),
    ],
)
def test_terms_phrases_any_and_none(pattern: str, kept: list[str], dropped: list[str]) -> None:
    matches = compile_pattern(pattern)
    assert matches is not None
    assert all(matches(message) for message in kept)
    assert not any(matches(message) for message in dropped)


@pytest.mark.parametrize("pattern", [None, "", "   ", '""'])
def test_an_empty_pattern_keeps_everything(pattern: str | None) -> None:
    assert compile_pattern(pattern) is None


@pytest.mark.parametrize(
    "pattern", ['{ $.level = "ERROR" }', "[ip, user, status]", "%ERR.R%", '"open', "?A B"]
)
def test_other_kinds_of_pattern_are_refused_with_a_reason(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)
