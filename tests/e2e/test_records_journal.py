"""Invocation records go through the journal: a killed server loses none and stores none
twice, a query sees the record of the answer just given, and the journal stays bounded."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from faas.store.journal import segment_seqs
from tests.helpers.server import FaasServer

HELLO = """
def handler(event, context):
    return {"n": event.get("n")}
"""
# The ingester's passes, for a server whose journal is ingested only when a query asks.
PAUSED_INGESTER = {"FAAS_STORE_INGEST_INTERVAL_S": "3600"}


def invoke_sequentially(server: FaasServer, name: str, count: int) -> list[str]:
    """`count` invocations one after another through boto3; their request ids."""
    answered = []
    for n in range(count):
        response, body = server.invoke(name, {"n": n})
        assert body == {"n": n}
        answered.append(response["ResponseMetadata"]["RequestId"])
    return answered


def record_ids(server: FaasServer, name: str) -> list[str]:
    """The request ids of the function's records, through the invocations API."""
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return [str(item["RequestId"]) for item in json.load(r)["Invocations"]]


def rows_in_database(data_dir: Path) -> int:
    """Records in the SQLite file, read beside the server (no drain)."""
    with contextlib.closing(sqlite3.connect(data_dir / "faas.db")) as raw:
        return int(raw.execute("SELECT COUNT(*) FROM invocations").fetchone()[0])


@pytest.mark.parametrize(
    "env", [{}, PAUSED_INGESTER], ids=["ingesting", "ingester-paused-before-the-kill"]
)
def test_a_killed_server_keeps_exactly_the_answered_records(
    tmp_path: Path, env: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    server = FaasServer.start(data_dir, env=env)
    try:
        server.deploy("kept", {"app.py": HELLO})
        answered = invoke_sequentially(server, "kept", 50)
    finally:
        server.kill()  # SIGKILL right after the last answer
    if env:
        assert rows_in_database(data_dir) == 0  # every record was in the journal alone
    assert segment_seqs(data_dir / "journal")

    restarted = FaasServer.start(data_dir, env=env)
    try:
        stored = record_ids(restarted, "kept")
        assert Counter(stored) == Counter(answered)  # each answered record, once
        assert "replayed" in restarted.log()
    finally:
        restarted.stop()
    assert rows_in_database(data_dir) == 50
    assert segment_seqs(data_dir / "journal") == []  # a clean stop ingests it all


def test_a_query_right_after_an_answer_sees_its_record(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data", env=PAUSED_INGESTER)
    try:
        server.deploy("seen", {"app.py": HELLO})
        for n in range(3):
            response, _ = server.invoke("seen", {"n": n})
            request_id = response["ResponseMetadata"]["RequestId"]
            listed = server.cli("records", "seen", "--json", "--limit", "1")
            assert listed.returncode == 0, listed.stderr
            newest = json.loads(listed.stdout)["Invocations"]
            assert [item["RequestId"] for item in newest] == [request_id]
    finally:
        server.stop()


def test_the_journal_stays_bounded_under_a_long_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # 1 KB segments: a few records each, so 300 invocations make about a hundred of them.
    server = FaasServer.start(data_dir, env={"FAAS_STORE_JOURNAL_SEGMENT_KB": "1"})
    try:
        server.deploy("long", {"app.py": HELLO})
        for _ in range(3):
            invoke_sequentially(server, "long", 100)
            assert len(record_ids(server, "long")) > 0  # drained: everything is ingested
            assert len(segment_seqs(data_dir / "journal")) <= 2
        assert len(record_ids(server, "long")) == 300
        assert max(segment_seqs(data_dir / "journal")) > 50  # it did rotate, many times
    finally:
        server.stop()
    assert segment_seqs(data_dir / "journal") == []
