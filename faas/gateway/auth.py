"""Every API route is guarded: the caller is authenticated before its handler runs, and the
handler authorizes the one action it performs, on the resource it acts on, before it looks
anything up (so a caller without rights learns nothing, not even whether a function exists).

A route whose handler returns without having authorized anything is a bug; it fails closed
with a 500 instead of answering. With `auth.enabled = false` (throwaway local use only) every
caller is an anonymous principal allowed everything, so handlers run the same code either way.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence

from aiohttp import web
from multidict import CIMultiDictProxy

from faas.auth.authenticator import Authenticator, Caller
from faas.auth.keys import ADMIN_POLICY, AccessKey
from faas.auth.policy import parse_policy
from faas.auth.sigv4 import WireRequest
from faas.errors import ServiceError
from faas.gateway.errors import Handler, lambda_errors
from faas.registry.names import function_arn, split_function_name

log = logging.getLogger(__name__)

CALLER = web.RequestKey("faas.caller", Caller)
AUTHORIZED = web.RequestKey("faas.authorized", bool)
# Bodies larger than this are hashed off the event loop (SHA-256 runs at ~1-2 GB/s here).
HASH_IN_THREAD_BYTES = 256 * 1024


class _Headers:
    """aiohttp's headers as the verifier reads them: every value of a lower-cased name."""

    __slots__ = ("_headers",)

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self._headers = headers

    def get(self, name: str) -> Sequence[str] | None:
        return self._headers.getall(name, None)


class GatewayAuth:
    def __init__(
        self, authenticator: Authenticator | None, *, region: str, account_id: str
    ) -> None:
        self._authenticator = authenticator
        self._region = region
        self._account_id = account_id
        self._anonymous = Caller(
            AccessKey(
                name="anonymous",
                access_key_id="",
                secret="",
                policy=parse_policy(ADMIN_POLICY),
                policy_document="",
                created="",
            ),
            f"arn:aws:iam::{account_id}:user/anonymous",
        )

    @property
    def enabled(self) -> bool:
        return self._authenticator is not None

    async def authenticate(self, request: web.Request) -> Caller:
        """The verified caller (also kept on the request for the handler)."""
        if CALLER in request:
            return request[CALLER]
        if self._authenticator is None:
            caller = self._anonymous
        else:
            caller = self._authenticator.authenticate(await _wire_request(request))
        request[CALLER] = caller
        return caller

    def require(self, request: web.Request, action: str, resource: str) -> Caller:
        """The caller, if its policy allows `action` on `resource`; else AccessDenied."""
        caller = request[CALLER]
        caller.require(action, resource)
        request[AUTHORIZED] = True
        return caller

    def require_on_function(
        self, request: web.Request, action: str, raw_name: str, qualifier: str | None = None
    ) -> Caller:
        """`require` on the function (ARN, qualified when the request names a version)."""
        name, in_name = split_function_name(raw_name)
        resource = function_arn(self._region, self._account_id, name, in_name or qualifier)
        return self.require(request, action, resource)

    def no_action(self, request: web.Request) -> None:
        """The route performs nothing that needs a permission (e.g. an unknown operation)."""
        request[AUTHORIZED] = True

    def presign_code_url(self, request: web.Request, path: str, expires_s: int) -> str:
        if self._authenticator is None:
            return f"{request.scheme}://{request.host}{path}"
        target = self._authenticator.presign_code_url(path, request.host, expires_s)
        return f"{request.scheme}://{request.host}{target}"


def guarded(handler: Handler, auth: GatewayAuth) -> Handler:
    """The route's handler behind authentication, with Lambda's error shapes."""

    async def authenticated(request: web.Request) -> web.StreamResponse:
        await auth.authenticate(request)
        response = await handler(request)
        if not request.get(AUTHORIZED):
            log.error("route %s %s answered without authorizing", request.method, request.path)
            raise ServiceError("Internal error; the server log has details")
        return response

    return lambda_errors(authenticated)


async def _wire_request(request: web.Request) -> WireRequest:
    body = await request.read()
    digest = None
    if len(body) > HASH_IN_THREAD_BYTES:
        digest = await asyncio.to_thread(lambda: hashlib.sha256(body).hexdigest())
    return WireRequest(
        request.method, request.raw_path, _Headers(request.headers), body, body_sha256=digest
    )
