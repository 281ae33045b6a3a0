"""A function's view of the processes on its host, on a real server: its /proc lists its own
worker and what that worker started, and nothing else (not the server, not pid 1, not the
zygote, not another function's worker).

Paths such as /proc in the handlers below are the function's view inside its sandbox.
"""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import FaasServer, require_layers

LISTER = """
    import os, subprocess, sys, time

    # The runtime's own interpreter, which every function's uid may run.
    PYTHON = os.path.join(sys.base_prefix, "bin", "python3")
    # A child that reads its own /proc/self, reports it, then waits to be stopped.
    CHILD = (
        "import os, sys\\n"
        "status = open('/proc/self/status').read()\\n"
        "pid = int(status.split('\\\\nPid:')[1].split()[0])\\n"
        "print(pid == os.getpid(), flush=True)\\n"
        "sys.stdin.read()\\n"
    )

    def uid_of(pid):
        try:
            with open(f"/proc/{pid}/status") as status:
                return int(next(l for l in status if l.startswith("Uid:")).split()[1])
        except OSError:
            return None  # ended while we looked

    def handler(event, context):
        child = subprocess.Popen(
            [PYTHON, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        child_reads_itself = child.stdout.readline().strip() == b"True"
        ready, tell = os.pipe()
        forked = os.fork()
        if forked == 0:  # a fork without exec
            os.write(tell, b"r")
            time.sleep(60)  # until the worker kills it
            os._exit(0)
        os.read(ready, 1)
        os.close(ready)
        os.close(tell)
        try:
            visible = {int(p): uid_of(p) for p in os.listdir("/proc") if p.isdigit()}
            with open("/proc/meminfo") as meminfo, open("/proc/cpuinfo") as cpuinfo:
                system_files = bool(meminfo.readline()) and bool(cpuinfo.readline())
        finally:
            os.kill(forked, 9)  # first: it holds the child's stdin open too
            os.waitpid(forked, 0)
            child.stdin.close()
            child.wait()
        return {
            "pid": os.getpid(),
            "uid": os.getuid(),
            "child": child.pid,
            "forked": forked,
            "child_reads_itself": child_reads_itself,
            "system_files": system_files,
            "visible": visible,
        }
"""


def deploy(server: FaasServer, prefix: str, **config: Any) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    server.deploy(name, {"app.py": textwrap.dedent(LISTER)}, **config)
    return name


def listing(server: FaasServer, name: str) -> dict[str, Any]:
    response, body = server.invoke(name)
    assert "FunctionError" not in response, body
    body["visible"] = {int(pid): uid for pid, uid in body["visible"].items()}
    return dict(body)


def parent_of(pid: int) -> int:
    """As the host sees it (the test runs outside every sandbox)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("start", ["on-demand", "snapshot"])
def test_a_function_lists_only_its_own_processes(server: FaasServer, start: str) -> None:
    require_layers(server, "process view")
    config: dict[str, Any] = {}
    if start == "snapshot":
        config["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    other = deploy(server, "other")
    other_worker = listing(server, other)["pid"]  # stays warm, idle, in the pool
    name = deploy(server, f"lister-{start}", **config)

    seen = listing(server, name)

    assert alive(other_worker), "the other function's worker should still be warm"
    visible = seen["visible"]
    # What it started is there, exec'd or only forked; its child reads its own /proc/self.
    assert {seen["pid"], seen["child"], seen["forked"]} <= set(visible)
    assert seen["child_reads_itself"] and seen["system_files"]
    # Everything listed is its own uid; nothing of the platform, the host or other functions.
    assert {uid for uid in visible.values() if uid is not None} == {seen["uid"]}
    strangers = {1, server.process.pid, os.getpid(), other_worker, parent_of(other_worker)}
    assert not strangers & set(visible)
    # The process that forked this worker (the zygote or the snapshot template's parent).
    zygote = parent_of(seen["pid"]) if start == "on-demand" else parent_of(parent_of(seen["pid"]))
    assert zygote not in visible


def test_the_record_names_the_process_view(server: FaasServer) -> None:
    require_layers(server, "process view")
    name = deploy(server, "tagged")
    response, _ = server.invoke(name)
    request_id = response["ResponseMetadata"]["RequestId"]
    url = f"{server.url}/faas/v1/invocations?function={name}&limit=10"
    with server.urlopen(url, timeout=10) as answer:
        records = json.load(answer)["Invocations"]
    record = next(r for r in records if r["RequestId"] == request_id)
    assert "procview" in record["Isolation"].split()
