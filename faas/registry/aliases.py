"""Checks of CreateAlias / UpdateAlias input, with the errors Lambda answers.

Pure: each check returns the value it accepted or raises ValidationError (a member outside
its model's constraints, worded as Lambda's front end words it) or InvalidParameterValue (a
routing Lambda refuses). Whether the versions exist is the registry's to check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from faas.domain import LATEST
from faas.errors import InvalidParameterValue, ValidationError

MAX_ALIAS_CHARS = 128
MAX_DESCRIPTION_CHARS = 256
# The model's patterns: an alias is not all digits (that is a version number).
ALIAS_PATTERN = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
_ALIAS_RE = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]+\Z")
VERSION_PATTERN = "(\\$LATEST|[0-9]+)"
_VERSION_RE = re.compile(r"(\$LATEST|[0-9]+)\Z")
_ADDITIONAL_RE = re.compile(r"[0-9]+\Z")
MAX_ADDITIONAL_VERSIONS = 1

# (additional version, weight), as given: at most one is accepted.
Routing = Sequence[tuple[str, float]]


def check_alias_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise _validation(
            "null" if name is None else f"'{name}'", "name", "Member must not be null"
        )
    if len(name) > MAX_ALIAS_CHARS:
        raise _validation(
            f"'{name}'", "name", f"Member must have length less than or equal to {MAX_ALIAS_CHARS}"
        )
    if not _ALIAS_RE.match(name):
        raise _validation(
            f"'{name}'",
            "name",
            f"Member must satisfy regular expression pattern: {ALIAS_PATTERN}",
        )
    return name


def check_function_version(version: object) -> str:
    """FunctionVersion: `$LATEST` or a version number."""
    if not isinstance(version, str) or not version:
        raise _validation("null", "functionVersion", "Member must not be null")
    if not _VERSION_RE.match(version):
        raise _validation(
            f"'{version}'",
            "functionVersion",
            f"Member must satisfy regular expression pattern: {VERSION_PATTERN}",
        )
    return version


def check_description(description: object) -> str:
    if not isinstance(description, str):
        raise InvalidParameterValue("Description must be a string")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise _validation(
            f"'{description}'",
            "description",
            f"Member must have length less than or equal to {MAX_DESCRIPTION_CHARS}",
        )
    return description


def check_routing(primary: str, routing: Routing) -> tuple[str, float] | None:
    """The one additional version and its weight, or None for no routing; in the order
    Lambda checks: how many, the weight's range, not the alias's own version, not an alias of
    $LATEST, a version number."""
    if not routing:
        return None
    if len(routing) > MAX_ADDITIONAL_VERSIONS:
        raise InvalidParameterValue(
            "Number of items in AdditionalVersionWeights cannot be greater than 1"
        )
    version, weight = routing[0]
    shown = f"'{{{version}={float(weight)!r}}}'"
    if not 0.0 <= weight <= 1.0:
        raise _validation(
            shown,
            "routingConfig.additionalVersionWeights",
            "Map value must satisfy constraint: [Member must have value less than or equal to "
            "1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
        )
    if version == primary:
        raise InvalidParameterValue(
            f"Invalid function version {primary}. Function version {primary} is already "
            "included in routing configuration."
        )
    if primary == LATEST:
        raise InvalidParameterValue(
            f"{LATEST} is not supported for an alias pointing to more than 1 version"
        )
    if not _ADDITIONAL_RE.match(version) or len(version) > 1024:
        raise _validation(
            shown,
            "routingConfig.additionalVersionWeights",
            "Map keys must satisfy constraint: [Member must have length less than or equal to "
            "1024, Member must have length greater than or equal to 1, Member must satisfy "
            "regular expression pattern: [0-9]+]",
        )
    return version, float(weight)


def _validation(value: str, member: str, constraint: str) -> ValidationError:
    shown = value if len(value) <= 300 else value[:300] + "...'"
    return ValidationError(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )
