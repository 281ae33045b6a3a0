"""IAM-style identity policies: parse once, then decide (action, resource) -> allow or deny.

The parts of IAM's policy language faas evaluates, with IAM's meaning:
- a document is `{"Version": ..., "Statement": [...]}` (a single statement object is allowed);
- each statement has `Effect` (Allow or Deny), `Action` or `NotAction`, `Resource` or
  `NotResource`, each a string or a list of strings;
- `*` matches any run of characters and `?` one character; actions match case-insensitively
  (`lambda:Get*`), resources case-sensitively (ARNs);
- an explicit Deny wins over any Allow; with no matching Allow the answer is deny.
A `Condition` (or `Principal`, which has no meaning in an identity policy) is refused when the
policy is set rather than ignored: ignoring a condition would grant more than was written.
Resources follow Lambda: `function:f` does not cover `function:f:prod`; `function:f:*` does.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faas.errors import InvalidParameterValue

MAX_POLICY_BYTES = 10_240  # IAM's own limit for a user's inline policies
_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource"})


class Effect(enum.StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    actions: tuple[re.Pattern[str], ...]
    actions_negated: bool
    resources: tuple[re.Pattern[str], ...]
    resources_negated: bool

    def matches(self, action: str, resource: str) -> bool:
        action_hit = any(p.fullmatch(action) for p in self.actions) != self.actions_negated
        if not action_hit:
            return False
        return any(p.fullmatch(resource) for p in self.resources) != self.resources_negated


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]

    def allows(self, action: str, resource: str) -> bool:
        allowed = False
        for statement in self.statements:
            if statement.matches(action, resource):
                if statement.effect is Effect.DENY:
                    return False
                allowed = True
        return allowed

    def denies(self, action: str, resource: str) -> bool:
        """Whether a Deny statement matches (for the message; `allows` decides)."""
        return any(
            statement.effect is Effect.DENY and statement.matches(action, resource)
            for statement in self.statements
        )


def parse_policy(document: Any) -> Policy:
    """A policy document (already JSON-decoded) -> Policy, or InvalidParameterValue saying
    what is wrong with it."""
    if not isinstance(document, Mapping):
        raise _invalid("the policy must be a JSON object with a Statement list")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise _invalid(f"unsupported policy element {sorted(unknown)[0]!r}")
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise _invalid("Statement must be a non-empty list of statements")
    return Policy(tuple(_statement(s, index) for index, s in enumerate(statements)))


def _statement(raw: Any, index: int) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise _invalid(f"{where} must be an object")
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        name = sorted(unknown)[0]
        raise _invalid(
            f"{where}: {name} is not supported by faas (only Effect, Action, "
            "NotAction, Resource and NotResource are evaluated)"
        )
    effect = raw.get("Effect")
    if effect not in (Effect.ALLOW.value, Effect.DENY.value):
        raise _invalid(f"{where}: Effect must be Allow or Deny")
    actions, actions_negated = _either(raw, "Action", "NotAction", where)
    resources, resources_negated = _either(raw, "Resource", "NotResource", where)
    for action in actions:
        if action != "*" and ":" not in action:
            raise _invalid(f"{where}: action {action!r} must be service:Name, e.g. lambda:Get*")
    return Statement(
        effect=Effect(effect),
        actions=tuple(_wildcard(a, case_sensitive=False) for a in actions),
        actions_negated=actions_negated,
        resources=tuple(_wildcard(r, case_sensitive=True) for r in resources),
        resources_negated=resources_negated,
    )


def _either(raw: Mapping[str, Any], plain: str, negated: str, where: str) -> tuple[list[str], bool]:
    if (plain in raw) == (negated in raw):
        raise _invalid(f"{where} needs exactly one of {plain} and {negated}")
    key = plain if plain in raw else negated
    values = raw[key]
    if isinstance(values, str):
        values = [values]
    if (
        not isinstance(values, Sequence)
        or not values
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise _invalid(f"{where}: {key} must be a string or a non-empty list of strings")
    return list(values), key == negated


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL if case_sensitive else re.IGNORECASE | re.DOTALL)


def _invalid(message: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid policy: {message}")
