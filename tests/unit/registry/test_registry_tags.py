"""Lambda's tag rules, and which ARNs may be tagged."""

from __future__ import annotations

from typing import Any

import pytest

from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.registry.tags import MAX_TAGS, FunctionTags, checked_tags

ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


class Functions:
    def get(self, name: str) -> Any:
        if name != "known":
            raise ResourceNotFound(f"Function not found: {name}")
        return object()

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        return ARN.format(name)


class Store:
    def tags(self, function_name: str) -> dict[str, str]:
        return {}

    def tag(self, function_name: str, tags: Any, most: int) -> None: ...

    def untag(self, function_name: str, keys: Any) -> None: ...


@pytest.mark.parametrize(
    "tags",
    [
        {"team": "red"},
        {"Cost Center": "4711", "k": ""},
        {"ünïcode": "välue", "a.b:c/d=e+f-g@h_i": "x"},
        {"k" * 128: "v" * 256},
        {f"k{i}": "v" for i in range(MAX_TAGS)},
    ],
)
def test_tags_lambda_accepts(tags: dict[str, str]) -> None:
    assert checked_tags(tags) == tags


@pytest.mark.parametrize(
    "tags",
    [
        ["team", "red"],
        {"": "v"},
        {"k" * 129: "v"},
        {"k": "v" * 257},
        {"k": 1},
        {"aws:created-by": "me"},
        {"AWS:x": "y"},
        {"semi;colon": "v"},
        {"k": "line\nbreak"},
        {f"k{i}": "v" for i in range(MAX_TAGS + 1)},
    ],
)
def test_tags_lambda_refuses(tags: object) -> None:
    with pytest.raises(InvalidParameterValue):
        checked_tags(tags)


def test_only_this_accounts_unqualified_function_arns_are_taggable() -> None:
    tags = FunctionTags(Functions(), Store())
    assert tags.function_of(ARN.format("known")) == "known"
    with pytest.raises(InvalidParameterValue):
        tags.function_of("known")  # a name, not an ARN
    with pytest.raises(InvalidParameterValue):
        tags.function_of(ARN.format("known") + ":1")
    with pytest.raises(ResourceNotFound):
        tags.function_of(ARN.format("known").replace("123456789012", "999999999999"))
    with pytest.raises(ResourceNotFound):
        tags.function_of(ARN.format("unknown"))
    with pytest.raises(InvalidParameterValue):
        tags.untag("known", [])
