"""File-watch buckets through the real server and CLI: every complete version of a file is
queued once as an S3 event (dispatch paused, so the queue itself is inspected), across
restarts and SIGKILL; filters, ignored names, removed triggers and bad input."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.auth import allow, call, create_key, policy
from tests.helpers.server import FaasServer

HELLO = """
def handler(event, context):
    return "ok"
"""
# Quick timings: a 200 ms quiet period, no periodic comparison (each test says when one runs).
PAUSED = {
    "FAAS_QUEUE_DISPATCH": "false",
    "FAAS_FILEWATCH_QUIET_PERIOD_MS": "200",
    "FAAS_FILEWATCH_RESCAN_INTERVAL_S": "0",
}


def queued(data_dir: Path) -> list[dict[str, Any]]:
    """The S3 records waiting in the queue, oldest first, with the function each is for."""
    with contextlib.closing(sqlite3.connect(data_dir / "faas.db")) as raw:
        rows = raw.execute("SELECT function_name, payload FROM event_queue ORDER BY id").fetchall()
    found = []
    for function, payload in rows:
        (record,) = json.loads(payload)["Records"]
        found.append({"function": function, **record})
    return found


def keys(records: list[dict[str, Any]], event_name: str = "ObjectCreated:Put") -> list[str]:
    return [r["s3"]["object"]["key"] for r in records if r["eventName"] == event_name]


def wait_for(check: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def settle(data_dir: Path, seconds: float = 1.0) -> list[dict[str, Any]]:
    """The queue once nothing more arrives for `seconds` (quiet periods have passed)."""
    before = queued(data_dir)
    while True:
        time.sleep(seconds)
        now = queued(data_dir)
        if len(now) == len(before):
            return now
        before = now


def ok(completed: Any) -> str:
    assert completed.returncode == 0, completed.stderr
    return str(completed.stdout)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    directory = tmp_path / "photos"
    directory.mkdir()
    return directory


@pytest.fixture
def server(tmp_path: Path, photos: Path) -> Iterator[FaasServer]:
    server = FaasServer.start(tmp_path / "data", env=PAUSED)
    try:
        server.deploy("thumbs", {"app.py": HELLO})
        ok(server.cli("bucket", "add", "photos", str(photos)))
        yield server
    finally:
        server.stop()


def add_trigger(server: FaasServer, *args: str) -> str:
    out = ok(server.cli("--json", "trigger", "add", "thumbs", "--bucket", "photos", *args))
    return str(json.loads(out)["Id"])


def write_slowly(path: Path, chunks: int, pause_s: float) -> bytes:
    written = b""
    with path.open("wb") as stream:
        for index in range(chunks):
            chunk = bytes([index % 251]) * 4096
            stream.write(chunk)
            stream.flush()
            written += chunk
            time.sleep(pause_s)
    return written


def test_a_slowly_written_file_is_delivered_once_and_complete(
    server: FaasServer, photos: Path
) -> None:
    add_trigger(server)
    # Each pause is longer than the quiet period: only the close counts.
    content = write_slowly(photos / "big photo.jpg", chunks=6, pause_s=0.3)
    records = wait_for(lambda: queued(server.data_dir))
    records = settle(server.data_dir)
    assert len(records) == 1
    record = records[0]
    assert record["function"] == "thumbs"
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventVersion"] == "2.1"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventTime"].endswith("Z")
    s3 = record["s3"]
    assert s3["bucket"] == {
        "name": "photos",
        "ownerIdentity": {"principalId": "faas"},
        "arn": "arn:aws:s3:::photos",
    }
    # S3's key encoding: a space becomes "+".
    assert s3["object"]["key"] == "big+photo.jpg"
    assert s3["object"]["size"] == len(content)
    assert s3["object"]["eTag"] == hashlib.md5(content).hexdigest()
    assert s3["object"]["sequencer"]


def test_a_rename_into_the_bucket_an_overwrite_and_a_delete(
    server: FaasServer, photos: Path, tmp_path: Path
) -> None:
    add_trigger(server, "--events", "created,removed")
    outside = tmp_path / "upload.jpg"
    outside.write_bytes(b"first")
    os.rename(outside, photos / "a.jpg")
    assert wait_for(lambda: keys(queued(server.data_dir)) == ["a.jpg"])
    time.sleep(0.05)
    (photos / "a.jpg").write_bytes(b"second version")
    assert wait_for(lambda: keys(queued(server.data_dir)) == ["a.jpg", "a.jpg"])
    (photos / "a.jpg").unlink()
    records = wait_for(lambda: [r for r in queued(server.data_dir) if "Removed" in r["eventName"]])
    records = settle(server.data_dir)
    created = [r["s3"]["object"] for r in records if r["eventName"] == "ObjectCreated:Put"]
    assert [o["eTag"] for o in created] == [
        hashlib.md5(b"first").hexdigest(),
        hashlib.md5(b"second version").hexdigest(),
    ]
    (removed,) = [r for r in records if r["eventName"] == "ObjectRemoved:Delete"]
    # A removed object has no size and no eTag, as on S3.
    assert set(removed["s3"]["object"]) == {"key", "sequencer"}
    assert removed["s3"]["object"]["key"] == "a.jpg"
    sequencers = [r["s3"]["object"]["sequencer"] for r in records]
    assert sequencers == sorted(sequencers)


def test_temporary_names_are_ignored_until_renamed_and_subdirectories_are_keys(
    server: FaasServer, photos: Path
) -> None:
    add_trigger(server)
    (photos / "in" / "deep").mkdir(parents=True)
    (photos / "in" / "deep" / "x.jpg.part").write_bytes(b"partial upload")
    (photos / ".hidden.jpg").write_bytes(b"hidden")
    (photos / "notes.txt~").write_bytes(b"editor backup")
    time.sleep(0.8)
    assert queued(server.data_dir) == []
    os.rename(photos / "in" / "deep" / "x.jpg.part", photos / "in" / "deep" / "x.jpg")
    assert wait_for(lambda: keys(queued(server.data_dir)) == ["in/deep/x.jpg"])


def test_files_written_in_new_directories_are_delivered_once_complete(
    server: FaasServer, photos: Path
) -> None:
    add_trigger(server)
    # Each file lands before its new directory is watched: found by comparing, complete
    # because nobody holds it open any more.
    for index in range(20):
        (photos / f"d{index}" / "e").mkdir(parents=True)
        (photos / f"d{index}" / "e" / "x.jpg").write_bytes(b"x" * index)
    # One still held open, long past the quiet period, is not complete until it is closed.
    (photos / "slow").mkdir()
    with (photos / "slow" / "y.jpg").open("wb") as writer:
        writer.write(b"half")
        writer.flush()
        wait_for(lambda: len(queued(server.data_dir)) >= 20)
        time.sleep(0.8)
        assert "slow/y.jpg" not in keys(queued(server.data_dir))
        writer.write(b" and the rest")
    records = wait_for(lambda: [r for r in queued(server.data_dir) if "slow" in str(r)])
    records = settle(server.data_dir)
    expected = Counter({"slow/y.jpg": 1, **{f"d{i}/e/x.jpg": 1 for i in range(20)}})
    assert Counter(keys(records)) == expected
    (slow,) = [r["s3"]["object"] for r in records if r["s3"]["object"]["key"] == "slow/y.jpg"]
    assert slow["size"] == len(b"half and the rest")


def test_prefix_and_suffix_filters(server: FaasServer, photos: Path) -> None:
    add_trigger(server, "--prefix", "in/", "--suffix", ".jpg")
    (photos / "in").mkdir()
    (photos / "out").mkdir()
    for name in ("in/a.jpg", "in/b.png", "out/c.jpg", "d.jpg"):
        (photos / name).write_bytes(name.encode())
    time.sleep(0.3)
    records = settle(server.data_dir)
    assert keys(records) == ["in/a.jpg"]


def test_a_thousand_files_dropped_at_once_are_each_queued_once(
    server: FaasServer, photos: Path
) -> None:
    add_trigger(server)
    for index in range(1000):
        (photos / f"f{index:04d}.jpg").write_bytes(b"x" * (index % 97))
    wait_for(lambda: len(queued(server.data_dir)) >= 1000, timeout_s=60)
    records = settle(server.data_dir)
    assert Counter(keys(records)) == Counter(f"f{i:04d}.jpg" for i in range(1000))
    trigger = server.health()["triggers"][0]
    assert trigger["State"] == "Watching"
    assert trigger["Delivered"] == 1000


def test_files_changed_while_the_server_was_down_are_delivered_once_after_it_starts(
    tmp_path: Path, photos: Path
) -> None:
    server = FaasServer.start(tmp_path / "data", env=PAUSED)
    try:
        server.deploy("thumbs", {"app.py": HELLO})
        ok(server.cli("bucket", "add", "photos", str(photos)))
        (photos / "before.jpg").write_bytes(b"there before the trigger")
        add_trigger(server, "--events", "created,removed")
        (photos / "kept.jpg").write_bytes(b"kept")
        (photos / "gone.jpg").write_bytes(b"gone")
        assert wait_for(lambda: sorted(keys(queued(server.data_dir))) == ["gone.jpg", "kept.jpg"])
    finally:
        server.stop()
    # While it is down: one new file, one removed, one overwritten.
    (photos / "new.jpg").write_bytes(b"new")
    (photos / "gone.jpg").unlink()
    (photos / "kept.jpg").write_bytes(b"kept, changed")
    for _ in range(2):  # a second restart delivers nothing again
        server = FaasServer.start(tmp_path / "data", env=PAUSED)
        try:
            wait_for(lambda: len(queued(tmp_path / "data")) >= 5)
            records = settle(server.data_dir)
        finally:
            server.stop()
        created = Counter(keys(records))
        assert created == Counter({"kept.jpg": 2, "gone.jpg": 1, "new.jpg": 1})
        assert keys(records, "ObjectRemoved:Delete") == ["gone.jpg"]


def test_files_dropped_just_before_a_sigkill_are_delivered_once_after_restart(
    tmp_path: Path, photos: Path
) -> None:
    # A long quiet period: the files are seen, but not yet queued, when the server dies.
    slow = {**PAUSED, "FAAS_FILEWATCH_QUIET_PERIOD_MS": "3000"}
    server = FaasServer.start(tmp_path / "data", env=slow)
    try:
        server.deploy("thumbs", {"app.py": HELLO})
        ok(server.cli("bucket", "add", "photos", str(photos)))
        add_trigger(server)
        (photos / "early.jpg").write_bytes(b"early")
        time.sleep(0.2)
        for index in range(50):
            (photos / f"late{index}.jpg").write_bytes(b"late")
        time.sleep(0.2)
        assert queued(server.data_dir) == []
    finally:
        server.kill()
    server = FaasServer.start(tmp_path / "data", env=PAUSED)
    try:
        wait_for(lambda: len(queued(server.data_dir)) >= 51)
        records = settle(server.data_dir)
    finally:
        server.stop()
    expected = Counter({"early.jpg": 1, **{f"late{i}.jpg": 1 for i in range(50)}})
    assert Counter(keys(records)) == expected


def test_a_removed_trigger_stops_deliveries(server: FaasServer, photos: Path) -> None:
    trigger_id = add_trigger(server)
    (photos / "one.jpg").write_bytes(b"1")
    assert wait_for(lambda: keys(queued(server.data_dir)) == ["one.jpg"])
    listed = ok(server.cli("trigger", "ls"))
    assert trigger_id in listed and "Watching" in listed
    assert ok(server.cli("trigger", "rm", trigger_id)).strip() == f"deleted trigger {trigger_id}"
    (photos / "two.jpg").write_bytes(b"2")
    time.sleep(0.8)
    assert keys(queued(server.data_dir)) == ["one.jpg"]
    assert trigger_id not in ok(server.cli("trigger", "ls"))


def test_bad_bucket_and_trigger_input_gets_one_clear_line(
    server: FaasServer, photos: Path, tmp_path: Path
) -> None:
    def refused(*args: str) -> str:
        completed = server.cli(*args)
        assert completed.returncode != 0, completed.stdout
        lines = completed.stderr.strip().splitlines()
        assert len(lines) == 1, completed.stderr
        return lines[0]

    assert "Invalid bucket name" in refused("bucket", "add", "Bad_Name", str(photos))
    assert "not a directory" in refused("bucket", "add", "nowhere", str(tmp_path / "nope"))
    assert "data directory" in refused("bucket", "add", "platform", str(server.data_dir))
    assert "already exists" in refused("bucket", "add", "photos", str(photos))
    assert "Bucket not found" in refused("trigger", "add", "thumbs", "--bucket", "nope")
    assert "Function not found" in refused("trigger", "add", "ghost", "--bucket", "photos")
    assert "Unknown event type" in refused(
        "trigger", "add", "thumbs", "--bucket", "photos", "--events", "changed"
    )
    trigger_id = add_trigger(server)
    assert "has triggers" in refused("bucket", "rm", "photos")
    assert "Trigger not found" in refused("trigger", "rm", "nosuch")
    ok(server.cli("trigger", "rm", trigger_id))
    assert ok(server.cli("bucket", "rm", "photos")).strip() == "deleted bucket photos"
    assert "photos" not in ok(server.cli("bucket", "ls"))


def test_deleting_a_function_removes_its_triggers(server: FaasServer) -> None:
    add_trigger(server)
    server.client().delete_function(FunctionName="thumbs")
    assert json.loads(ok(server.cli("--json", "trigger", "ls")))["Triggers"] == []


def test_buckets_from_config_toml(tmp_path: Path, photos: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[buckets]\nphotos = "{photos}"\n')
    server = FaasServer.start(tmp_path / "data", env={**PAUSED, "FAAS_CONFIG": str(config)})
    try:
        listed = json.loads(ok(server.cli("--json", "bucket", "ls")))["Buckets"]
        assert [(b["Name"], b["Origin"], b["Writable"]) for b in listed] == [
            ("photos", "config", False)
        ]
        completed = server.cli("bucket", "rm", "photos")
        assert completed.returncode != 0 and "config.toml" in completed.stderr
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_leftover_dirs(tmp_path: Path) -> Iterator[None]:
    yield
    shutil.rmtree(tmp_path / "photos", ignore_errors=True)


def test_buckets_and_triggers_need_their_own_permissions(server: FaasServer, photos: Path) -> None:
    invoker = create_key(server, "invoker", policy(allow("lambda:InvokeFunction", "*")))
    body = json.dumps({"Name": "more", "Path": str(photos)}).encode()
    refused = call(server, "/faas/v1/buckets", invoker, method="POST", body=body)
    assert refused.refusal == (403, "AccessDeniedException")
    trigger = json.dumps({"FunctionName": "thumbs", "Bucket": "photos"}).encode()
    refused = call(server, "/faas/v1/triggers", invoker, method="POST", body=trigger)
    assert refused.refusal == (403, "AccessDeniedException")
    assert call(server, "/faas/v1/triggers", invoker).refusal == (403, "AccessDeniedException")
    # Allowed to add triggers to one function, for one bucket.
    arn = "arn:aws:lambda:us-east-1:000000000000:function:thumbs"
    wirer = create_key(
        server, "wirer", policy(allow("faas:CreateTrigger", [arn, "arn:aws:s3:::photos"]))
    )
    assert call(server, "/faas/v1/triggers", wirer, method="POST", body=trigger).status == 201
    other = json.dumps({"FunctionName": "other", "Bucket": "photos"}).encode()
    refused = call(server, "/faas/v1/triggers", wirer, method="POST", body=other)
    assert refused.refusal == (403, "AccessDeniedException")
    (photos.parent / "private").mkdir()
    ok(server.cli("bucket", "add", "private", str(photos.parent / "private")))
    elsewhere = json.dumps({"FunctionName": "thumbs", "Bucket": "private"}).encode()
    refused = call(server, "/faas/v1/triggers", wirer, method="POST", body=elsewhere)
    assert refused.refusal == (403, "AccessDeniedException")
