"""The audit log over HTTP (`faas audit` uses it):

  GET /faas/v1/audit?since=&key=&outcome=&limit=   -> {"AuditEvents": [...]}, newest first

- `since`: an ISO 8601 time (UTC unless it says otherwise) or epoch milliseconds;
- `key`: a key's name or access key id;
- `outcome`: `allowed`, `denied` or `failed`, an error code (`AccessDeniedException`) or an
  HTTP status (`404`);
- `limit`: 1 to 1000, 50 when not given.
The answer includes every call answered before this one (the writer is flushed first); this
call itself is audited once answered, like every management call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping

from aiohttp import web

from faas.domain import AuditQuery
from faas.errors import InvalidParameterValue
from faas.gateway.audit import AuditSink
from faas.gateway.auth import GatewayAuth, guarded
from faas.gateway.codec import audit_document, json_response

PATH = "/faas/v1/audit"
ACTION = "faas:ListAuditEvents"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_FILTER_CHARS = 128


def add_routes(app: web.Application, audit: AuditSink, auth: GatewayAuth) -> None:
    api = AuditApi(audit, auth)
    app.router.add_get(PATH, guarded(api.list, auth, "ListAuditEvents"))


class AuditApi:
    def __init__(self, audit: AuditSink, auth: GatewayAuth) -> None:
        self._audit = audit
        self._auth = auth

    async def list(self, request: web.Request) -> web.Response:
        self._auth.require(request, ACTION, "*")
        query = audit_query(request.query)
        await self._audit.flushed()
        events = await asyncio.to_thread(self._audit.recent, query)
        return json_response({"AuditEvents": [audit_document(event) for event in events]})


def audit_query(params: Mapping[str, str]) -> AuditQuery:
    since = params.get("since") or None
    return AuditQuery(
        since_ms=None if since is None else parse_time_ms(since),
        key=_filter(params.get("key"), "key"),
        outcome=_filter(params.get("outcome"), "outcome"),
        limit=_limit(params.get("limit")),
    )


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds, or an ISO 8601 time (without an offset: UTC) -> epoch ms."""
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidParameterValue(
            "since must be an ISO 8601 time (2024-05-01T12:00:00Z) or epoch milliseconds"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _filter(value: str | None, name: str) -> str | None:
    if not value:
        return None
    if len(value) > MAX_FILTER_CHARS:
        raise InvalidParameterValue(f"{name} must be at most {MAX_FILTER_CHARS} characters")
    return value


def _limit(text: str | None) -> int:
    if not text:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError as exc:
        raise InvalidParameterValue("limit must be an integer") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameterValue(f"limit must be between 1 and {MAX_LIMIT}")
    return limit
