"""Who is calling, and may they: SigV4 verification against the keyring, then the policy.

Lambda's answers, all 403:
- no or malformed authentication: MissingAuthenticationTokenException;
- a key id nobody has (never made, deleted, rotated away): UnrecognizedClientException;
- a signature that does not verify, a request time more than `max_skew_s` from ours, a body
  or signed header changed on the way: InvalidSignatureException;
- a verified caller whose policy does not allow the action on the resource:
  AccessDeniedException, naming both.
The signing key (four HMACs) is cached per key id, day, region and service: a verified warm
request costs one SHA-256 of the canonical request (and of the body) and one HMAC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass

from faas.auth import sigv4
from faas.auth.keys import AccessKey, KeyRing
from faas.auth.masterkey import MasterKey
from faas.auth.policy import parse_policy
from faas.auth.roles import RoleBook
from faas.auth.sessions import SessionIssuer
from faas.auth.sigv4 import Credential, SignatureProblem, SignedRequest, WireRequest
from faas.errors import (
    AccessDenied,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)

UNRECOGNIZED = "The security token included in the request is invalid."
# Code download URLs (GetFunction's Code.Location, GetLayerVersion's Content.Location) are
# presigned with a key of the platform's own, derived from the master key; it is good for
# nothing but those GETs.
CODE_URL_KEY_ID = "AKFACODEDOWNLOADURLS"
CODE_URL_PATH = "/faas/v1/code/"
CODE_URL_ACTIONS = ["lambda:GetFunction", "lambda:GetLayerVersion"]
MAX_SIGNING_KEYS = 4096

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified principal: an access key's user, or a function's assumed role."""

    key: AccessKey
    arn: str  # arn:aws:iam::<account>:user/<name> or arn:aws:sts::<account>:assumed-role/...
    presigned: bool = False

    def allows(self, action: str, resource: str) -> bool:
        return self.key.allows(action, resource)

    def require(self, action: str, resource: str) -> None:
        if not self.key.allows(action, resource):
            reason = (
                "with an explicit deny in an identity-based policy"
                if self.key.policy.denies(action, resource)
                else f"because no identity-based policy allows the {action} action"
            )
            raise AccessDenied(
                f"User: {self.arn} is not authorized to perform: {action} on resource: "
                f"{resource} {reason}"
            )


class Authenticator:
    def __init__(
        self,
        keys: KeyRing,
        master: MasterKey,
        *,
        roles: RoleBook | None = None,
        sessions: SessionIssuer | None = None,
        region: str,
        account_id: str,
        services: Collection[str] = ("lambda",),
        max_skew_s: int = 300,
        clock: Clock = utc_now,
    ) -> None:
        self._keys = keys
        self._roles = roles
        self._sessions = sessions
        # Session principals by token: their policy decisions are cached with them.
        self._session_keys: dict[str, AccessKey] = {}
        self._region = region
        self._account_id = account_id
        self._services = frozenset(services)
        self._max_skew_s = max_skew_s
        self._clock = clock
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}
        self._code_url_key = AccessKey(
            name="code-download-url",
            access_key_id=CODE_URL_KEY_ID,
            secret=master.derive("code-download-urls").hex(),
            policy=parse_policy(
                {"Statement": [{"Effect": "Allow", "Action": CODE_URL_ACTIONS, "Resource": "*"}]}
            ),
            policy_document="",
            created="",
        )

    def authenticate(self, request: WireRequest) -> Caller:
        """The verified caller of `request`, or the Lambda error that says why not."""
        try:
            signed = sigv4.parse_signed_request(request)
            key = self._key_for(signed, request)
            self._check_scope(signed.credential)
            sigv4.check_clock(signed, self._clock(), self._max_skew_s)
            sigv4.verify(request, signed, self._signing_key(key, signed.credential))
        except SignatureProblem as problem:
            if problem.kind == SignatureProblem.MISSING:
                raise MissingAuthenticationToken(problem.message) from None
            raise InvalidSignature(problem.message) from None
        return Caller(key, self._arn_of(key, signed), presigned=signed.presigned)

    def presign_code_url(self, path: str, host: str, expires_s: int) -> str:
        """`path?...` that lets its holder download one code bundle until it expires."""
        return sigv4.presign_target(
            "GET",
            path,
            host,
            access_key_id=CODE_URL_KEY_ID,
            secret=self._code_url_key.secret,
            region=self._region,
            service=next(iter(sorted(self._services))),
            now=self._clock(),
            expires_s=expires_s,
        )

    def _key_for(self, signed: SignedRequest, request: WireRequest) -> AccessKey:
        key_id = signed.credential.access_key_id
        if key_id == CODE_URL_KEY_ID:
            path = request.raw_target.partition("?")[0]
            usable = signed.presigned and request.method == "GET" and path.startswith(CODE_URL_PATH)
            if usable:
                return self._code_url_key
            raise UnrecognizedClient(UNRECOGNIZED)
        if signed.security_token is not None:
            return self._session_key(key_id, signed.security_token)
        key = self._keys.find(key_id)
        if key is None:
            raise UnrecognizedClient(UNRECOGNIZED)
        return key

    def _session_key(self, key_id: str, token: str) -> AccessKey:
        """Temporary credentials: only the key id the token was issued with, while the token
        is unexpired and its role exists (deleting a role stops its credentials at once)."""
        if self._sessions is None or self._roles is None:
            raise UnrecognizedClient(UNRECOGNIZED)
        claims = self._sessions.open(key_id, token)
        role = self._roles.find(claims.role)
        if role is None:
            raise UnrecognizedClient(UNRECOGNIZED)
        cached = self._session_keys.get(token)
        if cached is not None and cached.policy is role.policy:
            return cached
        if len(self._session_keys) >= MAX_SIGNING_KEYS:
            self._session_keys.clear()
        key = self._session_keys[token] = AccessKey(
            name=f"{role.name}/{claims.function}",
            access_key_id=key_id,
            secret=self._sessions.secret_for(key_id, token),
            policy=role.policy,
            policy_document=role.policy_document,
            created="",
        )
        return key

    def _arn_of(self, key: AccessKey, signed: SignedRequest) -> str:
        if signed.security_token is not None:
            return f"arn:aws:sts::{self._account_id}:assumed-role/{key.name}"
        return f"arn:aws:iam::{self._account_id}:user/{key.name}"

    def _check_scope(self, credential: Credential) -> None:
        if credential.region != self._region:
            raise InvalidSignature(
                f"Credential should be scoped to a valid region, not '{credential.region}'. "
                f"This server's region is '{self._region}'."
            )
        if credential.service not in self._services:
            expected = "', '".join(sorted(self._services))
            raise InvalidSignature(
                f"Credential should be scoped to correct service: '{expected}'. "
            )

    def _signing_key(self, key: AccessKey, credential: Credential) -> bytes:
        cache_key = (key.access_key_id, credential.date, credential.region, credential.service)
        found = self._signing_keys.get(cache_key)
        if found is None:
            if len(self._signing_keys) >= MAX_SIGNING_KEYS:
                self._signing_keys.clear()
            found = self._signing_keys[cache_key] = sigv4.signing_key(key.secret, credential)
        return found
