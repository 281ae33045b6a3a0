"""Buckets inside functions (FileSystemConfigs under /mnt/) and the recursion guard, through
the real server, boto3 and the CLI: a function reads a bucket through its mount, cannot write
a read-only one, sees nothing else of the host, writes a writable one as its own uid; a
function that triggers itself is stopped after 16 rounds unless its RecursiveLoop is Allow."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.auth import allow, create_key, policy
from tests.helpers.server import FaasServer

FAST = {
    "FAAS_QUEUE_POLL_INTERVAL_S": "0.1",
    "FAAS_FILEWATCH_QUIET_PERIOD_MS": "100",
    "FAAS_FILEWATCH_RESCAN_INTERVAL_S": "0",
}
PROBE = """
import errno
import os

def handler(event, context):
    def attempt(action):
        try:
            action()
            return "ok"
        except OSError as exc:
            return errno.errorcode.get(exc.errno, str(exc.errno))

    def write_photos():
        with open("/mnt/photos/new.txt", "w") as stream:
            stream.write("x")

    def write_thumbs():
        with open("/mnt/thumbs/made.txt", "w") as stream:
            stream.write("made by " + context.function_name)

    return {
        "mnt": sorted(os.listdir("/mnt")),
        "read": open("/mnt/photos/" + event["key"]).read(),
        "listed": sorted(os.listdir("/mnt/photos")),
        "write_read_only": attempt(write_photos),
        "write_writable": attempt(write_thumbs),
        "parent": attempt(lambda: os.listdir(event["parent"])),
        "sibling": attempt(lambda: open(event["sibling"]).read()),
    }
"""
# Each round writes the next generation into the bucket that triggers it, up to `limit`.
LOOP = """
import json
import urllib.parse

LIMIT = 40

def handler(event, context):
    key = urllib.parse.unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    generation = int(key.removeprefix("gen").removesuffix(".txt"))
    if generation < LIMIT:
        with open(f"/mnt/loop/gen{generation + 1}.txt", "w") as stream:
            stream.write(json.dumps(event))
    return generation
