"""Function logs through a real server: Lambda's framing, kept per invocation, read with
boto3's CloudWatch Logs client (and AWS CLI v1 where installed), followed live with
`faas logs -f`, and deleted by retention."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import FAAS, FaasServer, aws_cli, clean_env

CHATTY = """
import logging, time
def handler(event, context):
    for i in range(event.get("lines", 1)):
        print(f"{event.get('tag', 'x')} line {i}")
        if event.get("pause"):
            time.sleep(event["pause"])
    logging.getLogger().warning("done %s", event.get("tag", "x"))
    return "ok"
"""
SLEEPER = """
import sys, time
def handler(event, context):
    sys.stdout.write("before the sleep\\n")
    time.sleep(30)
"""
HOG = """
import sys
def handler(event, context):
    sys.stdout.write("before the hog\\n")
    return bytearray(300 * 1024 * 1024)
"""
FLOOD = """
def handler(event, context):
    print("y" * (3 * 1024 * 1024))
    return "flooded"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("logs") / "data")
    started.deploy("chatty", {"app.py": CHATTY})
    yield started
    started.stop()


def group_events(server: FaasServer, group: str, **options: Any) -> list[dict[str, Any]]:
    paginator = server.logs_client().get_paginator("filter_log_events")
    return [
        event
        for page in paginator.paginate(logGroupName=group, **options)
        for event in page["events"]
    ]


def invocation(events: list[dict[str, Any]], request_id: str) -> list[str]:
    """The messages from START to REPORT of one invocation."""
    messages = [event["message"] for event in events]
    start = messages.index(f"START RequestId: {request_id} Version: $LATEST")
    end = next(i for i, m in enumerate(messages) if m.startswith(f"REPORT RequestId: {request_id}"))
    return messages[start : end + 1]


def test_an_invocation_is_framed_as_on_lambda(server: FaasServer) -> None:
    response, _ = server.invoke("chatty", {"tag": "framed", "lines": 2})
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = invocation(group_events(server, "/aws/lambda/chatty"), request_id)
    assert lines[1:3] == ["framed line 0", "framed line 1"]
    level, _, logged_id, message = lines[3].split("\t")
    assert (level, logged_id, message) == ("[WARNING]", request_id, "done framed")
    assert lines[4] == f"END RequestId: {request_id}"
    report = lines[5].split("\t")
    assert report[0] == f"REPORT RequestId: {request_id}"
    assert report[1].startswith("Duration: ") and report[1].endswith(" ms")
    assert report[2].startswith("Billed Duration: ")
    assert report[3] == "Memory Size: 128 MB"
    assert report[4].startswith("Max Memory Used: ")


def test_concurrent_invocations_keep_their_lines_apart_and_whole(server: FaasServer) -> None:
    def run(tag: str) -> str:
        response, _ = server.invoke("chatty", {"tag": tag, "lines": 20, "pause": 0.005})
        return str(response["ResponseMetadata"]["RequestId"])

    with ThreadPoolExecutor(6) as pool:
        ids = dict(zip(pool.map(run, [f"c{n}" for n in range(6)]), range(6), strict=True))
    events = group_events(server, "/aws/lambda/chatty")
    for request_id, n in ids.items():
        lines = invocation(events, request_id)
        assert lines[1:21] == [f"c{n} line {i}" for i in range(20)]


