"""The worker wire format's decoder (faas/pool/protocol.py): whole frames, split frames and
several frames in one read decode alike; bad metadata is a protocol error."""

from __future__ import annotations

import pytest

from faas.pool.protocol import Frame, FrameDecoder, ProtocolError, encode_frame, encode_invoke


def decoded(*reads: bytes) -> list[Frame]:
    frames: list[Frame] = []
    decoder = FrameDecoder(frames.append)
    for data in reads:
        decoder.feed(data)
    return frames


def test_a_whole_frame_in_one_read() -> None:
    assert decoded(encode_frame({"t": "ok", "mem": 7}, b'{"a": 1}')) == [
        Frame({"t": "ok", "mem": 7}, b'{"a": 1}')
    ]


def test_a_frame_split_over_reads_and_frames_sharing_a_read() -> None:
    first = encode_frame({"t": "ok"}, b"x" * 1000)
    second = encode_invoke("id-1", 5, "arn", None, b"{}")
    data = first + second
    for cut in (1, 7, 8, 20, len(first) - 1, len(first), len(first) + 3):
        frames = decoded(data[:cut], data[cut:])
        assert [f.body for f in frames] == [b"x" * 1000, b"{}"]
        assert frames[1].meta == {"id": "id-1", "deadline_ms": 5, "arn": "arn", "cc": None}
    assert [f.body for f in decoded(data)] == [b"x" * 1000, b"{}"]


@pytest.mark.parametrize("meta", [b"not json", b"[1, 2]"])
def test_metadata_that_is_not_a_json_object_is_a_protocol_error(meta: bytes) -> None:
    frame = len(meta).to_bytes(4, "big") + (0).to_bytes(4, "big") + meta
    with pytest.raises(ProtocolError):
        decoded(frame)
    with pytest.raises(ProtocolError):
        decoded(frame[:3], frame[3:])
