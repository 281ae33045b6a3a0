"""`faas logs`: a function's log events, and the live tail.

GET /faas/v1/logs/{function}[?since=MS][&request-id=ID][&filter=PATTERN][&token=T] answers a
page of events (FilterLogEvents' order and patterns) and `FollowAfter`, where a live tail of
what comes next starts. GET /faas/v1/logs/{function}/follow?after=ID[&request-id][&filter] is
that tail: server-sent events, one `data:` line of JSON per log event, pushed as soon as the
logs are written (the writer wakes it), with a one-second look at the database when nothing
was written here (the logs of another node of a cluster) and a comment line every 15 s so a
proxy keeps the connection. It ends when the client goes or the server stops.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time

import orjson
from aiohttp import web

from faas.domain import LogEvent, LogQuery
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.gateway.auth import guarded
from faas.gateway.codec import json_response
from faas.gateway.services import LogSource, Services
from faas.logs.patterns import Matcher, PatternError, compile_pattern
from faas.registry.names import split_function_name

PATH = "/faas/v1/logs/{name}"
FOLLOW_PATH = "/faas/v1/logs/{name}/follow"
PAGE_EVENTS = 1000
FOLLOW_WAKE_S = 1.0
KEEP_ALIVE_S = 15.0
FOLLOW_BATCH_CHUNKS = 500


def add_routes(app: web.Application, services: Services) -> None:
    if services.logs is None:
        return
    api = FunctionLogsApi(services, services.logs)
    app.router.add_get(PATH, guarded(api.page, services.auth, "GetFunctionLogs"))
    app.router.add_get(FOLLOW_PATH, guarded(api.follow, services.auth, "FollowFunctionLogs"))


def event_document(event: LogEvent) -> dict[str, object]:
    return {
        "timestamp": event.timestamp_ms,
        "message": event.message,
        "logStreamName": event.log_stream,
        "requestId": event.request_id,
    }


class FunctionLogsApi:
    def __init__(self, services: Services, logs: LogSource) -> None:
        self._services = services
        self._logs = logs

    def _group(self, request: web.Request) -> str:
        """The function's log group, once the caller may read it (a deleted function's logs
        stay readable under Lambda's default group)."""
        name, _ = split_function_name(request.match_info["name"])
        try:
            group = self._services.registry.get(name).logging.group_for(name)
        except ResourceNotFound:
            group = f"/aws/lambda/{name}"
        auth = self._services.auth
        arn = f"arn:aws:logs:{auth.region}:{auth.account_id}:log-group:{group}:*"
        auth.require(request, "logs:FilterLogEvents", arn)
        return group

    async def page(self, request: web.Request) -> web.Response:
        group = self._group(request)
        matches = _matches(request)
        await self._logs.flushed()
        follow_after = await asyncio.to_thread(self._logs.last_chunk_id, group)
        query = LogQuery(
            log_group=group,
            start_ms=_since(request),
            request_id=request.query.get("request-id") or None,
            upto_chunk_id=follow_after,
            matches=matches,
            limit=PAGE_EVENTS,
        )
        page = await asyncio.to_thread(self._logs.filter, query, _position(request))
        document: dict[str, object] = {
            "LogGroup": group,
            "Events": [event_document(event) for event in page.events],
            "FollowAfter": follow_after,
        }
        if page.next_position is not None:
            document["NextToken"] = base64.urlsafe_b64encode(
                orjson.dumps(list(page.next_position))
            ).decode()
        return json_response(document)

    async def follow(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        matches = _matches(request)
        request_id = request.query.get("request-id") or None
        after = _int(request, "after")
        if after is None:
            await self._logs.flushed()
            after = await asyncio.to_thread(self._logs.last_chunk_id, group)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(b": following\n\n")
        quiet_since = time.monotonic()
        try:
            while await self._logs.written(FOLLOW_WAKE_S):
                events = await asyncio.to_thread(
                    self._logs.newer, group, after, request_id, FOLLOW_BATCH_CHUNKS
                )
                lines = []
                for event in events:
                    after = max(after, event.chunk_id)
                    if matches is None or matches(event.message):
                        lines.append(b"data: " + orjson.dumps(event_document(event)) + b"\n\n")
                if not lines and time.monotonic() - quiet_since > KEEP_ALIVE_S:
                    lines.append(b": keep-alive\n\n")
                if lines:
                    await response.write(b"".join(lines))
                    quiet_since = time.monotonic()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away
        return response


def _matches(request: web.Request) -> Matcher | None:
    try:
        return compile_pattern(request.query.get("filter"))
    except PatternError as exc:
        raise InvalidParameterValue(str(exc)) from exc


def _int(request: web.Request, key: str) -> int | None:
    text = request.query.get(key)
    if not text:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise InvalidParameterValue(f"{key} must be an integer, not {text[:40]!r}") from exc


def _since(request: web.Request) -> int | None:
    return _int(request, "since")


def _position(request: web.Request) -> tuple[int, int, int] | None:
    token = request.query.get("token")
    if not token:
        return None
    try:
        first, chunk, index = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(first), int(chunk), int(index)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidParameterValue("token is not one this server gave") from exc