def test_boto3_pages_filters_and_reads_streams(server: FaasServer) -> None:
    for n in range(5):
        server.invoke("chatty", {"tag": f"paged{n}"})
    logs = server.logs_client()
    paginator = logs.get_paginator("filter_log_events")
    pages = list(
        paginator.paginate(
            logGroupName="/aws/lambda/chatty",
            filterPattern='"paged" line -paged3',
            PaginationConfig={"PageSize": 2},
        )
    )
    found = [event["message"] for page in pages for event in page["events"]]
    assert sorted(found) == ["paged0 line 0", "paged1 line 0", "paged2 line 0", "paged4 line 0"]
    assert len(pages) >= 2
    either = group_events(server, "/aws/lambda/chatty", filterPattern="?paged1 ?paged2")
    assert {e["message"] for e in either if "line" in e["message"]} == {
        "paged1 line 0",
        "paged2 line 0",
    }
    assert len(either) == 4  # and their "done" lines

    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/ch")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/aws/lambda/chatty"]
    streams = logs.describe_log_streams(
        logGroupName="/aws/lambda/chatty", orderBy="LastEventTime", descending=True
    )["logStreams"]
    stream = streams[0]["logStreamName"]
    assert stream.startswith(time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()))
    # GetLogEvents from the head, 3 at a time, until the token comes back unchanged.
    seen: list[str] = []
    kwargs: dict[str, Any] = {"startFromHead": True}
    while True:
        page = logs.get_log_events(
            logGroupName="/aws/lambda/chatty", logStreamName=stream, limit=3, **kwargs
        )
        seen += [event["message"] for event in page["events"]]
        if kwargs.get("nextToken") == page["nextForwardToken"]:
            break
        kwargs = {"nextToken": page["nextForwardToken"]}
    everything = group_events(server, "/aws/lambda/chatty", logStreamNames=[stream])
    assert seen == [event["message"] for event in everything]
    latest = logs.get_log_events(logGroupName="/aws/lambda/chatty", logStreamName=stream, limit=2)
    assert [e["message"] for e in latest["events"]] == seen[-2:]


def test_unknown_groups_and_bad_input_answer_as_cloudwatch_does(server: FaasServer) -> None:
    logs = server.logs_client()
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.filter_log_events(logGroupName="/aws/lambda/nobody")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName="/aws/lambda/chatty", logStreamName="no/such/stream")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName="/aws/lambda/chatty", filterPattern='{ $.a = "b" }')
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_retention_policy(logGroupName="/aws/lambda/chatty", retentionInDays=2)
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName="/aws/lambda/chatty", nextToken="garbage!")


def test_a_timeouts_output_and_its_line_are_kept(server: FaasServer) -> None:
    server.deploy("sleeper", {"app.py": SLEEPER}, Timeout=1)
    response, _ = server.invoke("sleeper")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    lines = invocation(group_events(server, "/aws/lambda/sleeper"), request_id)
    assert lines[1] == "before the sleep"
    assert lines[2].endswith(f"{request_id} Task timed out after 1.00 seconds")


def test_an_out_of_memory_kills_output_and_its_lines_are_kept(server: FaasServer) -> None:
    server.deploy("hog", {"app.py": HOG}, MemorySize=128)
    response, body = server.invoke("hog")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body["errorType"] == "Runtime.OutOfMemory"
    lines = invocation(group_events(server, "/aws/lambda/hog"), request_id)
    assert lines[1] == "before the hog"
    assert lines[2] == (
        f"RequestId: {request_id} Error: Runtime exited with error: signal: killed; "
        "the function ran out of its 128 MB of memory"
    )
    assert lines[3:5] == ["Runtime.OutOfMemory", f"END RequestId: {request_id}"]
    assert "\tMax Memory Used: 128 MB\t" in lines[5]


def test_a_flood_is_capped_and_others_are_not_held_up(server: FaasServer) -> None:
    server.deploy("flood", {"app.py": FLOOD})
    response, answer = server.invoke("flood")
    assert answer == "flooded"
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = invocation(group_events(server, "/aws/lambda/flood"), request_id)
    stored = sum(len(line) for line in lines)
    assert 1024 * 1024 <= stored < 1024 * 1024 + 4096  # pool.max_log_bytes, then the marker
    assert any("log truncated" in line for line in lines)
    _, quick = server.invoke("chatty", {"tag": "after-flood"})
    assert quick == "ok"


