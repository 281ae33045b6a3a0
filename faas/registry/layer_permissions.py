"""AddLayerVersionPermission's statements, as Lambda builds and returns them, and what they
grant in faas. Pure functions.

A statement is `{"Sid", "Effect": "Allow", "Principal", "Action": "lambda:GetLayerVersion",
"Resource": <layer version ARN>, "Condition"?}`, its Principal `"*"` or `{"AWS":
"arn:aws:iam::<account>:root"}` (Lambda writes an account id so). In faas every key belongs to
the server's one account: a statement for `*` or for that account lets any key read the layer
version and use it in a function. A statement limited to an organization (OrganizationId)
grants nothing: faas has no organizations, and a condition it cannot check must not grant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from faas.errors import InvalidParameterValue

ACTION = "lambda:GetLayerVersion"
STATEMENT_ID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,100}\Z")
PRINCIPAL_RE = re.compile(r"^(\d{12}|\*|arn:aws[a-zA-Z-]*:iam::\d{12}:root)\Z")
ORGANIZATION_RE = re.compile(r"^o-[a-z0-9]{10,32}\Z")
NO_POLICY = "No policy is associated with the given resource."


def new_statement(document: Mapping[str, Any], resource: str) -> dict[str, Any]:
    """The statement AddLayerVersionPermission's body asks for, on `resource`."""
    sid = _matching(document, "StatementId", STATEMENT_ID_RE)
    action = document.get("Action")
    if action != ACTION:
        raise _validation(
            action, "action", f"Member must satisfy regular expression pattern: {ACTION}"
        )
    principal = _matching(document, "Principal", PRINCIPAL_RE)
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*" if principal == "*" else {"AWS": _account_root(principal)},
        "Action": ACTION,
        "Resource": resource,
    }
    organization = document.get("OrganizationId")
    if organization is not None:
        organization = _matching(document, "OrganizationId", ORGANIZATION_RE)
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": organization}}
    return statement


def grants(statement: Mapping[str, Any], account_id: str) -> bool:
    """Whether `statement` lets the keys of `account_id` read and use the layer version."""
    if statement.get("Condition"):
        return False
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and principal.get("AWS") == _account_root(account_id)


def _account_root(principal: str) -> str:
    return principal if principal.startswith("arn:") else f"arn:aws:iam::{principal}:root"


def _matching(document: Mapping[str, Any], field: str, pattern: re.Pattern[str]) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        member = field[0].lower() + field[1:]
        constraint = "Member must satisfy regular expression pattern: " + pattern.pattern.strip(
            "^$\\Z"
        )
        raise _validation(value, member, constraint)
    return value


def _validation(value: object, member: str, constraint: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"1 validation error detected: Value '{str(value)[:100]}' at '{member}' failed to "
        f"satisfy constraint: {constraint}"
    )
