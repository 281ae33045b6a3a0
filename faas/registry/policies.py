"""Functions' resource policies: AddPermission, RemovePermission, GetPolicy, and whether a
policy lets a caller invoke a function its own key's policy does not let it invoke.

Statements are kept as Lambda returns them (`{"Sid", "Effect": "Allow", "Principal",
"Action", "Resource", "Condition"?}`) and held in memory for the Invoke route, which consults
them only after the caller's own policy said no. What faas grants through them: invoking
(`lambda:InvokeFunction`, `lambda:*` or `*`) by the key whose ARN the statement names
(`arn:aws:iam::<account>:user/<key>`), by any key of the account (`Principal` the account id or
`arn:aws:iam::<account>:root`), or by any key (`*`). Service principals (`s3.amazonaws.com`)
are kept and returned for the tools that add them; no faas caller is a service, so they grant
nothing here (faas's own triggers invoke functions directly).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from faas.domain import LATEST, PolicyStatement
from faas.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound
from faas.registry.names import split_function_name

STATEMENT_ID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,100}$")
ACTION_RE = re.compile(r"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
SOURCE_ARN_RE = re.compile(r"^arn:(aws[a-zA-Z0-9-]*):[a-zA-Z0-9\-]+:[^:]*:(\d{12})?:.*$")
EVENT_SOURCE_TOKEN_RE = re.compile(r"^[a-zA-Z0-9._\-]{1,256}$")
ORG_ID_RE = re.compile(r"^o-[a-z0-9]{10,32}$")
INVOKE_ACTIONS = frozenset({"lambda:InvokeFunction", "lambda:*", "*"})
NO_POLICY = "The resource you requested does not exist."


class PolicyStore(Protocol):
    def all(self) -> list[PolicyStatement]: ...

    def add(self, statement: PolicyStatement) -> None: ...

    def remove(self, function_name: str, qualifier: str, statement_id: str) -> bool: ...

    def remove_function(self, function_name: str, qualifier: str | None = None) -> None: ...


class Functions(Protocol):
    def resolve(self, raw_name: str, qualifier: str | None) -> Any: ...

    def function_arn(self, name: str, qualifier: str | None = None) -> str: ...


class ResourcePolicies:
    def __init__(self, functions: Functions, store: PolicyStore, account_id: str) -> None:
        self._functions = functions
        self._store = store
        self._account_id = account_id
        self._lock = threading.Lock()
        # (function, qualifier) -> statement id -> statement (parsed); replaced, never mutated,
        # so the Invoke route reads it without a lock.
        self._statements: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def load(self) -> None:
        statements: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for row in self._store.all():
            key = (row.function_name, row.qualifier)
            statements.setdefault(key, {})[row.statement_id] = orjson.loads(row.statement)
        self._statements = statements

    # -- the API ------------------------------------------------------------------------------

    def add_permission(
        self, raw_name: str, qualifier: str | None, document: Mapping[str, Any]
    ) -> dict[str, Any]:
        """AddPermission: the statement added, as Lambda returns it."""
        cfg, name, kept_qualifier = self._target(raw_name, qualifier)
        _check_revision(cfg, document.get("RevisionId"))
        sid = _required(document, "StatementId", STATEMENT_ID_RE)
        action = _required(document, "Action", ACTION_RE)
        principal = document.get("Principal")
        if not isinstance(principal, str) or not principal or any(c.isspace() for c in principal):
            raise InvalidParameterValue(
                "Principal is required: an account id, an ARN, a service or *"
            )
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": self._principal(principal),
            "Action": action,
            "Resource": self._functions.function_arn(name, kept_qualifier or None),
        }
        condition = _condition(document)
        if condition:
            statement["Condition"] = condition
        row = PolicyStatement(name, kept_qualifier, sid, orjson.dumps(statement).decode())
        with self._lock:
            self._store.add(row)
            statements = dict(self._statements)
            statements[(name, kept_qualifier)] = {
                **statements.get((name, kept_qualifier), {}),
                sid: statement,
            }
            self._statements = statements
        return statement

    def remove_permission(
        self, raw_name: str, qualifier: str | None, statement_id: str, revision_id: str | None
    ) -> None:
        cfg, name, kept_qualifier = self._target(raw_name, qualifier)
        _check_revision(cfg, revision_id)
        with self._lock:
            if not self._store.remove(name, kept_qualifier, statement_id):
                raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
            statements = dict(self._statements)
            left = dict(statements.get((name, kept_qualifier), {}))
            left.pop(statement_id, None)
            if left:
                statements[(name, kept_qualifier)] = left
            else:
                statements.pop((name, kept_qualifier), None)
            self._statements = statements

    def get_policy(self, raw_name: str, qualifier: str | None) -> tuple[str, str]:
        """GetPolicy: (the policy document as a JSON string, the function's revision id)."""
        cfg, name, kept_qualifier = self._target(raw_name, qualifier)
        found = self._statements.get((name, kept_qualifier))
        if not found:
            raise ResourceNotFound(NO_POLICY)
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": list(found.values())}
        return orjson.dumps(policy).decode(), str(cfg.revision_id)

    def forget_function(self, name: str) -> None:
        """The function was deleted: so is its policy."""
        with self._lock:
            self._store.remove_function(name)
            self._statements = {
                key: value for key, value in self._statements.items() if key[0] != name
            }

    def forget_qualifier(self, name: str, qualifier: str) -> None:
        """A version or alias was deleted: so is its policy, as on Lambda."""
        with self._lock:
            self._store.remove_function(name, qualifier)
            self._statements = {
                key: value for key, value in self._statements.items() if key != (name, qualifier)
            }

    # -- the Invoke route ---------------------------------------------------------------------

    def grants_invoke(self, caller_arn: str, name: str, qualifier: str | None) -> bool:
        """Whether the function's policy (for the qualifier invoked, or the function's own)
        lets `caller_arn` invoke it."""
        for kept in {_qualifier_key(qualifier), ""}:
            for statement in self._statements.get((name, kept), {}).values():
                if statement["Action"] in INVOKE_ACTIONS and self._names(statement, caller_arn):
                    return True
        return False

    # -- steps --------------------------------------------------------------------------------

    def _target(self, raw_name: str, qualifier: str | None) -> tuple[Any, str, str]:
        name, in_name = split_function_name(raw_name)
        if in_name is not None and qualifier is not None and in_name != qualifier:
            raise InvalidParameterValue("The qualifier in the name and Qualifier differ")
        chosen = in_name if in_name is not None else qualifier
        cfg = self._functions.resolve(name, chosen)
        return cfg, name, _qualifier_key(chosen)

    def _principal(self, principal: str) -> str | dict[str, str]:
        if principal == "*":
            return "*"
        if ACCOUNT_RE.fullmatch(principal):
            return {"AWS": f"arn:aws:iam::{principal}:root"}
        if principal.startswith("arn:"):
            return {"AWS": principal}
        return {"Service": principal}

    def _names(self, statement: Mapping[str, Any], caller_arn: str) -> bool:
        principal = statement["Principal"]
        if principal == "*":
            return True
        named = principal.get("AWS") if isinstance(principal, dict) else None
        if named is None:
            return False  # a service principal: no faas caller is a service
        return named in (caller_arn, f"arn:aws:iam::{self._account_id}:root")


def _qualifier_key(qualifier: str | None) -> str:
    return "" if qualifier in (None, LATEST) else str(qualifier)


def _required(document: Mapping[str, Any], field: str, pattern: re.Pattern[str]) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidParameterValue(
            f"1 validation error detected: Value {str(value)[:100]!r} at '{field[0].lower()}"
            f"{field[1:]}' failed to satisfy constraint: Member must satisfy regular expression "
            f"pattern: {pattern.pattern.strip('^$')}"
        )
    return value


def _condition(document: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Lambda's Condition for SourceArn, SourceAccount, EventSourceToken, PrincipalOrgID and
    FunctionUrlAuthType."""
    checks = {
        "SourceArn": (SOURCE_ARN_RE, "ArnLike", "AWS:SourceArn"),
        "SourceAccount": (ACCOUNT_RE, "StringEquals", "AWS:SourceAccount"),
        "EventSourceToken": (EVENT_SOURCE_TOKEN_RE, "StringEquals", "lambda:EventSourceToken"),
        "PrincipalOrgID": (ORG_ID_RE, "StringEquals", "aws:PrincipalOrgID"),
    }
    condition: dict[str, dict[str, str]] = {}
    for field, (pattern, operator, key) in checks.items():
        if document.get(field) is not None:
            condition.setdefault(operator, {})[key] = _required(document, field, pattern)
    auth_type = document.get("FunctionUrlAuthType")
    if auth_type is not None:
        if auth_type not in ("NONE", "AWS_IAM"):
            raise InvalidParameterValue("FunctionUrlAuthType must be NONE or AWS_IAM")
        condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = auth_type
    return condition


def _check_revision(cfg: Any, revision_id: object) -> None:
    if revision_id is not None and revision_id != cfg.revision_id:
        raise PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetFunction/GetAlias API to retrieve the latest Revision Id"
        )
