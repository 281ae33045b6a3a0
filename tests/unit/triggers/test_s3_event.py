"""The S3 notification event of a file event (faas/triggers/s3_event.py)."""

from __future__ import annotations

from faas.domain import FileEventKind
from faas.triggers.s3_event import ObjectEvent, Sequencer, encode_key, s3_event


def test_keys_are_encoded_as_s3_encodes_them() -> None:
    assert encode_key("my photo.jpg") == "my+photo.jpg"
    assert encode_key("a/b c/ü+&.jpg") == "a/b+c/%C3%BC%2B%26.jpg"


def test_a_created_object_has_size_and_etag_and_a_removed_one_does_not() -> None:
    created = s3_event(
        ObjectEvent("photos", "in/a b.jpg", FileEventKind.CREATED, 12, "abc", "fn", "t1"),
        region="eu-west-1",
        event_time_ms=1_700_000_000_123,
        sequencer="0000000000000001",
        request_id="r1",
    )
    (record,) = created["Records"]  # type: ignore[misc]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"] == "2023-11-14T22:13:20.123Z"
    assert record["awsRegion"] == "eu-west-1"
    assert record["userIdentity"] == {"principalId": "fn"}
    assert record["s3"]["configurationId"] == "t1"
    assert record["s3"]["object"] == {
        "key": "in/a+b.jpg",
        "size": 12,
        "eTag": "abc",
        "sequencer": "0000000000000001",
    }
    removed = s3_event(
        ObjectEvent("photos", "a.jpg", FileEventKind.REMOVED),
        region="eu-west-1",
        event_time_ms=0,
        sequencer="02",
        request_id="r2",
    )
    (record,) = removed["Records"]  # type: ignore[misc]
    assert record["eventName"] == "ObjectRemoved:Delete"
    assert record["s3"]["object"] == {"key": "a.jpg", "sequencer": "02"}


def test_sequencers_grow_even_when_the_clock_does_not() -> None:
    sequencer = Sequencer(clock=lambda: 1.0)
    values = [sequencer.next() for _ in range(5)]
    assert values == sorted(values) and len(set(values)) == 5
    assert all(len(v) == 16 for v in values)
