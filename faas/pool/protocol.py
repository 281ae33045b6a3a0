"""The platform's side of the worker wire format (see runtimes/python/bootstrap.py).

Every frame is `>II` (meta length, body length) + meta (JSON object) + body (raw bytes).
The body is never re-encoded: event and result bytes pass through untouched.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

HEADER = struct.Struct(">II")
# A result larger than this is a protocol violation (Lambda caps responses at 6 MB; the
# margin covers error documents and metadata).
MAX_FRAME_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Frame:
    meta: dict[str, Any]
    body: bytes


class ProtocolError(Exception):
    """The worker sent something that is not a valid frame."""


class FrameTooLarge(ProtocolError):
    """A frame over MAX_FRAME_BYTES: in practice, a function result far over Lambda's 6 MB."""


def encode_invoke(
    request_id: str, deadline_ms: int, arn: str, client_context: str | None, event: bytes
) -> bytes:
    meta = orjson.dumps(
        {"id": request_id, "deadline_ms": deadline_ms, "arn": arn, "cc": client_context}
    )
    return HEADER.pack(len(meta), len(event)) + meta + event


def encode_frame(meta: dict[str, Any], body: bytes = b"") -> bytes:
    encoded = orjson.dumps(meta)
    return HEADER.pack(len(encoded), len(body)) + encoded + body


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole frames out."""

    def __init__(self, on_frame: Callable[[Frame], None]) -> None:
        self._buffer = bytearray()
        self._on_frame = on_frame

    def feed(self, data: bytes) -> None:
        if not self._buffer and self._feed_whole_frame(data):
            return
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            meta_len, body_len = HEADER.unpack_from(self._buffer)
            total = HEADER.size + meta_len + body_len
            if meta_len + body_len > MAX_FRAME_BYTES:
                raise FrameTooLarge(f"frame of {total} bytes is over the limit")
            if len(self._buffer) < total:
                return
            meta_end = HEADER.size + meta_len
            try:
                meta = orjson.loads(self._buffer[HEADER.size : meta_end])
            except orjson.JSONDecodeError as exc:
                raise ProtocolError("frame metadata is not JSON") from exc
            if not isinstance(meta, dict):
                raise ProtocolError("frame metadata is not an object")
            body = bytes(self._buffer[meta_end:total])
            del self._buffer[:total]
            self._on_frame(Frame(meta, body))

    def _feed_whole_frame(self, data: bytes) -> bool:
        """The usual case, one whole frame in one read: decoded without copying it into the
        buffer first. False (nothing consumed) for anything else."""
        if len(data) < HEADER.size:
            return False
        meta_len, body_len = HEADER.unpack_from(data)
        meta_end = HEADER.size + meta_len
        if meta_end + body_len != len(data):
            return False
        try:
            meta = orjson.loads(memoryview(data)[HEADER.size : meta_end])
        except orjson.JSONDecodeError as exc:
            raise ProtocolError("frame metadata is not JSON") from exc
        if not isinstance(meta, dict):
            raise ProtocolError("frame metadata is not an object")
        self._on_frame(Frame(meta, data[meta_end:]))
        return True
