"""Temporary credentials (an access key id, a secret and a session token), as AWS STS issues
them to a Lambda function for its execution role.

Nothing is stored: the session token is the sealed claims (role, function, key id, expiry)
under the master key, and the secret is an HMAC of the key id and token under a key derived
from it. The server recovers both from a request's `X-Amz-Security-Token`; a token that is
altered, forged, paired with another key id, or past its expiry is refused. A token is only
good while its role exists (checked by the authenticator), so deleting a role stops its
functions' credentials at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from faas.auth.masterkey import MasterKey, MasterKeyProblem
from faas.errors import ExpiredToken, UnrecognizedClient

# ASIA... is AWS's prefix for temporary keys; faas's say where they come from.
SESSION_KEY_PREFIX = "ASFA"
_TOKEN_CONTEXT = "session-token"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
INVALID = "The security token included in the request is invalid."
EXPIRED = "The security token included in the request is expired"


@dataclass(frozen=True, slots=True)
class SessionCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class SessionClaims:
    role: str
    function: str
    access_key_id: str
    expires_at: float


class SessionIssuer:
    def __init__(self, master: MasterKey, clock: Callable[[], float] = time.time) -> None:
        self._master = master
        self._secret_key = master.derive("session-secrets")
        self._clock = clock

    def issue(self, role: str, function: str, ttl_s: float) -> SessionCredentials:
        key_id = SESSION_KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(16))
        expires_at = self._clock() + ttl_s
        claims = {"v": 1, "role": role, "fn": function, "kid": key_id, "exp": expires_at}
        sealed = self._master.seal(json.dumps(claims).encode(), _TOKEN_CONTEXT)
        token = base64.urlsafe_b64encode(sealed).decode("ascii")
        return SessionCredentials(key_id, self.secret_for(key_id, token), token, expires_at)

    def open(self, access_key_id: str, token: str) -> SessionClaims:
        """The claims of a token sent with `access_key_id`; UnrecognizedClient for anything
        that is not a token this server issued for that key id, ExpiredToken once expired."""
        try:
            sealed = base64.urlsafe_b64decode(token.encode("ascii"))
            claims = json.loads(self._master.open(sealed, _TOKEN_CONTEXT))
            opened = SessionClaims(
                str(claims["role"]), str(claims["fn"]), str(claims["kid"]), float(claims["exp"])
            )
        except (
            binascii.Error,
            ValueError,
            UnicodeError,
            KeyError,
            TypeError,
            MasterKeyProblem,
        ):
            raise UnrecognizedClient(INVALID) from None
        if not hmac.compare_digest(opened.access_key_id, access_key_id):
            raise UnrecognizedClient(INVALID)
        if opened.expires_at <= self._clock():
            raise ExpiredToken(EXPIRED)
        return opened

    def secret_for(self, access_key_id: str, token: str) -> str:
        digest = hmac.new(
            self._secret_key, f"{access_key_id}\n{token}".encode(), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:40]
