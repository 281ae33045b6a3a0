"""Processes killed under load: workers at random, the zygote, the server itself. Every call
gets its answer or a clean Lambda-shaped error, every accepted event completes, every
answered invocation is on the books, and nothing is left behind."""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from tests.helpers.faults import (
    ASYNC_CALLS,
    HELLO,
    SYNC_CALLS,
    FaultServer,
    calls,
    interleave,
    kill_quietly,
    missing_records,
    restart,
    start_fault_server,
    wait_for_queue,
)
from tests.helpers.leaks import (
    Footprint,
    footprint_after_exit,
    gone_problems,
    growth_problems,
    settle,
    teardown_problems,
)
from tests.helpers.load import WORKER_DIED, Call, LoadResult, run_load

CONCURRENCY = 8


def deploy_two(fault: FaultServer) -> None:
    for name in ("alpha", "beta"):
        fault.server.deploy(name, {"app.py": HELLO}, Timeout=10)
        fault.server.invoke(name, {"n": -1})  # warm: the footprint is taken with workers up


def mixed_load() -> list[Call]:
    return interleave(
        calls("alpha", SYNC_CALLS // 2, sleep_s=0.01),
        calls("beta", SYNC_CALLS // 2, sleep_s=0.01),
        calls("beta", ASYNC_CALLS, "Event", sleep_s=0.01),
    )


def under_load(fault: FaultServer, attack: Callable[[threading.Event], None]) -> LoadResult:
    """The mixed load, with `attack` running beside it until the load is done."""
    done = threading.Event()
    attacker = threading.Thread(target=attack, args=(done,))
    attacker.start()
    try:
        return run_load(
            fault.server.url,
            fault.server.admin_key,
            mixed_load(),
            concurrency=CONCURRENCY,
            deadline_s=60,
        )
    finally:
        done.set()
        attacker.join(10)


def assert_books_and_no_leaks(fault: FaultServer, result: LoadResult, before: Footprint) -> None:
    print("outcomes:", result.summary())
    assert not result.unclean(WORKER_DIED), result.unclean(WORKER_DIED)[:5]
    assert len(result.answers) == SYNC_CALLS + ASYNC_CALLS
    assert wait_for_queue(fault.server.data_dir, 30) == 0
    assert not missing_records(fault.server, result.answers)
    assert not settle(lambda: teardown_problems(fault.footprint(), fault.workers()), 10)
    # Idle workers are reaped after a second: then the server holds what it held before.
    assert not settle(lambda: growth_problems(before, fault.footprint()), 10)


def test_workers_killed_at_random_under_load(tmp_path: Path) -> None:
    fault = start_fault_server(tmp_path / "data")
    killed: list[int] = []
    try:
        deploy_two(fault)
        before = fault.footprint()

        def kill_workers(done: threading.Event) -> None:
            chooser = random.Random(7)
            while not done.wait(0.05):
                workers = sorted(fault.workers())
                victim = chooser.choice(workers) if workers else 0
                if victim and kill_quietly(victim, signal.SIGKILL):
                    killed.append(victim)

        result = under_load(fault, kill_workers)
        assert len(killed) >= 20, killed
        assert_books_and_no_leaks(fault, result, before)
    finally:
        fault.server.stop()
    assert not gone_problems(fault.pid, fault.server.data_dir, fault.first_uid)


def test_zygote_killed_under_load(tmp_path: Path) -> None:
    fault = start_fault_server(tmp_path / "data")
    killed: list[int] = []
    try:
        deploy_two(fault)
        before = fault.footprint()
        first = fault.zygotes()

        def kill_zygotes(done: threading.Event) -> None:
            # Twice, the second time the zygote the pool started after the first.
            while len(killed) < 2 and not done.wait(0.4):
                for zygote in fault.zygotes() - set(killed):
                    if kill_quietly(zygote, signal.SIGKILL):
                        killed.append(zygote)

        result = under_load(fault, kill_zygotes)
        assert len(killed) == 2, killed
        assert_books_and_no_leaks(fault, result, before)
        # The pool started another zygote, and it serves.
        assert fault.zygotes() and not fault.zygotes() & first
        response, body = fault.server.invoke("alpha", {"n": 1})
        assert "FunctionError" not in response and body["n"] == 1
    finally:
        fault.server.stop()
    assert not gone_problems(fault.pid, fault.server.data_dir, fault.first_uid)


def test_server_killed_under_load_with_events_queued(tmp_path: Path) -> None:
    fault = start_fault_server(tmp_path / "data")
    fault.server.deploy("alpha", {"app.py": HELLO}, Timeout=10)
    fault.server.deploy("slowevents", {"app.py": HELLO}, Timeout=10)
    # Few events at a time, each a while: the queue holds most of them when the server dies.
    fault.server.client().put_function_concurrency(
        FunctionName="slowevents", ReservedConcurrentExecutions=4
    )
    load = interleave(
        calls("alpha", SYNC_CALLS, sleep_s=0.005),
        calls("slowevents", ASYNC_CALLS, "Event", sleep_s=0.02),
    )
    result = LoadResult()

    def kill_server() -> None:
        # A third of the way through: sync answers given, events accepted and waiting.
        while len(result.answers) < len(load) // 3 and fault.server.process.poll() is None:
            threading.Event().wait(0.01)
        fault.server.kill()

    killer = threading.Thread(target=kill_server)
    killer.start()
    run_load(
        fault.server.url,
        fault.server.admin_key,
        load,
        concurrency=CONCURRENCY,
        deadline_s=60,
        stop_on_transport_error=True,
        result=result,
    )
    killer.join(30)
    print("outcomes:", result.summary())
    accepted = result.by(lambda a: a.status == 202)
    assert accepted and result.by(lambda a: a.status == 200)
    assert not [a for a in result.unclean() if not a.transport_error]  # cut off, or clean
    assert wait_for_queue(fault.server.data_dir, 0) > 0  # events were waiting at the kill

    restarted = restart(fault)
    try:
        # The dead server's leases lapse (queue.lease_s) and its events run here.
        assert wait_for_queue(restarted.server.data_dir, 30) == 0
        assert not missing_records(restarted.server, result.answers)
        # The start swept what the dead server's workers held; what is left is the new
        # server's own, and consistent.
        assert not settle(lambda: stale_problems(fault, restarted), 10)
        assert not settle(lambda: teardown_problems(restarted.footprint(), restarted.workers()), 10)
    finally:
        restarted.server.stop()
    assert not gone_problems(restarted.pid, restarted.server.data_dir, restarted.first_uid)


def stale_problems(dead: FaultServer, alive: FaultServer) -> list[str]:
    """Anything of the dead server's left beside the running one."""
    left = footprint_after_exit(dead.pid, dead.server.data_dir, dead.first_uid)
    left["processes"] = sorted(set(left["processes"]) - {str(p) for p in alive.workers()})
    prefix = f"slot-{dead.pid}-"
    for kind in ("loop devices", "/tmp images"):
        left[kind] = [path for path in left[kind] if Path(path).name.startswith(prefix)]
    return [f"{what} left: {items}" for what, items in left.items() if items]