def test_faas_logs_prints_and_follows(server: FaasServer) -> None:
    server.invoke("chatty", {"tag": "history"})
    printed = server.cli("logs", "chatty", "--filter", "history")
    assert printed.returncode == 0, printed.stderr
    shown = printed.stdout.splitlines()
    assert shown[0].split(" ", 1)[1] == "history line 0"
    assert len(shown) == 2 and shown[1].endswith("\tdone history")
    one = server.cli("logs", "chatty", "--json", "--request-id", "nope")
    assert one.returncode == 0 and one.stdout == ""

    follower = subprocess.Popen(
        [*FAAS, "--url", server.url, "logs", "chatty", "-f", "--since", "1s", "--filter", "live"],
        stdout=subprocess.PIPE,
        env=clean_env({"FAAS_SERVER_DATA_DIR": str(server.data_dir)}),
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(follower.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    try:
        reader.start()
        time.sleep(1.0)  # the follow is open
        server.invoke("chatty", {"tag": "live"})
        deadline = time.monotonic() + 5
        while not any("live line 0" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("live line 0" in line for line in lines), lines
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        reader.join(timeout=10)
        assert follower.stdout is not None
        follower.stdout.close()


def test_the_aws_cli_reads_the_logs(server: FaasServer) -> None:
    aws = aws_cli()
    if aws is None:
        pytest.skip("the AWS CLI is not installed (awscli is in the test extras)")
    server.invoke("chatty", {"tag": "via-cli"})
    env = clean_env(
        {
            "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    base = [aws, "--endpoint-url", server.url, "--region", "us-east-1", "logs"]
    found = subprocess.run(
        [*base, "filter-log-events", "--log-group-name", "/aws/lambda/chatty",
         "--filter-pattern", "via-cli", "--page-size", "1"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    messages = [event["message"] for event in json.loads(found.stdout)["events"]]
    assert messages == ["via-cli line 0", messages[1]] and "done via-cli" in messages[1]
    streams = subprocess.run(
        [*base, "describe-log-streams", "--log-group-name", "/aws/lambda/chatty"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert streams.returncode == 0, streams.stderr
    stream = json.loads(streams.stdout)["logStreams"][0]["logStreamName"]
    got = subprocess.run(
        [*base, "get-log-events", "--log-group-name", "/aws/lambda/chatty",
         "--log-stream-name", stream, "--start-from-head"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["events"][0]["message"].startswith("START RequestId: ")


def test_retention_deletes_old_logs_and_groups_can_be_managed(tmp_path: Path) -> None:
    env = {
        # About 1.7 s of retention, swept every 0.2 s.
        "FAAS_LOGS_RETENTION_DAYS": "0.00002",
        "FAAS_LOGS_RETENTION_INTERVAL_S": "0.2",
    }
    server = FaasServer.start(tmp_path / "data", env=env)
    try:
        server.deploy("brief", {"app.py": CHATTY})
        server.deploy("kept", {"app.py": CHATTY})
        server.invoke("brief", {"tag": "old"})
        server.invoke("kept", {"tag": "kept"})
        logs = server.logs_client()
        logs.put_retention_policy(logGroupName="/aws/lambda/kept", retentionInDays=1)
        assert group_events(server, "/aws/lambda/brief")
        deadline = time.monotonic() + 20
        while group_events(server, "/aws/lambda/brief") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert group_events(server, "/aws/lambda/brief") == []
        assert len(group_events(server, "/aws/lambda/kept")) == 5  # its own policy: a day
        described = logs.describe_log_groups()["logGroups"]
        assert {g["logGroupName"]: g.get("retentionInDays") for g in described} == {
            "/aws/lambda/brief": None,
            "/aws/lambda/kept": 1,
        }
        logs.delete_retention_policy(logGroupName="/aws/lambda/kept")
        logs.delete_log_group(logGroupName="/aws/lambda/kept")
        with pytest.raises(logs.exceptions.ResourceNotFoundException):
            logs.filter_log_events(logGroupName="/aws/lambda/kept")
        server.invoke("kept", {"tag": "again"})  # its next logs make the group again
        assert len(group_events(server, "/aws/lambda/kept")) == 5
    finally:
        server.stop()


def test_all_groups_together_stay_under_the_size_cap(tmp_path: Path) -> None:
    env = {"FAAS_LOGS_MAX_TOTAL_MB": "1", "FAAS_LOGS_RETENTION_INTERVAL_S": "0.2"}
    server = FaasServer.start(tmp_path / "data", env=env)
    try:
        server.deploy("big", {"app.py": CHATTY})
        for n in range(12):
            server.invoke("big", {"tag": f"{n:02d}" + "z" * 2000, "lines": 50})  # ~100 KB each
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stored = server.logs_client().describe_log_groups()["logGroups"][0]["storedBytes"]
            if stored <= 1024 * 1024:
                break
            time.sleep(0.2)
        assert stored <= 1024 * 1024
        remaining = group_events(server, "/aws/lambda/big", filterPattern="START")
        assert 3 <= len(remaining) < 12  # the oldest went first
        assert group_events(server, "/aws/lambda/big", filterPattern="11zz")
    finally:
        server.stop()
