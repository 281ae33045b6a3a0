"""Hostile functions invoked in a loop beside ordinary load: one that leaks memory until it
is killed, one that leaves daemons behind. Each meets its limit every time; the ordinary
function's callers notice nothing; nothing of either outlives its workers.
(tests/e2e/test_hostile_functions.py has each attack once, without load.)"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import psutil

from tests.helpers.faults import HELLO, SYNC_CALLS, calls, interleave, start_fault_server
from tests.helpers.leaks import gone_problems, growth_problems, settle, teardown_problems
from tests.helpers.load import Call, run_load

ORDINARY_CALLS = SYNC_CALLS // 2
HOSTILE_CALLS = 40
# Each leaker call fills 128 MB before it is killed: fewer of them keep the test short.
LEAKER_CALLS = 20

LEAKER = """
    leaked = []

    def handler(event, context):
        # Keeps what it allocates across invocations, as a leak does, until the limit.
        while True:
            leaked.append(bytearray(8 * 1024 * 1024))
"""
DAEMONIZER = """
    import os, time

    def handler(event, context):
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(write_end, str(os.getpid()).encode())
                signal_proof_sleep()
            os._exit(0)
        os.close(write_end)
        os.waitpid(child, 0)
        return {"daemon": int(os.read(read_end, 64)), "pid": os.getpid()}

    def signal_proof_sleep():
        import signal
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        time.sleep(3600)
"""


def hostile_beside_ordinary(hostile: str, count: int) -> list[Call]:
    return interleave(calls("ordinary", ORDINARY_CALLS, sleep_s=0.005), [Call(hostile)] * count)


def test_memory_leaker_in_a_loop_beside_ordinary_load(tmp_path: Path) -> None:
    fault = start_fault_server(tmp_path / "data")
    try:
        fault.server.deploy("ordinary", {"app.py": HELLO})
        fault.server.deploy(
            "leaker", {"app.py": textwrap.dedent(LEAKER)}, MemorySize=128, Timeout=30
        )
        fault.server.invoke("ordinary")
        before = fault.footprint()

        result = run_load(
            fault.server.url,
            fault.server.admin_key,
            hostile_beside_ordinary("leaker", LEAKER_CALLS),
            concurrency=6,
            deadline_s=90,
        )
        print("outcomes:", result.summary())
        ordinary = result.by(lambda a: a.call.function == "ordinary")
        assert len(ordinary) == ORDINARY_CALLS and all(a.succeeded for a in ordinary)
        leaker = result.by(lambda a: a.call.function == "leaker")
        assert len(leaker) == LEAKER_CALLS
        assert {(a.function_error, a.error_type) for a in leaker} == {
            ("Unhandled", "Runtime.OutOfMemory")
        }

        assert not settle(lambda: teardown_problems(fault.footprint(), fault.workers()), 10)
        assert not settle(lambda: growth_problems(before, fault.footprint()), 10)
    finally:
        fault.server.stop()
    assert not gone_problems(fault.pid, fault.server.data_dir, fault.first_uid)


def test_daemon_forker_in_a_loop_beside_ordinary_load(tmp_path: Path) -> None:
    fault = start_fault_server(tmp_path / "data")
    try:
        fault.server.deploy("ordinary", {"app.py": HELLO})
        fault.server.deploy("forker", {"app.py": textwrap.dedent(DAEMONIZER)}, Timeout=10)
        fault.server.invoke("ordinary")
        before = fault.footprint()

        result = run_load(
            fault.server.url,
            fault.server.admin_key,
            hostile_beside_ordinary("forker", HOSTILE_CALLS),
            concurrency=6,
            deadline_s=60,
        )
        print("outcomes:", result.summary())
        assert all(a.succeeded for a in result.answers), result.unclean()[:3]
        assert len(result.answers) == ORDINARY_CALLS + HOSTILE_CALLS
        daemons = {
            int(json.loads(a.body)["daemon"])
            for a in result.by(lambda a: a.call.function == "forker")
        }
        assert len(daemons) == HOSTILE_CALLS
        assert any(psutil.pid_exists(pid) for pid in daemons)  # they really outlived the calls

        # Idle workers are reaped after a second (pool.idle_ttl_s): every daemon with them,
        # though each left its worker's session and ignores SIGTERM.
        assert not settle(lambda: [str(p) for p in daemons if alive(p)], 10)
        assert not settle(lambda: teardown_problems(fault.footprint(), fault.workers()), 10)
        assert not settle(lambda: growth_problems(before, fault.footprint()), 10)
    finally:
        fault.server.stop()
    assert not gone_problems(fault.pid, fault.server.data_dir, fault.first_uid)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
