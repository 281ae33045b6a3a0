"""Max Memory Used against a real server: the peak resident memory of the worker and the
processes it starts, per invocation, in the record and in the REPORT line of the log tail.

Paths such as /var/task in the handlers below are the function's view inside its sandbox.
"""

from __future__ import annotations

import base64
import json
import os
import re
import textwrap
import time
import uuid
from typing import Any

import pytest

from tests.helpers.server import FaasServer

MB = 1024 * 1024
REPORTED = re.compile(r"Max Memory Used: (\d+) MB")

MEASURED = """
    import mmap, os, subprocess, sys

    # The runtime's own interpreter, which every function's uid may run.
    PYTHON = os.path.join(sys.base_prefix, "bin", "python3")
    TOUCH = "block = b'x' * ({mb} << 20)"
    running = []
    forked = []

    def resident_mb():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def handler(event, context):
        if event.get("allocate_mb"):
            block = b"\\xa5" * (event["allocate_mb"] << 20)
            del block
        if event.get("child_mb"):
            code = TOUCH.format(mb=event["child_mb"])
            subprocess.run([PYTHON, "-c", code], check=True)
        if event.get("running_child_mb"):
            code = TOUCH.format(mb=event["running_child_mb"])
            code += "; print('ready', flush=True); import time; time.sleep(60)"
            child = subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE)
            assert child.stdout.readline() == b"ready\\n"
            running.append(child)
        if event.get("running_fork_mb"):
            ready, tell = os.pipe()
            pid = os.fork()
            if pid == 0:  # a fork without exec: no interpreter of its own on top
                block = b"\\xa5" * (event["running_fork_mb"] << 20)
                os.write(tell, b"r")
                import time
                time.sleep(60)
                os._exit(0)
            os.close(tell)
            assert os.read(ready, 1) == b"r"
            os.close(ready)
            forked.append(pid)
        if event.get("stop_children"):
            for child in running:
                child.kill()
                child.wait()
            running.clear()
            for pid in forked:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            forked.clear()
        if event.get("map_code"):
            with open("big.bin", "rb") as code:
                mapped = mmap.mmap(code.fileno(), 0, prot=mmap.PROT_READ)
            sum(mapped[offset] for offset in range(0, len(mapped), 4096))
            result = {"pid": os.getpid(), "resident_mb": resident_mb()}
            mapped.close()
            return result
        return {"pid": os.getpid(), "resident_mb": resident_mb()}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def deploy(server: FaasServer, prefix: str, **config: Any) -> str:
    name = unique(prefix)
    files = {"app.py": textwrap.dedent(MEASURED), **config.pop("files", {})}
    server.deploy(name, files, **config)
    return name


def record_of(server: FaasServer, name: str, request_id: str) -> dict[str, Any]:
    url = f"{server.url}/faas/v1/invocations?function={name}&limit=100"
    with server.urlopen(url, timeout=10) as response:
        records = json.load(response)["Invocations"]
    return next(record for record in records if record["RequestId"] == request_id)


def invoke(server: FaasServer, name: str, event: dict[str, Any] | None = None) -> tuple[Any, int]:
    """The handler's answer and Max Memory Used as the REPORT line of the log tail shows it,
    checked against the invocation's record."""
    response, body = server.invoke(name, event, LogType="Tail")
    assert "FunctionError" not in response, body
    tail = base64.b64decode(response["LogResult"]).decode()
    found = REPORTED.search(tail)
    assert found is not None, tail
    reported = int(found.group(1))
    record = record_of(server, name, response["ResponseMetadata"]["RequestId"])
    assert record["MaxMemoryUsed"] == reported
    return body, reported


def needs_clear_refs() -> None:
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("this kernel has no /proc/<pid>/clear_refs: a worker's peak cannot be reset")


