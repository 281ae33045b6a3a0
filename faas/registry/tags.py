"""Function tags, as Lambda's TagResource, UntagResource and ListTags take them.

Tags name who a function belongs to (e.g. team=payments); the bill can be grouped by one
(`faas bill --group-by tag:team`). Lambda's rules: at most 50 tags a function, keys of 1-128
and values of 0-256 letters, digits, spaces and `_.:/=+-@`, keys beginning with `aws:`
reserved; only the function itself is tagged, not a version or an alias.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.registry.names import split_function_name

MAX_TAGS = 50
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
RESERVED_PREFIX = "aws:"
_PUNCTUATION = frozenset("_.:/=+-@")


class TagStore(Protocol):
    def tags(self, function_name: str) -> dict[str, str]: ...

    def tag(self, function_name: str, tags: Mapping[str, str], most: int) -> None: ...

    def untag(self, function_name: str, keys: Iterable[str]) -> None: ...


class Functions(Protocol):
    def get(self, name: str) -> Any: ...

    def function_arn(self, name: str, qualifier: str | None = None) -> str: ...


class FunctionTags:
    def __init__(self, functions: Functions, store: TagStore) -> None:
        self._functions = functions
        self._store = store

    def function_of(self, resource: str) -> str:
        """The function a tagging ARN names; it must be this account's, unqualified, and
        exist (InvalidParameterValue or ResourceNotFound otherwise)."""
        if not resource.startswith("arn:"):
            raise InvalidParameterValue(f"Resource must be a function ARN, not {resource[:80]!r}")
        name, qualifier = split_function_name(resource)
        if qualifier is not None:
            raise InvalidParameterValue(
                "Tags are not supported on versions or aliases: tag the function's own ARN, "
                f"{self._functions.function_arn(name)}"
            )
        if resource != self._functions.function_arn(name):
            raise ResourceNotFound(f"Function not found: {resource}")
        self._functions.get(name)  # ResourceNotFound when there is no such function
        return name

    def tags(self, function_name: str) -> dict[str, str]:
        return self._store.tags(function_name)

    def tag(self, function_name: str, tags: object) -> None:
        self._store.tag(function_name, checked_tags(tags), MAX_TAGS)

    def untag(self, function_name: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            raise InvalidParameterValue("tagKeys is required: the keys of the tags to remove")
        for key in keys:
            _check_key(key)
        self._store.untag(function_name, keys)


def checked_tags(tags: object) -> dict[str, str]:
    """Tags as a request gives them (a JSON object of strings), checked against Lambda's
    rules; InvalidParameterValue naming the first that breaks one."""
    if not isinstance(tags, Mapping):
        raise InvalidParameterValue('Tags must be an object of strings, e.g. {"team": "payments"}')
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue(f"A function can have at most {MAX_TAGS} tags, not {len(tags)}")
    checked: dict[str, str] = {}
    for key, value in tags.items():
        _check_key(key)
        if not isinstance(value, str):
            raise InvalidParameterValue(f"The value of tag {key!r} must be a string")
        if len(value) > MAX_VALUE_CHARS or not _allowed(value):
            raise InvalidParameterValue(
                f"The value of tag {key!r} must be at most {MAX_VALUE_CHARS} letters, digits, "
                "spaces and _.:/=+-@"
            )
        checked[key] = value
    return checked


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS or not _allowed(key):
        raise InvalidParameterValue(
            f"Tag keys must be 1 to {MAX_KEY_CHARS} letters, digits, spaces and _.:/=+-@, "
            f"not {str(key)[:40]!r}"
        )
    if key.lower().startswith(RESERVED_PREFIX):
        raise InvalidParameterValue(f"Tag keys beginning with {RESERVED_PREFIX!r} are reserved")


def _allowed(text: str) -> bool:
    return all(char in _PUNCTUATION or unicodedata.category(char)[0] in "LNZ" for char in text)
