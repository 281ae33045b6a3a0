"""Records survive a SIGKILL; SIGTERM drains in-flight work; no process outlives the server."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from tests.helpers.server import FaasServer

SLOW = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}
"""


def post_invoke(server: FaasServer, name: str, event: dict[str, object]) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        f"{server.url}/2015-03-31/functions/{name}/invocations",
        data=json.dumps(event).encode(),
        method="POST",
    )
    with server.urlopen(request, timeout=30) as response:
        return response.status, response.headers["x-amzn-RequestId"], response.read()


def records(server: FaasServer, name: str) -> list[dict[str, object]]:
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return list(json.load(r)["Invocations"])


def test_no_answered_invocation_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = FaasServer.start(data_dir)
    server.deploy("durable", {"app.py": SLOW})
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                status, request_id, _ = post_invoke(server, "durable", {})
            except (OSError, urllib.error.URLError):
                return  # the server is gone
            if status == 200:
                with lock:
                    answered.append(request_id)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(answered) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL while requests are in flight
    stop.set()
    for thread in threads:
        thread.join(10)
    assert len(answered) >= 50

    restarted = FaasServer.start(data_dir)
    try:
        on_the_books = {r["RequestId"] for r in records(restarted, "durable")}
        missing = set(answered) - on_the_books
        assert not missing, f"{len(missing)} answered invocations have no record"
    finally:
        restarted.stop()


def test_sigterm_lets_in_flight_invocations_finish_and_stops_every_worker(
    tmp_path: Path,
) -> None:
    server = FaasServer.start(tmp_path / "data")
    server.deploy("slow", {"app.py": SLOW})
    _, warm = server.invoke("slow", {})
    outcome: dict[str, object] = {}

    def slow_call() -> None:
        outcome["result"] = post_invoke(server, "slow", {"sleep": 1.0})

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.3)
    worker_pids = [c.pid for c in psutil.Process(server.process.pid).children(recursive=True)]
    assert warm["pid"] in worker_pids
    assert server.stop() == 0
    caller.join(10)
    status, _, body = outcome["result"]  # type: ignore[misc]
    assert status == 200
    assert "pid" in json.loads(body)
    time.sleep(0.1)
    left = [psutil.Process(p) for p in worker_pids if psutil.pid_exists(p)]
    assert not left, [(p.pid, p.status(), p.cmdline(), p.ppid()) for p in left]


def test_workers_die_with_a_killed_server(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data")
    server.deploy("orphan", {"app.py": SLOW})
    _, body = server.invoke("orphan", {})
    worker = psutil.Process(body["pid"])
    server.kill()
    worker.wait(5)  # raises TimeoutExpired if the worker outlived the server
