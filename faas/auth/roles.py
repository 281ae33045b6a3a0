"""Execution roles: what a function may do with the API, as Lambda's execution role says.

A role is a name (`arn:aws:iam::<account>:role/<name>`) and an IAM-style policy. A function
whose `Role` is a role's ARN gets temporary credentials scoped to that policy in its workers'
environment (faas.auth.execution); a function whose Role faas does not know gets none. Like the
keyring, the book keeps every role in memory for the hot path and writes through the store.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from faas.auth.keys import KEY_NAME_RE, policy_text, utc_now_text
from faas.auth.policy import Policy, parse_policy
from faas.domain import StoredRole
from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from faas.store.repos import RoleRepo

ROLE_ARN_PREFIX = "arn:aws:iam::{account}:role/"


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    policy: Policy = field(compare=False)
    policy_document: str
    created: str


class RoleBook:
    def __init__(self, repo: RoleRepo, account_id: str) -> None:
        self._repo = repo
        self._account_id = account_id
        self._by_name: dict[str, Role] = {}
        self._mutation = threading.Lock()

    def arn(self, name: str) -> str:
        return ROLE_ARN_PREFIX.format(account=self._account_id) + name

    def name_of(self, role_arn: str) -> str | None:
        """The role name in `arn:aws:iam::<this account>:role/<name>`, else None."""
        prefix = ROLE_ARN_PREFIX.format(account=self._account_id)
        if not role_arn.startswith(prefix):
            return None
        name = role_arn.removeprefix(prefix).rpartition("/")[2]  # paths: role/a/b/name
        return name or None

    def load(self) -> None:
        roles = {stored.name: _opened(stored) for stored in self._repo.all()}
        with self._mutation:
            self._by_name = roles

    def find(self, name: str) -> Role | None:
        return self._by_name.get(name)

    def for_arn(self, role_arn: str) -> Role | None:
        """The faas role a function's Role ARN names, if there is one."""
        name = self.name_of(role_arn)
        return None if name is None else self._by_name.get(name)

    def all(self) -> list[Role]:
        return sorted(self._by_name.values(), key=lambda role: role.name)

    def create(self, name: str, policy_document: Any) -> Role:
        if not isinstance(name, str) or not KEY_NAME_RE.fullmatch(name):
            raise InvalidParameterValue(
                "A role name is 1-64 letters, digits and +=,.@_- (IAM's role-name rule)"
            )
        text = policy_text(policy_document)
        role = Role(name, parse_policy(json.loads(text)), text, utc_now_text())
        with self._mutation:
            if name in self._by_name:
                raise ResourceConflict(f"A role named {name} already exists")
            self._repo.insert(StoredRole(role.name, role.policy_document, role.created))
            self._by_name = {**self._by_name, name: role}
        return role

    def delete(self, name: str) -> Role:
        """Functions naming the role keep running; their credentials stop working at once."""
        with self._mutation:
            role = self._by_name.get(name)
            if role is None:
                raise ResourceNotFound(f"Role not found: {self.arn(name)}")
            self._repo.delete(name)
            self._by_name = {k: v for k, v in self._by_name.items() if k != name}
        return role


def _opened(stored: StoredRole) -> Role:
    return Role(stored.name, parse_policy(json.loads(stored.policy)), stored.policy, stored.created)