def test_a_hello_handler_reports_its_resident_memory(server: FaasServer) -> None:
    name = deploy(server, "hello", MemorySize=128)
    body, reported = invoke(server, name)
    # A Python worker needs more than a few megabytes; the figure is its RSS, shared pages
    # included, read a moment after the handler's own reading of it.
    assert reported >= 8
    assert body["resident_mb"] - 1 <= reported <= body["resident_mb"] + 8
    assert reported < 128

    shown = server.cli("invoke", name, "--tail")
    assert shown.returncode == 0, shown.stderr
    found = REPORTED.search(shown.stderr)
    assert found is not None, shown.stderr
    assert abs(int(found.group(1)) - reported) <= 2


def warm_up(server: FaasServer, name: str, start: str) -> None:
    """Make the next invocations run the way `start` says."""
    if start != "provisioned":
        return
    api = server.client()
    api.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
    )
    deadline = time.monotonic() + 15
    while (
        api.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")["Status"]
        != "READY"
    ):
        assert time.monotonic() < deadline, "provisioned concurrency never became ready"
        time.sleep(0.1)


@pytest.mark.parametrize("start", ["on-demand", "snapshot", "provisioned"])
def test_each_invocation_reports_its_own_peak(server: FaasServer, start: str) -> None:
    needs_clear_refs()
    config: dict[str, Any] = {"MemorySize": 256}
    if start == "snapshot":
        config["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    name = deploy(server, f"peak-{start}", **config)
    warm_up(server, name, start)

    before, quiet = invoke(server, name)
    during, busy = invoke(server, name, {"allocate_mb": 60})
    after, quiet_again = invoke(server, name)

    assert before["pid"] == during["pid"] == after["pid"]  # one warm worker
    assert busy >= 60 + quiet - 2
    assert quiet_again <= quiet + 2  # the 60 MB of the call before do not count


def test_a_child_process_counts(server: FaasServer) -> None:
    name = deploy(server, "child", MemorySize=256)
    _, alone = invoke(server, name)

    _, with_child = invoke(server, name, {"child_mb": 40})
    _, with_child_again = invoke(server, name, {"child_mb": 40})
    _, without = invoke(server, name)

    # The child's own interpreter comes on top of the 40 MB it touches.
    assert with_child >= alone + 40
    assert with_child_again >= alone + 40
    assert without <= alone + 2


# A child forked without exec keeps the worker's dumpability: with a process view of the
# worker's own (hidepid) it stays visible only because the worker is dumpable again.
@pytest.mark.parametrize(
    ("started", "megabytes"),
    [("running_child_mb", 40), ("running_fork_mb", 60)],
    ids=["exec", "fork"],
)
def test_a_child_process_still_running_when_the_call_returns_counts(
    server: FaasServer, started: str, megabytes: int
) -> None:
    active = {layer["layer"]: layer["active"] for layer in server.health()["sandbox"]}
    if active["landlock"] and not active["per-function uid"]:
        pytest.skip("without uids of their own, Landlock hides other processes' /proc files")
    name = deploy(server, "running-child", MemorySize=256)
    _, alone = invoke(server, name)
    try:
        _, with_child = invoke(server, name, {started: megabytes})
    finally:
        invoke(server, name, {"stop_children": True})

    assert with_child >= alone + megabytes


def test_pages_shared_with_other_processes_count_but_not_against_the_limit(
    server: FaasServer,
) -> None:
    """160 MB of the function's own code, mapped and read by a 128 MB function: the pages are
    resident in the worker, so they count in Max Memory Used, but the platform wrote them
    when it unpacked the code, so they are charged to the platform's memory cgroup, not to
    the worker's: no OOM."""
    active = {layer["layer"]: layer["active"] for layer in server.health()["sandbox"]}
    if not active["memory"]:
        pytest.skip("no memory cgroup here: the RSS polling would stop a worker that big")
    name = deploy(server, "shared", MemorySize=128, Timeout=30, files={"big.bin": bytes(160 * MB)})

    body, reported = invoke(server, name, {"map_code": True})

    assert body["resident_mb"] > 160
    assert reported > 160
