"""IAM-style identity policies: what a statement grants, what it refuses, what is rejected."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faas.auth.policy import parse_policy
from faas.errors import InvalidParameterValue

FN = "arn:aws:lambda:us-east-1:000000000000:function:"


def statement(effect: str = "Allow", action: Any = "*", resource: Any = "*") -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# (document, action, resource, allowed)
DECISIONS: dict[str, tuple[Any, str, str, bool]] = {
    # actions
    "exact action": (
        policy(statement(action="lambda:GetFunction")),
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    "another action": (
        policy(statement(action="lambda:GetFunction")),
        "lambda:InvokeFunction",
        FN + "f",
        False,
    ),
    "exact action is not a prefix": (
        policy(statement(action="lambda:GetFunction")),
        "lambda:GetFunctionConfiguration",
        FN + "f",
        False,
    ),
    "Get* covers GetFunction": (
        policy(statement(action="lambda:Get*")),
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    "Get* covers a longer name": (
        policy(statement(action="lambda:Get*")),
        "lambda:GetFunctionConfiguration",
        FN + "f",
        True,
    ),
    "* matches nothing at all": (
        policy(statement(action="lambda:Get*")),
        "lambda:Get",
        FN + "f",
        True,
    ),
    "Get* does not cover Invoke": (
        policy(statement(action="lambda:Get*")),
        "lambda:InvokeFunction",
        FN + "f",
        False,
    ),
    "actions ignore case in the policy": (
        policy(statement(action="lambda:get*")),
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    "actions ignore case in the request": (
        policy(statement(action="lambda:GetFunction")),
        "LAMBDA:GETFUNCTION",
        FN + "f",
        True,
    ),
    "* is every action": (policy(statement(action="*")), "lambda:DeleteFunction", FN + "f", True),
    "lambda:* is not another service": (
        policy(statement(action="lambda:*")),
        "iam:GetUser",
        FN + "f",
        False,
    ),
    "? is one character": (
        policy(statement(action="lambda:?etFunction")),
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    "? is not zero characters": (
        policy(statement(action="lambda:?GetFunction")),
        "lambda:GetFunction",
        FN + "f",
        False,
    ),
    "an action list": (
        policy(statement(action=["lambda:ListFunctions", "lambda:GetFunction"])),
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    # resources
    "exact function": (policy(statement(resource=FN + "f")), "lambda:Invoke", FN + "f", True),
    "a function does not cover its alias": (
        policy(statement(resource=FN + "f")),
        "lambda:Invoke",
        FN + "f:prod",
        False,
    ),
    "f:* covers an alias": (
        policy(statement(resource=FN + "f:*")),
        "lambda:Invoke",
        FN + "f:prod",
        True,
    ),
    "f:* does not cover the unqualified function": (
        policy(statement(resource=FN + "f:*")),
        "lambda:Invoke",
        FN + "f",
        False,
    ),
    "team-* covers a team function": (
        policy(statement(resource=FN + "team-*")),
        "lambda:Invoke",
        FN + "team-billing",
        True,
    ),
    "team-* covers a team function's alias": (
        policy(statement(resource=FN + "team-*")),
        "lambda:Invoke",
        FN + "team-billing:prod",
        True,
    ),
    "team-* does not cover another function": (
        policy(statement(resource=FN + "team-*")),
        "lambda:Invoke",
        FN + "teamless",
        False,
    ),
    "resources are case-sensitive": (
        policy(statement(resource=FN + "f")),
        "lambda:Invoke",
        FN + "F",
        False,
    ),
    "? in a resource is one character": (
        policy(statement(resource=FN + "f?")),
        "lambda:Invoke",
        FN + "f1",
        True,
    ),
    "? in a resource is not zero characters": (
        policy(statement(resource=FN + "f?")),
        "lambda:Invoke",
        FN + "f",
        False,
    ),
    "? in a resource is not two characters": (
        policy(statement(resource=FN + "f?")),
        "lambda:Invoke",
        FN + "f12",
        False,
    ),
    "a resource list": (
        policy(statement(resource=[FN + "a", FN + "b"])),
        "lambda:Invoke",
        FN + "b",
        True,
    ),
    # NotAction / NotResource
    "NotAction allows the others": (
        policy({"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"}),
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    "NotAction leaves out what it names": (
        policy({"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"}),
        "lambda:DeleteFunction",
        FN + "f",
        False,
    ),
    "NotResource allows the others": (
        policy({"Effect": "Allow", "Action": "*", "NotResource": FN + "secret"}),
        "lambda:Invoke",
        FN + "f",
        True,
    ),
    "NotResource leaves out what it names": (
        policy({"Effect": "Allow", "Action": "*", "NotResource": FN + "secret"}),
        "lambda:Invoke",
        FN + "secret",
        False,
    ),
    "Deny NotAction denies all but what it names": (
        policy(statement(), {"Effect": "Deny", "NotAction": "lambda:Get*", "Resource": "*"}),
        "lambda:InvokeFunction",
        FN + "f",
        False,
    ),
    "Deny NotAction leaves what it names allowed": (
        policy(statement(), {"Effect": "Deny", "NotAction": "lambda:Get*", "Resource": "*"}),
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    # Deny over Allow, default deny
    "Deny after Allow wins": (
        policy(statement(), statement("Deny", "lambda:DeleteFunction")),
        "lambda:DeleteFunction",
        FN + "f",
        False,
    ),
    "Deny before Allow wins": (
        policy(statement("Deny", "lambda:DeleteFunction"), statement()),
        "lambda:DeleteFunction",
        FN + "f",
        False,
    ),
    "Deny leaves other actions allowed": (
        policy(statement("Deny", "lambda:DeleteFunction"), statement()),
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    "Deny on one resource beats Allow on all": (
        policy(statement(resource=FN + "*"), statement("Deny", "*", FN + "prod-*")),
        "lambda:Invoke",
        FN + "prod-db",
        False,
    ),
    "no matching statement": (
        policy(statement(action="lambda:GetFunction", resource=FN + "f")),
        "lambda:GetFunction",
        FN + "g",
        False,
    ),
    "a Deny alone allows nothing else": (
        policy(statement("Deny", "lambda:DeleteFunction")),
        "lambda:GetFunction",
        FN + "f",
        False,
    ),
    "a single statement object": (
        {"Version": "2012-10-17", "Statement": statement(action="lambda:Get*")},
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
    "Sid and Id are accepted": (
        {"Id": "p", "Statement": [{"Sid": "ReadOnly", **statement(action="lambda:Get*")}]},
        "lambda:GetFunction",
        FN + "f",
        True,
    ),
}


@pytest.mark.parametrize(
    ("document", "action", "resource", "allowed"), DECISIONS.values(), ids=DECISIONS.keys()
)
def test_decisions(document: Any, action: str, resource: str, allowed: bool) -> None:
    assert parse_policy(document).allows(action, resource) is allowed


# (document, what the message says)
REFUSALS: dict[str, tuple[Any, str]] = {
    "a list": ([statement()], "must be a JSON object"),
    "a string": ("Allow *", "must be a JSON object"),
    "null": (None, "must be a JSON object"),
    "no Statement": ({"Version": "2012-10-17"}, "Statement must be a non-empty list"),
    "empty Statement": (policy(), "Statement must be a non-empty list"),
    "Statement a string": ({"Statement": "Allow"}, "Statement must be a non-empty list"),
    "unknown top-level element": (
        {"Statement": [statement()], "Extra": 1},
        "unsupported policy element 'Extra'",
    ),
    "a statement that is not an object": (policy(statement(), "x"), "Statement[1] must be an"),
    "Condition": (
        policy({**statement(), "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}),
        "Statement[0]: Condition is not supported",
    ),
    "Principal": (
        policy({**statement(), "Principal": "*"}),
        "Statement[0]: Principal is not supported",
    ),
    "unknown statement element": (
        policy({**statement(), "Effects": "Allow"}),
        "Statement[0]: Effects is not supported",
    ),
    "lower-case Effect": (policy(statement(effect="allow")), "Effect must be Allow or Deny"),
    "no Effect": (policy({"Action": "*", "Resource": "*"}), "Effect must be Allow or Deny"),
    "Effect not a string": (policy(statement(effect=True)), "Effect must be Allow or Deny"),
    "both Action and NotAction": (
        policy({**statement(), "NotAction": "lambda:Delete*"}),
        "Statement[0] needs exactly one of Action and NotAction",
    ),
    "neither Action nor NotAction": (
        policy({"Effect": "Allow", "Resource": "*"}),
        "needs exactly one of Action and NotAction",
    ),
    "both Resource and NotResource": (
        policy({**statement(), "NotResource": FN + "f"}),
        "needs exactly one of Resource and NotResource",
    ),
    "neither Resource nor NotResource": (
        policy({"Effect": "Allow", "Action": "*"}),
        "needs exactly one of Resource and NotResource",
    ),
    "empty Action list": (
        policy(statement(action=[])),
        "Action must be a string or a non-empty list of strings",
    ),
    "empty Resource list": (
        policy(statement(resource=[])),
        "Resource must be a string or a non-empty list of strings",
    ),
    "a number in Action": (
        policy(statement(action=["lambda:Get*", 7])),
        "Action must be a string or a non-empty list",
    ),
    "an object as Resource": (
        policy(statement(resource={"arn": "*"})),
        "Resource must be a string or a non-empty list",
    ),
    "an empty string as Action": (
        policy(statement(action="")),
        "Action must be a string or a non-empty list",
    ),
    "an empty string in NotResource": (
        policy({"Effect": "Allow", "Action": "*", "NotResource": [""]}),
        "NotResource must be a string or a non-empty list",
    ),
    "an action without a colon": (
        policy(statement(action="GetFunction")),
        "action 'GetFunction' must be service:Name",
    ),
    "a NotAction without a colon": (
        policy({"Effect": "Deny", "NotAction": "Get*", "Resource": "*"}),
        "action 'Get*' must be service:Name",
    ),
    "the problem in a later statement is located": (
        policy(statement(), statement(), statement(action="lambda")),
        "Statement[2]: action 'lambda'",
    ),
}


@pytest.mark.parametrize(("document", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_refusals_name_the_problem(document: Any, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as refused:
        parse_policy(document)
    assert refused.value.message.startswith("Invalid policy: ")
    assert message in refused.value.message


# --- properties ---------------------------------------------------------------------------

_PART = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20
)
_ACTIONS = st.builds(lambda service, name: f"{service}:{name}", _PART, _PART)
_PATTERN_CHARS = st.sampled_from(["a", "b", "A", ":", "-", "*", "?", ".", "/"])
_PATTERNS = st.text(alphabet=_PATTERN_CHARS, min_size=1, max_size=6)


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    effect = draw(st.sampled_from(["Allow", "Deny"]))
    action_key = draw(st.sampled_from(["Action", "NotAction"]))
    resource_key = draw(st.sampled_from(["Resource", "NotResource"]))
    actions = draw(st.lists(_PATTERNS.map(lambda p: f"lambda:{p}"), min_size=1, max_size=3))
    resources = draw(st.lists(_PATTERNS, min_size=1, max_size=3))
    return {"Effect": effect, action_key: actions, resource_key: resources}


@settings(max_examples=300)
@given(_ACTIONS, _PART)
def test_allowing_the_exact_strings_allows_them(action: str, resource: str) -> None:
    assert parse_policy(policy(statement(action=action, resource=resource))).allows(
        action, resource
    )


@settings(max_examples=200)
@given(
    st.lists(statements(), min_size=0, max_size=4),
    st.integers(min_value=0),
    st.one_of(_ACTIONS, _PATTERNS.map(lambda p: f"lambda:{p}")),
    st.one_of(_PART, _PATTERNS),
)
def test_a_deny_of_everything_denies_everything(
    others: list[dict[str, Any]], position: int, action: str, resource: str
) -> None:
    deny_all = statement("Deny", "*", "*")
    listed = [*others]
    listed.insert(position % (len(listed) + 1), deny_all)
    assert not parse_policy(policy(*listed)).allows(action, resource)


_METACHARACTERS = st.text(alphabet=st.sampled_from(list("ab.+()[]{}^$|\\")), min_size=1)


@settings(max_examples=300)
@given(_METACHARACTERS, _METACHARACTERS)
def test_a_pattern_without_wildcards_matches_itself_only(pattern: str, other: str) -> None:
    resource_policy = parse_policy(policy(statement(resource=pattern)))
    assert resource_policy.allows("lambda:Invoke", pattern)
    assert resource_policy.allows("lambda:Invoke", other) is (other == pattern)
    action_policy = parse_policy(policy(statement(action=f"lambda:{pattern}")))
    assert action_policy.allows(f"lambda:{pattern}", "r")
    assert action_policy.allows(f"lambda:{other}", "r") is (other == pattern)


@pytest.mark.parametrize(
    ("pattern", "resource"),
    [("f.g", "fxg"), ("f+", "ff"), ("f(1)", "f1"), ("a|b", "a"), ("[ab]", "a"), ("f\\d", "f1")],
)
def test_regex_metacharacters_are_literal(pattern: str, resource: str) -> None:
    allowed = parse_policy(policy(statement(resource=FN + pattern)))
    assert allowed.allows("lambda:Invoke", FN + pattern)
    assert not allowed.allows("lambda:Invoke", FN + resource)
