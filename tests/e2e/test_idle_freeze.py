"""Idle workers are frozen, as Lambda freezes an execution environment between invocations,
on a real server: a background thread of the function stops while its worker is idle and
runs again when the next invocation comes; frozen workers still end when the reaper, the
memory budget or a shutdown stops them.
"""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import FaasServer, require_layers

FREEZE_AFTER_MS = 50
IDLE_S = 1.5  # 30 times the threshold: an unfrozen thread ticks ~150 times meanwhile
TICK_S = 0.01
# Ticks between the end of an invocation and its worker's freeze (50 ms of 10 ms ticks, plus
# the loop's and the kernel's latency), with room to spare; far below IDLE_S / TICK_S.
MOST_TICKS_BEFORE_FROZEN = 40

TICKER = f"""
    import os, threading, time

    ticks = 0

    def tick():
        global ticks
        while True:
            ticks += 1
            time.sleep({TICK_S})

    def wait_for(count):
        while ticks < count:  # bounded by the function's timeout
            time.sleep(0.001)

    def handler(event, context):
        if event.get("start"):
            threading.Thread(target=tick, daemon=True).start()
            wait_for(10)  # it runs
        now = ticks  # read first thing: right after the thaw
        if event.get("still_ticking"):
            wait_for(now + 5)  # it runs again after the thaw
        return {{"pid": os.getpid(), "ticks": now}}
"""


def start_server(data_dir: Path, **pool: Any) -> FaasServer:
    env = {f"FAAS_POOL_{key.upper()}": str(value) for key, value in pool.items()}
    return FaasServer.start(data_dir, env=env)


@pytest.fixture(scope="module")
def freezing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    server = start_server(
        tmp_path_factory.mktemp("freezing") / "data", freeze_after_ms=FREEZE_AFTER_MS
    )
    try:
        yield server
    finally:
        server.stop()


def deploy(server: FaasServer, prefix: str, **config: Any) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    config.setdefault("Timeout", 10)
    server.deploy(name, {"app.py": textwrap.dedent(TICKER)}, **config)
    return name


def ticks(server: FaasServer, name: str, event: dict[str, Any]) -> dict[str, Any]:
    response, body = server.invoke(name, event)
    assert "FunctionError" not in response, body
    return dict(body)


def wait_until_gone(pid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_background_thread_does_not_run_while_its_worker_is_idle(
    freezing: FaasServer,
) -> None:
    require_layers(freezing, "freezer")
    name = deploy(freezing, "ticker")
    first = ticks(freezing, name, {"start": True})
    time.sleep(IDLE_S)
    second = ticks(freezing, name, {"still_ticking": True})

    assert second["pid"] == first["pid"]  # the same warm worker, thawed
    assert second["ticks"] - first["ticks"] < MOST_TICKS_BEFORE_FROZEN, (first, second)


def test_without_freezing_the_thread_runs_on_while_idle(tmp_path: Path) -> None:
    """The control: the same function and pause on a server that never freezes."""
    server = start_server(tmp_path / "data", freeze_after_ms=0)
    try:
        rows = {layer["layer"]: layer for layer in server.health()["sandbox"]}
        assert not rows["freezer"]["active"]
        assert rows["freezer"]["detail"] == "off: pool.freeze_after_ms is 0"
        name = deploy(server, "ticker")
        first = ticks(server, name, {"start": True})
        time.sleep(IDLE_S)
        second = ticks(server, name, {})
    finally:
        server.stop()
    assert second["ticks"] - first["ticks"] > MOST_TICKS_BEFORE_FROZEN, (first, second)


def test_the_reaper_stops_a_frozen_worker(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "data", freeze_after_ms=FREEZE_AFTER_MS, idle_ttl_s=1, reap_interval_s=0.2
    )
    try:
        require_layers(server, "freezer")
        name = deploy(server, "reaped")
        worker = ticks(server, name, {"start": True})["pid"]
        assert wait_until_gone(worker), "the reaper did not stop the frozen worker"
        assert ticks(server, name, {"start": True})["pid"] != worker  # a new one serves
    finally:
        server.stop()


def test_the_memory_budget_evicts_a_frozen_worker(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", freeze_after_ms=FREEZE_AFTER_MS, memory_budget_mb=256)
    try:
        require_layers(server, "freezer")
        first, second, third = (deploy(server, f"budget{i}", MemorySize=128) for i in range(3))
        evicted = ticks(server, first, {"start": True})["pid"]
        ticks(server, second, {})
        time.sleep(FREEZE_AFTER_MS / 1000 * 4)  # both idle and frozen by now
        ticks(server, third, {})  # no room: the least recently used goes
        assert wait_until_gone(evicted), "the frozen worker was not stopped"
    finally:
        server.stop()


def test_a_shutdown_stops_frozen_workers(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", freeze_after_ms=FREEZE_AFTER_MS)
    try:
        require_layers(server, "freezer")
        name = deploy(server, "shutdown")
        worker = ticks(server, name, {"start": True})["pid"]
        time.sleep(FREEZE_AFTER_MS / 1000 * 4)
    finally:
        assert server.stop() == 0
    assert wait_until_gone(worker), "a frozen worker outlived the server"
