"""Every API route is guarded: the caller is authenticated before its handler runs, and the
handler authorizes the one action it performs, on the resource it acts on, before it looks
anything up (so a caller without rights learns nothing, not even whether a function exists).

A route whose handler returns without having authorized anything is a bug; it fails closed
with a 500 instead of answering. With `auth.enabled = false` (throwaway local use only) every
caller is an anonymous principal allowed everything, so handlers run the same code either way.

Between authentication and the handler, the caller's key takes a token from its rate limit
(`faas/ratelimit.py`: `invoke` for Invoke, `management` for every other route): over it, the
call is answered 429 before its handler does anything. Once answered, the call is audited
(`faas/gateway/audit.py`) when it is a management call or was refused; an Invoke that was
not refused costs one comparison of its status there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence

from aiohttp import web
from multidict import CIMultiDictProxy

from faas.auth.authenticator import Authenticator, Caller
from faas.auth.keys import ADMIN_POLICY, AccessKey
from faas.auth.policy import parse_policy
from faas.auth.sigv4 import WireRequest
from faas.domain import AuditOutcome
from faas.errors import AccessDenied, ServiceError, TooManyRequests
from faas.gateway.audit import AuditTrail
from faas.gateway.errors import Handler, error_answer
from faas.ratelimit import ClassLimit, RateClass, RateLimiter
from faas.registry.names import function_arn, split_function_name

log = logging.getLogger(__name__)

CALLER = web.RequestKey("faas.caller", Caller)
# (action, resource) the caller's policy allowed; NO_ACTION for a route that needs none.
AUTHORIZED = web.RequestKey("faas.authorized", tuple[str, str])
# (action, resource) the caller's policy refused.
DENIED = web.RequestKey("faas.denied", tuple[str, str])
NO_ACTION = ("", "")
# Refused by the caller's rate limit (a 429 that is a refusal, unlike a concurrency throttle).
RATE_LIMITED = web.RequestKey("faas.rate_limited", bool)
# The operation of the one route whose calls are not management calls.
INVOKE_OPERATION = "Invoke"
FORBIDDEN = 403
THROTTLED = 429
# The status an audit event gives a call that was cut off before it was answered.
UNANSWERED = 499
# A route's API operation: its name, or (the catch-all) how to tell it from the request.
Operation = str | Callable[[web.Request], str]
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
        self,
        authenticator: Authenticator | None,
        *,
        region: str,
        account_id: str,
        rate_limiter: RateLimiter | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._region = region
        self._account_id = account_id
        self._rate_limiter = rate_limiter
        self._audit = audit
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

    def rate_limit(self, rate_class: RateClass) -> ClassLimit | None:
        """The rate limit of a class of calls, or None when they are not limited."""
        return None if self._rate_limiter is None else self._rate_limiter.for_class(rate_class)

    def require(self, request: web.Request, action: str, resource: str) -> Caller:
        """The caller, if its policy allows `action` on `resource`; else AccessDenied."""
        caller = request[CALLER]
        try:
            caller.require(action, resource)
        except AccessDenied:
            request[DENIED] = (action, resource)
            raise
        request[AUTHORIZED] = (action, resource)
        return caller

    @property
    def region(self) -> str:
        return self._region

    @property
    def account_id(self) -> str:
        return self._account_id

    def require_on_function(
        self, request: web.Request, action: str, raw_name: str, qualifier: str | None = None
    ) -> Caller:
        """`require` on the function (ARN, qualified when the request names a version)."""
        name, in_name = split_function_name(raw_name)
        resource = function_arn(self._region, self._account_id, name, in_name or qualifier)
        return self.require(request, action, resource)

    def require_invoke(
        self,
        request: web.Request,
        raw_name: str,
        qualifier: str | None,
        granted: Callable[[str, str, str | None], bool] | None,
    ) -> None:
        """lambda:InvokeFunction on the function: the caller's own policy allows it, or else
        the function's resource policy grants it to the caller (`granted(caller arn, name,
        qualifier)`, consulted only after a refusal: nothing on the usual path)."""
        name, in_name = split_function_name(raw_name)
        chosen = in_name or qualifier
        resource = function_arn(self._region, self._account_id, name, chosen)
        self.require_or_granted(
            request,
            "lambda:InvokeFunction",
            resource,
            None if granted is None else lambda caller_arn: granted(caller_arn, name, chosen),
        )

    def require_or_granted(
        self,
        request: web.Request,
        action: str,
        resource: str,
        granted: Callable[[str], bool] | None,
    ) -> None:
        """`require`, or else a resource policy grants `action` to the caller
        (`granted(caller arn)`, consulted only after a refusal). An explicit deny in the
        caller's own policy wins, as on AWS."""
        try:
            self.require(request, action, resource)
        except AccessDenied:
            caller: Caller = request[CALLER]
            if granted is None or caller.key.policy.denies(action, resource):
                raise
            if not granted(caller.arn):
                raise
            request.pop(DENIED, None)
            request[AUTHORIZED] = (action, resource)

    def no_action(self, request: web.Request) -> None:
        """The route performs nothing that needs a permission (e.g. an unknown operation)."""
        request[AUTHORIZED] = NO_ACTION

    def source_address(self, request: web.Request) -> str:
        """Where the request came from (through `server.trusted_proxies`, as audited)."""
        if self._audit is None:
            return request.remote or "unknown"
        return self._audit.source_address(request)

    def presign_code_url(self, request: web.Request, path: str, expires_s: int) -> str:
        if self._authenticator is None:
            return f"{request.scheme}://{request.host}{path}"
        target = self._authenticator.presign_code_url(path, request.host, expires_s)
        return f"{request.scheme}://{request.host}{target}"

    def audit(
        self,
        request: web.Request,
        response: web.StreamResponse | None,
        status: int,
        operation: Operation,
    ) -> None:
        """Leave the audit event of an answered call. Never raises: the answer goes out
        whatever happens here."""
        if self._audit is None:
            return
        try:
            authorized = request.get(AUTHORIZED)
            checked = authorized if authorized is not None else request.get(DENIED)
            self._audit.record(
                request,
                response,
                status=status,
                caller=request.get(CALLER),
                authorization=None if checked is None or checked is NO_ACTION else checked,
                operation=operation if isinstance(operation, str) else operation(request),
                outcome=_outcome(request, status),
            )
        except Exception:
            log.exception("audit event of %s %s not recorded", request.method, request.path)


def _refused(request: web.Request, status: int) -> bool:
    """Refused by authentication, authorization or the caller's rate limit."""
    return status == FORBIDDEN or (status == THROTTLED and request.get(RATE_LIMITED, False))


def _outcome(request: web.Request, status: int) -> AuditOutcome:
    if _refused(request, status):
        return AuditOutcome.DENIED
    if request.get(AUTHORIZED) is not None:
        return AuditOutcome.ALLOWED
    return AuditOutcome.FAILED


def guarded(handler: Handler, auth: GatewayAuth, operation: Operation) -> Handler:
    """The route's handler behind authentication and the caller's rate limit, with Lambda's
    error shapes, audited. `operation` names the route's API operation (`GetFunction`)."""
    rate_class = RateClass.INVOKE if operation == INVOKE_OPERATION else RateClass.MANAGEMENT
    rate_limit = auth.rate_limit(rate_class)

    async def authenticated(request: web.Request) -> web.StreamResponse:
        caller = await auth.authenticate(request)
        if rate_limit is not None:
            try:
                rate_limit.admit(caller.key.name)
            except TooManyRequests:
                request[RATE_LIMITED] = True
                raise
        response = await handler(request)
        if request.get(AUTHORIZED) is None:
            log.error("route %s %s answered without authorizing", request.method, request.path)
            raise ServiceError("Internal error; the server log has details")
        return response

    return _answered_and_audited(
        authenticated, auth, operation, every_call_audited=rate_class is RateClass.MANAGEMENT
    )


def audited_refusals(handler: Handler, auth: GatewayAuth, operation: Operation) -> Handler:
    """`handler` (which answers anyone, e.g. /health) with Lambda's error shapes, audited
    only when it refuses a caller."""
    return _answered_and_audited(handler, auth, operation, every_call_audited=False)


def _answered_and_audited(
    handler: Handler, auth: GatewayAuth, operation: Operation, *, every_call_audited: bool
) -> Handler:
    """`handler` with Lambda's error shapes (`error_answer`), then audited: every call, or
    only refused ones. One coroutine, not two wrappers: this runs for every Invoke."""

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPRequestEntityTooLarge as too_large:
            response = error_answer(request, too_large)
        except web.HTTPException as answered_by_aiohttp:
            if every_call_audited or _refused(request, answered_by_aiohttp.status):
                auth.audit(request, None, answered_by_aiohttp.status, operation)
            raise
        except asyncio.CancelledError:
            # Cut off before its answer (a stop that outlasted server.shutdown_grace_s): what
            # it did may have happened all the same.
            if every_call_audited:
                auth.audit(request, None, UNANSWERED, operation)
            raise
        except Exception as error:
            response = error_answer(request, error)
        status = response.status
        # All an Invoke answered below 403 pays for: one comparison of its status.
        if every_call_audited or (status >= FORBIDDEN and _refused(request, status)):
            auth.audit(request, response, status, operation)
        return response

    return answer


async def _wire_request(request: web.Request) -> WireRequest:
    body = await request.read()
    digest = None
    if len(body) > HASH_IN_THREAD_BYTES:
        digest = await asyncio.to_thread(lambda: hashlib.sha256(body).hexdigest())
    return WireRequest(
        request.method, request.raw_path, _Headers(request.headers), body, body_sha256=digest
    )
