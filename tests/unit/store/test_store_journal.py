"""The records journal's file format and segments, on real files."""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from pathlib import Path

import pytest

from faas.store.journal import (
    HEADER_BYTES,
    SegmentWriter,
    decode_frames,
    encode_frame,
    read_entries,
    segment_path,
    segment_seqs,
)

PAYLOADS = [b'["r1",1]', b'["r2",2]', b'["r3",3]']


def frames(payloads: list[bytes]) -> bytes:
    return b"".join(encode_frame(p) for p in payloads)


def test_a_frame_is_length_checksum_payload() -> None:
    frame = encode_frame(b"hello")
    assert frame == struct.pack("<II", 5, zlib.crc32(b"hello")) + b"hello"
    found = decode_frames(frames(PAYLOADS), complete=True)
    assert (found.payloads, found.problem) == (PAYLOADS, "")
    assert found.consumed == sum(HEADER_BYTES + len(p) for p in PAYLOADS)


def test_empty_and_oversized_entries_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_frame(b"")
    with pytest.raises(ValueError):
        encode_frame(b"x" * (1024 * 1024 + 1))


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        (encode_frame(b'["r4",4]')[:5], "torn entry header"),
        (encode_frame(b'["r4",4]')[:-2], "torn entry"),
        (b"\0" * 64, "impossible entry length 0"),
        (encode_frame(b'["r4",4]')[:-1] + b"X", "checksum"),
    ],
    ids=["torn-header", "torn-payload", "zeros", "bad-checksum"],
)
def test_a_bad_tail_is_skipped_with_a_warning_keeping_what_came_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tail: bytes, problem: str
) -> None:
    path = segment_path(tmp_path, 1)
    path.write_bytes(frames(PAYLOADS) + tail)
    with caplog.at_level(logging.WARNING):
        found = read_entries(path)
    assert found.payloads == PAYLOADS
    assert problem in found.problem
    assert any(problem in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_an_unfinished_frame_of_a_segment_being_written_is_not_a_problem() -> None:
    data = frames(PAYLOADS) + encode_frame(b'["r4",4]')[:-3]
    found = decode_frames(data, complete=False)
    assert (found.payloads, found.problem) == (PAYLOADS, "")


def test_reading_from_an_offset_up_to_a_size(tmp_path: Path) -> None:
    path = segment_path(tmp_path, 7)
    path.write_bytes(frames(PAYLOADS))
    first = len(encode_frame(PAYLOADS[0]))
    second = len(encode_frame(PAYLOADS[1]))
    assert read_entries(path, first, second).payloads == [PAYLOADS[1]]
    assert read_entries(path, first).payloads == PAYLOADS[1:]
    assert read_entries(tmp_path / "absent.v1.seg").payloads == []


async def test_segments_rotate_past_their_size_and_hold_every_entry(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, 5, segment_bytes=100, fsync=False)
    payloads = [f'["request-{i:04d}",{i}]'.encode() for i in range(40)]
    ends = [writer.append(p) for p in payloads]
    await writer.close()
    seqs = segment_seqs(tmp_path)
    assert seqs[0] == 5 and seqs == list(range(5, 5 + len(seqs))) and len(seqs) > 5
    for seq in seqs[:-1]:  # each closed segment went past the size by less than one entry
        size = segment_path(tmp_path, seq).stat().st_size
        assert 100 <= size < 100 + HEADER_BYTES + 30
    read_back = [p for seq in seqs for p in read_entries(segment_path(tmp_path, seq)).payloads]
    assert read_back == payloads
    assert ends == sorted(ends)
    assert writer.position == (seqs[-1], segment_path(tmp_path, seqs[-1]).stat().st_size)


def test_segment_names_are_listed_oldest_first(tmp_path: Path) -> None:
    for seq in (12, 3, 100):
        segment_path(tmp_path, seq).touch()
    (tmp_path / "notes.txt").touch()
    assert segment_seqs(tmp_path) == [3, 12, 100]
    assert segment_seqs(tmp_path / "absent") == []


async def test_fsync_mode_answers_after_a_group_sync(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, 1, segment_bytes=64, fsync=True)
    waits = []
    for i in range(50):
        writer.append(f'["r{i}"]'.encode())
        waits.append(writer.synced())
    await asyncio.gather(*waits)
    await writer.close()
    payloads = [
        p for s in segment_seqs(tmp_path) for p in read_entries(segment_path(tmp_path, s)).payloads
    ]
    assert payloads == [f'["r{i}"]'.encode() for i in range(50)]


async def test_a_new_segment_is_never_written_over(tmp_path: Path) -> None:
    segment_path(tmp_path, 1).write_bytes(b"old")
    with pytest.raises(FileExistsError):
        SegmentWriter(tmp_path, 1, segment_bytes=64, fsync=False)