"""


def wait_for(check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def records(server: FaasServer, name: str) -> list[dict[str, Any]]:
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return list(json.load(r)["Invocations"])


def ok(completed: Any) -> str:
    assert completed.returncode == 0, completed.stderr
    return str(completed.stdout)


def mounts(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"Arn": f"arn:aws:s3:::{name}", "LocalMountPath": path} for name, path in pairs]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FaasServer]:
    if os.geteuid() != 0:
        pytest.skip("functions get their own uid (and writable buckets a group) only as root")
    server = FaasServer.start(tmp_path / "data", env=FAST)
    try:
        yield server
    finally:
        server.stop()


def test_a_function_reads_its_buckets_through_mounts_and_nothing_else(
    server: FaasServer, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    (host / "photos").mkdir(parents=True)
    (host / "thumbs").mkdir()
    (host / "secret.txt").write_text("not for functions")
    os.chmod(tmp_path, 0o755)
    os.chmod(host, 0o755)
    (host / "photos" / "cat.jpg").write_text("meow")
    ok(server.cli("bucket", "add", "photos", str(host / "photos")))
    ok(server.cli("bucket", "add", "thumbs", str(host / "thumbs"), "--writable"))
    server.deploy(
        "probe",
        {"app.py": PROBE},
        FileSystemConfigs=mounts(("photos", "/mnt/photos"), ("thumbs", "/mnt/thumbs")),
    )
    assert "photos:/mnt/photos, thumbs:/mnt/thumbs" in ok(server.cli("get", "probe"))
    configuration = server.client().get_function_configuration(FunctionName="probe")
    assert configuration["FileSystemConfigs"] == mounts(
        ("photos", "/mnt/photos"), ("thumbs", "/mnt/thumbs")
    )
    _, seen = server.invoke(
        "probe",
        {"key": "cat.jpg", "parent": str(host), "sibling": str(host / "secret.txt")},
    )
    assert seen["mnt"] == ["photos", "thumbs"]
    assert seen["read"] == "meow"
    assert seen["listed"] == ["cat.jpg"]
    assert seen["write_read_only"] in ("EROFS", "EACCES")
    assert seen["write_writable"] == "ok"
    # The rest of the host stays out of reach, whatever its permissions say (refused by
    # Landlock, or hidden: this test's directory is under the host's /tmp, which the
    # function's own /tmp covers).
    assert seen["parent"] in ("EACCES", "ENOENT")
    assert seen["sibling"] in ("EACCES", "ENOENT")
    made = host / "thumbs" / "made.txt"
    assert made.read_text() == "made by probe"
    # Owned by the function's own uid: the platform can tell who wrote it.
    assert made.stat().st_uid >= 200000
    assert not (host / "photos" / "new.txt").exists()


def test_file_system_configs_are_checked(server: FaasServer, tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    ok(server.cli("bucket", "add", "photos", str(tmp_path / "photos")))
    client = server.client()

    def refused(configs: list[dict[str, str]]) -> str:
        with pytest.raises(ClientError) as caught:
            server.deploy("bad", {"app.py": PROBE}, FileSystemConfigs=configs)
        assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
        return str(caught.value.response["Error"]["Message"])

    assert "Bucket not found: nope" in refused(mounts(("nope", "/mnt/x")))
    assert "regular expression" in refused(mounts(("photos", "/data/x")))
    assert "given twice" in refused(mounts(("photos", "/mnt/x"), ("photos", "/mnt/x")))
    efs = "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/fsap-0123456789abcdef0"
    assert "not EFS" in refused([{"Arn": efs, "LocalMountPath": "/mnt/efs"}])
    server.deploy("reader", {"app.py": PROBE}, FileSystemConfigs=mounts(("photos", "/mnt/p")))
    completed = server.cli("bucket", "rm", "photos")
    assert completed.returncode != 0 and "mounted by reader" in completed.stderr
    client.update_function_configuration(FunctionName="reader", FileSystemConfigs=[])
    assert "FileSystemConfigs" not in client.get_function_configuration(FunctionName="reader")
    ok(server.cli("bucket", "rm", "photos"))


def test_recursion_config_defaults_to_terminate_and_takes_allow(server: FaasServer) -> None:
    server.deploy("fn", {"app.py": PROBE})
    client = server.client()
    assert client.get_function_recursion_config(FunctionName="fn")["RecursiveLoop"] == "Terminate"
    put = client.put_function_recursion_config(FunctionName="fn", RecursiveLoop="Allow")
    assert put["RecursiveLoop"] == "Allow"
    assert client.get_function_recursion_config(FunctionName="fn")["RecursiveLoop"] == "Allow"
    with pytest.raises(ClientError) as bad:
        client.put_function_recursion_config(FunctionName="fn", RecursiveLoop="Sometimes")
    assert bad.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as missing:
        client.get_function_recursion_config(FunctionName="ghost")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def _start_loop(server: FaasServer, tmp_path: Path) -> Path:
    loop = tmp_path / "loop"
    loop.mkdir()
    ok(server.cli("bucket", "add", "loop", str(loop), "--writable"))
    server.deploy("looper", {"app.py": LOOP}, FileSystemConfigs=mounts(("loop", "/mnt/loop")))
    return loop


def _generations(server: FaasServer) -> int:
    """How many rounds ran, once no more come."""
    count = -1
    while True:
        now = len(records(server, "looper"))
        if now == count:
            return now
        count = now
        time.sleep(1.5)


def test_a_function_that_triggers_itself_is_stopped_after_16_rounds(
    server: FaasServer, tmp_path: Path
) -> None:
    loop = _start_loop(server, tmp_path)
    ok(server.cli("trigger", "add", "looper", "--bucket", "loop"))
    (loop / "gen1.txt").write_text("start")
    wait_for(lambda: len(records(server, "looper")) >= 16, timeout_s=60)
    assert _generations(server) == 16
    # The 17th round's file is there, but nothing was invoked for it.
    assert (loop / "gen17.txt").exists()
    assert not (loop / "gen18.txt").exists()
    (trigger,) = server.health()["triggers"]
    assert trigger["LoopsStopped"] == 1
    assert "recursive loop stopped: looper" in server.log()


def test_a_function_allowed_to_recurse_runs_on(server: FaasServer, tmp_path: Path) -> None:
    loop = _start_loop(server, tmp_path)
    server.client().put_function_recursion_config(FunctionName="looper", RecursiveLoop="Allow")
    ok(server.cli("trigger", "add", "looper", "--bucket", "loop"))
    (loop / "gen1.txt").write_text("start")
    wait_for(lambda: len(records(server, "looper")) >= 40, timeout_s=90)
    assert _generations(server) == 40


def test_mounting_a_bucket_needs_permission_on_it(server: FaasServer, tmp_path: Path) -> None:
    (tmp_path / "hrdata").mkdir()
    ok(server.cli("bucket", "add", "hrdata", str(tmp_path / "hrdata"), "--writable"))
    server.deploy("mine", {"app.py": PROBE})
    arn = "arn:aws:lambda:us-east-1:000000000000:function:mine"
    key = create_key(server, "team", policy(allow("lambda:*", arn)))
    client = server.client(key)
    with pytest.raises(ClientError) as denied:
        client.update_function_configuration(
            FunctionName="mine", FileSystemConfigs=mounts(("hrdata", "/mnt/hrdata"))
        )
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "faas:MountBucket" in denied.value.response["Error"]["Message"]
    allowed = create_key(
        server,
        "hr-team",
        policy(allow("lambda:*", arn), allow("faas:MountBucket", "arn:aws:s3:::hrdata")),
    )
    server.client(allowed).update_function_configuration(
        FunctionName="mine", FileSystemConfigs=mounts(("hrdata", "/mnt/hrdata"))
    )
