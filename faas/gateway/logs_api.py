"""CloudWatch Logs, the part the AWS SDKs and AWS CLI v1 use to read Lambda's logs:
FilterLogEvents, GetLogEvents, DescribeLogGroups, DescribeLogStreams, PutRetentionPolicy,
DeleteRetentionPolicy and DeleteLogGroup.

The JSON protocol, as botocore's model (data/logs/2014-03-28) has it: `POST /` with
`X-Amz-Target: Logs_20140328.<Operation>` and a JSON body, SigV4-signed for the service
`logs`; errors are a JSON body whose `__type` botocore reads (InvalidParameterException,
ResourceNotFoundException). Tokens are opaque to the client: where the next page starts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from faas.domain import LogEvent, LogGroupInfo, LogQuery, LogStreamInfo
from faas.errors import FaasError, ResourceNotFound
from faas.gateway.auth import AUTHORIZED, guarded
from faas.gateway.services import LogSource, Services
from faas.logs.patterns import PatternError, compile_pattern

TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = "application/x-amz-json-1.1"
# CloudWatch's retention choices (the Days shape of the model).
RETENTION_DAYS = frozenset(
    (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
     2922, 3288, 3653)
)  # fmt: skip
EVENTS_LIMIT = 10_000
DESCRIBE_LIMIT = 50
STREAM_NOT_FOUND = "The specified log stream does not exist."
GROUP_NOT_FOUND = "The specified log group does not exist."


class LogsError(FaasError):
    """An error in CloudWatch Logs' words (its codes differ from Lambda's)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def invalid(message: str) -> LogsError:
    return LogsError("InvalidParameterException", message)


def add_routes(app: web.Application, services: Services) -> None:
    if services.logs is None:
        return
    api = LogsApi(services, services.logs)
    app.router.add_post("/", guarded(api.dispatch, services.auth, _operation))


def _operation(request: web.Request) -> str:
    return request.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX) or "Logs"


