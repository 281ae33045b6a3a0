"""Access keys: who may call the API, each with an IAM-style policy.

A key is a name (the principal, shown as `arn:aws:iam::<account>:user/<name>`), an access key
id, a secret and a policy. The keyring holds every key decrypted in memory, so that verifying
a request never touches the database; changes go to the database first, then replace the
in-memory snapshot in one assignment (readers on the event loop never see a half change).
Rotating a key gives its name a new id and secret; the old pair stops working at once.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faas.auth.masterkey import MasterKey
from faas.auth.policy import MAX_POLICY_BYTES, Policy, parse_policy
from faas.domain import StoredKey
from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from faas.store.repos import KeyRepo
from faas.store.sealing import key_context

if TYPE_CHECKING:  # credentials.py writes AccessKeys, so it imports this module
    from faas.auth.credentials import CredentialsFile

ADMIN_KEY_NAME = "admin"
ADMIN_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# IAM's user-name rule, ASCII only: without re.ASCII, \w also takes any Unicode letter or
# digit (look-alikes such as a fullwidth "admin").
KEY_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}\Z", re.ASCII)
# AKIA... is AWS's prefix for long-term keys; faas keys say where they come from.
KEY_ID_PREFIX = "AKFA"
_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Most cached (action, resource) decisions per key before the cache starts over.
MAX_DECISIONS = 10_000


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One key, decrypted: what verifying and authorizing a request needs."""

    name: str
    access_key_id: str
    secret: str = field(repr=False)
    policy: Policy
    policy_document: str  # the JSON as stored, for listing and rotation
    created: str
    # (action, resource) -> allowed: the policy is immutable, so its answers are too.
    _decisions: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False, compare=False)

    def allows(self, action: str, resource: str) -> bool:
        decision = self._decisions.get((action, resource))
        if decision is None:
            if len(self._decisions) >= MAX_DECISIONS:
                self._decisions.clear()
            decision = self._decisions[(action, resource)] = self.policy.allows(action, resource)
        return decision


class KeyRing:
    """Every access key by id, for the hot path; create, rotate and delete for the API."""

    def __init__(
        self,
        repo: KeyRepo,
        master: MasterKey,
        credentials: CredentialsFile | None = None,
        account_id: str = "000000000000",
    ) -> None:
        self._repo = repo
        self._master = master
        # The operator's credentials file follows a rotation of the key it holds.
        self._credentials = credentials
        self._account_id = account_id
        self._by_id: dict[str, AccessKey] = {}
        self._mutation = threading.Lock()

    def load(self) -> None:
        """Read and decrypt every key (at start; a wrong master key fails here)."""
        keys = [self._opened(stored) for stored in self._repo.all()]
        with self._mutation:
            self._by_id = {key.access_key_id: key for key in keys}

    def find(self, access_key_id: str) -> AccessKey | None:
        return self._by_id.get(access_key_id)

    def named(self, name: str) -> AccessKey:
        for key in self._by_id.values():
            if key.name == name:
                return key
        raise ResourceNotFound(f"Access key not found: {name}")

    def all(self) -> list[AccessKey]:
        return sorted(self._by_id.values(), key=lambda key: key.name)

    @property
    def empty(self) -> bool:
        return not self._by_id

    def create(self, name: str, policy_document: Any) -> AccessKey:
        """A new key for `name` (blocking: call from a thread)."""
        key = self.draft(name, policy_document)
        self.store(key)
        return key

    def draft(self, name: str, policy_document: Any) -> AccessKey:
        """A new key for `name`, checked but not stored yet."""
        _check_name(name)
        return self._new_key(name, policy_text(policy_document), utc_now_text())

    def store(self, key: AccessKey) -> None:
        """Store a drafted key; from now on it signs requests."""
        name = key.name
        with self._mutation:
            if any(existing.name == name for existing in self._by_id.values()):
                raise ResourceConflict(f"An access key named {name} already exists")
            self._repo.insert(self._sealed(key))
            self._publish(add=key)

    def rotate(self, name: str) -> AccessKey:
        """A new id and secret for `name`, same policy; the old pair stops working."""
        with self._mutation:
            old = self.named(name)
            key = self._new_key(name, old.policy_document, utc_now_text())
            self._repo.replace(name, old.access_key_id, self._sealed(key))
            self._publish(add=key, remove=old)
            if self._credentials is not None and self._credentials.holds(old.access_key_id):
                self._credentials.write(key, self._account_id)
        return key

    def delete(self, name: str) -> AccessKey:
        with self._mutation:
            old = self.named(name)
            self._repo.delete(name)
            self._publish(remove=old)
        return old

    def _publish(self, add: AccessKey | None = None, remove: AccessKey | None = None) -> None:
        by_id = dict(self._by_id)
        if remove is not None:
            by_id.pop(remove.access_key_id, None)
        if add is not None:
            by_id[add.access_key_id] = add
        self._by_id = by_id

    def _new_key(self, name: str, policy_text: str, created: str) -> AccessKey:
        return AccessKey(
            name=name,
            access_key_id=KEY_ID_PREFIX
            + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16)),
            secret=secrets.token_urlsafe(30),  # 40 characters, as AWS secrets have
            policy=parse_policy(json.loads(policy_text)),
            policy_document=policy_text,
            created=created,
        )

    def _sealed(self, key: AccessKey) -> StoredKey:
        return StoredKey(
            name=key.name,
            access_key_id=key.access_key_id,
            secret_encrypted=self._master.seal(key.secret.encode(), key_context(key.access_key_id)),
            policy=key.policy_document,
            created=key.created,
        )

    def _opened(self, stored: StoredKey) -> AccessKey:
        secret = self._master.open(
            stored.secret_encrypted, key_context(stored.access_key_id)
        ).decode()
        return AccessKey(
            name=stored.name,
            access_key_id=stored.access_key_id,
            secret=secret,
            policy=parse_policy(json.loads(stored.policy)),
            policy_document=stored.policy,
            created=stored.created,
        )


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not KEY_NAME_RE.fullmatch(name):
        raise InvalidParameterValue(
            "A key name is 1-64 letters, digits and +=,.@_- (IAM's user-name rule)"
        )


def policy_text(document: Any) -> str:
    """Validated, compact JSON of a policy document (a dict, or JSON text)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise InvalidParameterValue(f"Invalid policy: not JSON ({exc})") from exc
    parse_policy(document)
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise InvalidParameterValue(
            f"Invalid policy: {len(text.encode())} bytes once compacted; at most "
            f"{MAX_POLICY_BYTES} (IAM's limit for a user's policies)"
        )
    return text


def utc_now_text() -> str:
    now = datetime.now(UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}Z"
