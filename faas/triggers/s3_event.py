"""The S3 notification event a bucket's file event becomes (pure).

The shape is S3's (event version 2.1, as the classic documentation and most handlers expect):
one record per event, the object key URL-encoded as S3 encodes it (a space becomes `+`), size
and eTag only for created objects, a sequencer that grows with every event of this server.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from faas.domain import FileEventKind

EVENT_VERSION = "2.1"
# A rename into a bucket is announced as a Put: uploaders write a temporary name and rename
# it when complete, which S3 users see as one PUT (docs/buckets.md).
CREATED_EVENT = "ObjectCreated:Put"
REMOVED_EVENT = "ObjectRemoved:Delete"
OWNER = "faas"


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One file event, as the watcher saw it."""

    bucket: str
    key: str
    kind: FileEventKind
    size: int = 0
    etag: str = ""
    # Who wrote it: a function's name, or a host user ("uid:1000" when it has no name).
    principal: str = OWNER
    configuration_id: str = ""


class Sequencer:
    """S3's sequencer: a hex string that orders the events of one key; here, every event
    of this server (microseconds since the epoch, bumped so that it never repeats)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> str:
        value = max(int(self._clock() * 1_000_000), self._last + 1)
        self._last = value
        return f"{value:016X}"


def encode_key(key: str) -> str:
    """S3's encoding of a key in an event: form encoding, `/` kept."""
    return urllib.parse.quote_plus(key, safe="/")


def s3_event(
    event: ObjectEvent,
    *,
    region: str,
    event_time_ms: int,
    sequencer: str,
    request_id: str,
) -> dict[str, object]:
    created = event.kind is FileEventKind.CREATED
    s3_object: dict[str, object] = {"key": encode_key(event.key)}
    if created:
        s3_object.update(size=event.size, eTag=event.etag)
    s3_object["sequencer"] = sequencer
    moment = dt.datetime.fromtimestamp(event_time_ms / 1000, tz=dt.UTC)
    record = {
        "eventVersion": EVENT_VERSION,
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{event_time_ms % 1000:03d}Z",
        "eventName": CREATED_EVENT if created else REMOVED_EVENT,
        "userIdentity": {"principalId": event.principal},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": sequencer},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": event.configuration_id,
            "bucket": {
                "name": event.bucket,
                "ownerIdentity": {"principalId": OWNER},
                "arn": f"arn:aws:s3:::{event.bucket}",
            },
            "object": s3_object,
        },
    }
    return {"Records": [record]}