class LogsApi:
    def __init__(self, services: Services, logs: LogSource) -> None:
        self._auth = services.auth
        self._logs = logs
        self._arn_prefix = f"arn:aws:logs:{services.auth.region}:{services.auth.account_id}:"
        self._operations: dict[str, Callable[[web.Request, dict[str, Any]], Awaitable[Any]]] = {
            "FilterLogEvents": self.filter_log_events,
            "GetLogEvents": self.get_log_events,
            "DescribeLogGroups": self.describe_log_groups,
            "DescribeLogStreams": self.describe_log_streams,
            "PutRetentionPolicy": self.put_retention_policy,
            "DeleteRetentionPolicy": self.delete_retention_policy,
            "DeleteLogGroup": self.delete_log_group,
        }

    async def dispatch(self, request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        operation = self._operations.get(target.removeprefix(TARGET_PREFIX))
        if not target.startswith(TARGET_PREFIX) or operation is None:
            self._auth.no_action(request)
            return _error(
                LogsError(
                    "UnknownOperationException",
                    f"faas does not support the CloudWatch Logs operation {target[:80]!r}",
                )
            )
        try:
            document = _body(await request.read())
            answer = await operation(request, document)
        except ResourceNotFound as missing:
            return self._refused(request, LogsError("ResourceNotFoundException", missing.message))
        except LogsError as error:
            return self._refused(request, error)
        return web.Response(body=orjson.dumps(answer), content_type=CONTENT_TYPE)

    def _refused(self, request: web.Request, error: LogsError) -> web.Response:
        # Refused before it named what it acts on (no logGroupName, a bad token...): it was
        # authorized for nothing, as an unknown target is. Without saying so, the route's
        # guard would take the answer for a route that forgot to authorize and make it a 500.
        if request.get(AUTHORIZED) is None:
            self._auth.no_action(request)
        return _error(error)

    # -- operations ---------------------------------------------------------------------------

    async def describe_log_groups(self, request: web.Request, body: dict[str, Any]) -> Any:
        self._auth.require(request, "logs:DescribeLogGroups", self._arn_prefix + "log-group:*")
        if body.get("logGroupNamePattern") or body.get("logGroupIdentifiers"):
            raise invalid("faas supports logGroupNamePrefix only, not a pattern or identifiers")
        prefix = _string(body, "logGroupNamePrefix") or ""
        limit = _limit(body, DESCRIBE_LIMIT)
        after = _token(body)
        await self._logs.flushed()
        found = await asyncio.to_thread(
            self._logs.groups, prefix, None if after is None else str(after), limit + 1
        )
        answer: dict[str, Any] = {"logGroups": [self._group(g) for g in found[:limit]]}
        if len(found) > limit:
            answer["nextToken"] = _encode(found[limit - 1].name)
        return answer

    async def describe_log_streams(self, request: web.Request, body: dict[str, Any]) -> Any:
        group = await self._group_of(request, body, "logs:DescribeLogStreams")
        order = _string(body, "orderBy") or "LogStreamName"
        if order not in ("LogStreamName", "LastEventTime"):
            raise invalid("orderBy must be LogStreamName or LastEventTime")
        prefix = _string(body, "logStreamNamePrefix") or ""
        if prefix and order == "LastEventTime":
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = _limit(body, DESCRIBE_LIMIT)
        offset = int(_token(body) or 0)
        found = await asyncio.to_thread(
            lambda: self._logs.streams(
                group,
                prefix=prefix,
                by_last_event=order == "LastEventTime",
                descending=bool(body.get("descending")),
                offset=offset,
                limit=limit + 1,
            )
        )
        answer: dict[str, Any] = {"logStreams": [self._stream(group, s) for s in found[:limit]]}
        if len(found) > limit:
            answer["nextToken"] = _encode(offset + limit)
        return answer

    async def get_log_events(self, request: web.Request, body: dict[str, Any]) -> Any:
        group = await self._group_of(request, body, "logs:GetLogEvents")
        stream = _string(body, "logStreamName")
        if not stream:
            raise invalid("logStreamName is required")
        if not await asyncio.to_thread(self._logs.stream_exists, group, stream):
            raise ResourceNotFound(STREAM_NOT_FOUND)
        token = body.get("nextToken")
        position, forward = _stream_position(token, bool(body.get("startFromHead")))
        limit = _limit(body, EVENTS_LIMIT)
        events = await asyncio.to_thread(
            lambda: self._logs.stream_events(
                group,
                stream,
                start_ms=_time(body, "startTime"),
                end_ms=_time(body, "endTime"),
                position=position,
                forward=forward,
                limit=limit,
            )
        )
        if events:
            first, last = events[0], events[-1]
            forward_token = f"f/{last.chunk_id}/{last.index}"
            backward_token = f"b/{first.chunk_id}/{first.index}"
        else:  # nothing more that way: the same token again (how clients know to stop)
            here = token[2:] if isinstance(token, str) else None
            forward_token = "f/0/-1" if here is None else f"f/{here}"
            backward_token = "b/0/0" if here is None else f"b/{here}"
        return {
            "events": [
                {"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_ms}
                for e in events
            ],
            "nextForwardToken": forward_token,
            "nextBackwardToken": backward_token,
        }

    async def filter_log_events(self, request: web.Request, body: dict[str, Any]) -> Any:
        group = await self._group_of(request, body, "logs:FilterLogEvents")
        streams = body.get("logStreamNames") or []
        prefix = _string(body, "logStreamNamePrefix")
        if streams and prefix:
            raise invalid("logStreamNames and logStreamNamePrefix cannot both be given")
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
            raise invalid("logStreamNames must be a list of stream names")
        if len(streams) > 100:
            raise invalid("logStreamNames takes at most 100 names")
        try:
            matches = compile_pattern(_string(body, "filterPattern"))
        except PatternError as exc:
            raise invalid(str(exc)) from exc
        query = LogQuery(
            log_group=group,
            streams=tuple(streams),
            stream_prefix=prefix,
            start_ms=_time(body, "startTime"),
            end_ms=_time(body, "endTime"),
            matches=matches,
            limit=_limit(body, EVENTS_LIMIT),
        )
        position = _token(body)
        if position is not None and (
            not isinstance(position, list)
            or len(position) != 3
            or not all(isinstance(p, int) for p in position)
        ):
            raise invalid("The nextToken is not valid")
        page = await asyncio.to_thread(
            self._logs.filter,
            query,
            None if position is None else (position[0], position[1], position[2]),
        )
        answer: dict[str, Any] = {
            "events": [_filtered(event) for event in page.events],
            "searchedLogStreams": [],
        }
        if page.next_position is not None:
            answer["nextToken"] = _encode(list(page.next_position))
        return answer

    async def put_retention_policy(self, request: web.Request, body: dict[str, Any]) -> Any:
        group = await self._group_of(request, body, "logs:PutRetentionPolicy", name_only=True)
        days = body.get("retentionInDays")
        if not isinstance(days, int) or isinstance(days, bool) or days not in RETENTION_DAYS:
            raise invalid(
                "retentionInDays must be one of "
                + ", ".join(str(d) for d in sorted(RETENTION_DAYS))
            )
        await asyncio.to_thread(self._logs.put_retention, group, days)
        return {}

    async def delete_retention_policy(self, request: web.Request, body: dict[str, Any]) -> Any:
        group = await self._group_of(request, body, "logs:DeleteRetentionPolicy", name_only=True)
        await asyncio.to_thread(self._logs.put_retention, group, None)
        return {}

    async def delete_log_group(self, request: web.Request, body: dict[str, Any]) -> Any:
        group = await self._group_of(request, body, "logs:DeleteLogGroup", name_only=True)
        await asyncio.to_thread(self._logs.delete_group, group)
        return {}

    # -- steps --------------------------------------------------------------------------------

    async def _group_of(
        self, request: web.Request, body: dict[str, Any], action: str, *, name_only: bool = False
    ) -> str:
        """The log group the request names (logGroupName, or logGroupIdentifier: a name or
        an ARN), once the caller may `action` on it and it exists."""
        name = _string(body, "logGroupName")
        identifier = None if name_only else _string(body, "logGroupIdentifier")
        if name and identifier:
            raise invalid("logGroupName and logGroupIdentifier cannot both be given")
        if identifier:
            name = self._group_from_identifier(identifier)
        if not name:
            raise invalid("logGroupName is required")
        self._auth.require(request, action, f"{self._arn_prefix}log-group:{name}:*")
        await self._logs.flushed()
        if await asyncio.to_thread(self._logs.group, name) is None:
            raise ResourceNotFound(GROUP_NOT_FOUND)
        return name

    def _group_from_identifier(self, identifier: str) -> str:
        if not identifier.startswith("arn:"):
            return identifier
        if not identifier.startswith(self._arn_prefix + "log-group:"):
            raise ResourceNotFound(GROUP_NOT_FOUND)
        return identifier.removeprefix(self._arn_prefix + "log-group:").removesuffix(":*")

    def _group(self, group: LogGroupInfo) -> dict[str, Any]:
        arn = f"{self._arn_prefix}log-group:{group.name}"
        document: dict[str, Any] = {
            "logGroupName": group.name,
            "creationTime": group.created_ms,
            "metricFilterCount": 0,
            "arn": arn + ":*",
            "logGroupArn": arn,
            "storedBytes": max(group.stored_bytes, 0),
            "logGroupClass": "STANDARD",
        }
        if group.retention_days is not None:
            document["retentionInDays"] = group.retention_days
        return document

    def _stream(self, group: str, stream: LogStreamInfo) -> dict[str, Any]:
        return {
            "logStreamName": stream.name,
            "creationTime": stream.created_ms,
            "firstEventTimestamp": stream.first_event_ms,
            "lastEventTimestamp": stream.last_event_ms,
            "lastIngestionTime": stream.last_ingestion_ms,
            "arn": f"{self._arn_prefix}log-group:{group}:log-stream:{stream.name}",
            "storedBytes": stream.stored_bytes,
        }


def _filtered(event: LogEvent) -> dict[str, Any]:
    return {
        "logStreamName": event.log_stream,
        "timestamp": event.timestamp_ms,
        "message": event.message,
        "ingestionTime": event.ingestion_ms,
        "eventId": f"{event.chunk_id:020d}{event.index:07d}",
    }


def _error(error: LogsError) -> web.Response:
    body = {"__type": error.code, "message": error.message}
    headers = {"X-Amzn-ErrorType": error.code}
    return web.Response(
        status=error.status, body=orjson.dumps(body), content_type=CONTENT_TYPE, headers=headers
    )


def _body(raw: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise LogsError("SerializationException", f"the body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise LogsError("SerializationException", "the body must be a JSON object")
    return document


def _string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    return value


def _time(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid(f"{key} must be milliseconds since the epoch")
    return value


def _limit(body: dict[str, Any], most: int) -> int:
    value = body.get("limit", most)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise invalid(f"limit must be between 1 and {most}")
    return value


def _encode(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode()


def _token(body: dict[str, Any]) -> Any:
    token = body.get("nextToken")
    if token is None:
        return None
    if not isinstance(token, str):
        raise invalid("The nextToken is not valid")
    try:
        return orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise invalid("The nextToken is not valid") from exc


def _stream_position(token: object, from_head: bool) -> tuple[tuple[int, int] | None, bool]:
    """GetLogEvents' token ("f/<chunk>/<index>": after that event; "b/...": before it)."""
    if token is None:
        return None, from_head
    if not isinstance(token, str):
        raise invalid("The nextToken is not valid")
    direction, _, rest = token.partition("/")
    chunk, _, index = rest.partition("/")
    try:
        position = (int(chunk), int(index))
    except ValueError as exc:
        raise invalid("The nextToken is not valid") from exc
    if direction not in ("f", "b"):
        raise invalid("The nextToken is not valid")
    return position, direction == "f"
