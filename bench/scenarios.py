"""The measurements of one run, (a) to (r); each starts and stops its own servers.

Every scenario is `async def scenario(bench) -> dict` of plain JSON values, so any subset can
run (`--only`) and the report reads one document.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench import peer
from bench.handlers import HEAVY, HEAVY_MODULES, HELLO, cpu_source
from bench.loadgen import Durations, LoadGenerator, LoadResult, measure, percentile
from bench.records_db import (
    SizeOnDisk,
    Usage,
    create_database,
    database_path,
    fill_month,
    journal_size,
    plain_month_totals,
    row_stats,
    size_on_disk,
)
from bench.servers import (
    EVENT,
    RUNTIME,
    Code,
    ServerProcess,
    Target,
    call_api,
    deploy,
    deploy_many,
    health,
    http_client,
    invoke_once,
    invoke_url,
    start_baseline,
    start_faas,
)
from faas.config import FileWatchSettings
from faas.runtimes import WORKER_PATH
from tests.helpers.function_zips import bundle, ric_bootstrap, serving_interpreter, vendored_ric

# The CreateFunction fields that turn snapshot start on; the cold start scenario deploys its
# "with snapshot start" functions with them (None would report those rows as not implemented).
FunctionConfigExtra = Mapping[str, object] | None
SNAPSHOT_START_CONFIG: FunctionConfigExtra = {"SnapStart": {"ApplyOn": "PublishedVersions"}}
NOT_IMPLEMENTED = "n/a (not implemented)"

THROUGHPUT_LEVELS = (1, 8, 32, 64)
CPU_CONNECTIONS = 8
DENSITY_CONNECTIONS = 32
MEMORY_WORKERS = 4
MEMORY_SETTLE_S = 0.5
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Plan:
    """How big a run is: `full` for RESULTS.md, `quick` for the smoke test."""

    durations: Durations
    cold_starts: int
    scale_out_rounds: int
    scale_out_burst: int
    function_counts: tuple[int, ...]
    # Each (f) point is measured this many times, interleaved, each on a fresh server: one
    # 5 s run moves by +-10 % on our 2-core VMs, as much as the effect (f) looks for.
    function_repeats: int
    # (j): invokes timed after each kind of pause.
    pause_samples: int
    # (n): files dropped at once, and files dropped one at a time for the latency.
    file_drops: int
    file_samples: int
    # (o): invocation records of one month in the database the bill is read from.
    month_records: int
    # (p): how long the steady load runs, the records' retention, and how often the
    # database's size is sampled meanwhile.
    steady_load_s: float
    retention_s: float
    size_sample_s: float


FULL = Plan(
    Durations(2.0, 5.0), 20, 5, 8, (1, 100, 1000), 3, 60, 1000, 30, 5_000_000, 90.0, 20.0, 3.0
)
QUICK = Plan(Durations(0.5, 1.0), 5, 2, 4, (1, 10, 50), 1, 8, 100, 5, 20_000, 12.0, 4.0, 2.0)


@dataclass(frozen=True, slots=True)
class Bench:
    plan: Plan
    generator: LoadGenerator
    workdir: Path
    cpu_iterations: int
    # Why (l)'s peer cannot run (None: it can); bench.peer.prepare, before the run's network.
    peer_problem: str | None = None


Scenario = Callable[[Bench], Awaitable[dict[str, Any]]]


@contextlib.asynccontextmanager
async def faas_with(
    bench: Bench, functions: Mapping[str, str], env: Mapping[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """A faas server with `functions` (name -> source) deployed."""
    server = await asyncio.to_thread(start_faas, bench.workdir, env)
    try:
        async with http_client() as http:
            for name, source in functions.items():
                await deploy(http, server.target, name, source)
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def _load(bench: Bench, target: Target, name: str, connections: int) -> dict[str, Any]:
    result: LoadResult = await measure(
        bench.generator, target, name, connections, bench.plan.durations
    )
    return result.as_dict()


async def _levels(bench: Bench, target: Target) -> dict[str, Any]:
    return {f"c{c}": await _load(bench, target, "hello", c) for c in THROUGHPUT_LEVELS}


# -- (a) baseline --------------------------------------------------------------------------


async def baseline(bench: Bench) -> dict[str, Any]:
    server = await asyncio.to_thread(start_baseline, bench.workdir, bench.cpu_iterations)
    try:
        hello = await _levels(bench, server.target)
        cpu = await _load(bench, server.target, "cpu", CPU_CONNECTIONS)
    finally:
        await asyncio.to_thread(server.stop)
    return {"hello": hello, f"cpu_c{CPU_CONNECTIONS}": cpu}


# -- (b) warm invoke, (c) CPU-bound ----------------------------------------------------------


async def warm_invoke(bench: Bench) -> dict[str, Any]:
    async with faas_with(bench, {"hello": HELLO}) as server:
        return {"hello": await _levels(bench, server.target)}


# A CPU-bound function is deployed the way one would be on Lambda: at 1,769 MB, the memory size
# that comes with one full vCPU (faas gives a worker a CPU share proportional to its memory).
CPU_FUNCTION_CONFIG = {"MemorySize": 1769}


async def cpu_bound(bench: Bench) -> dict[str, Any]:
    async with faas_with(bench, {}) as server:
        async with http_client() as http:
            await deploy(
                http, server.target, "cpu", cpu_source(bench.cpu_iterations), CPU_FUNCTION_CONFIG
            )
        cpu = await _load(bench, server.target, "cpu", CPU_CONNECTIONS)
        workers = len(server.worker_processes())
    return {f"cpu_c{CPU_CONNECTIONS}": cpu, "workers": workers}


# -- (d) cold start --------------------------------------------------------------------------


def _latency_summary(latencies_ns: list[int]) -> dict[str, Any]:
    ordered = sorted(latencies_ns)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) / 1e6, 2),
        "p90_ms": round(percentile(ordered, 0.90) / 1e6, 2),
        "p99_ms": round(percentile(ordered, 0.99) / 1e6, 2),
        "max_ms": round(ordered[-1] / 1e6, 2) if ordered else 0.0,
    }


# Between two cold starts: what one starts in the background (the next spare process and
# /tmp image, ~50 ms of work on 2 cores) is done, so each is timed on its own.
COLD_GAP_S = 0.1


def _cold_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-cold-{i}" for i in range(count)]


async def _first_invokes(
    bench: Bench,
    target: Target,
    prefix: str,
    source: Code,
    config: FunctionConfigExtra,
    *,
    gap_s: float,
) -> list[int]:
    """Deploy N fresh functions, then time the first invoke of each (one at a time, `gap_s`
    apart: 0 makes it a run of back-to-back cold starts that outpaces the spares' refill)."""
    names = _cold_names(prefix, bench.plan.cold_starts)
    latencies = []
    async with http_client() as http:
        await deploy_many(http, target, names, source, config)
        for name in names:
            await asyncio.sleep(gap_s)
            latencies.append(await invoke_once(http, target, name))
    return latencies


async def _scale_out(
    bench: Bench, target: Target, prefix: str, source: str, config: FunctionConfigExtra
) -> list[int]:
    """With one warm worker, a burst of K concurrent invokes: K-1 new workers must start."""
    latencies: list[int] = []
    async with http_client(bench.plan.scale_out_burst) as http:
        for round_index in range(bench.plan.scale_out_rounds):
            name = f"{prefix}-scale-{round_index}"
            await deploy(http, target, name, source, config)
            await invoke_once(http, target, name)
            burst = [invoke_once(http, target, name) for _ in range(bench.plan.scale_out_burst)]
            latencies += await asyncio.gather(*burst)
    return latencies


async def _cold_variant(
    bench: Bench, target: Target, prefix: str, source: str, snapshot: bool
) -> dict[str, Any] | str:
    if snapshot and SNAPSHOT_START_CONFIG is None:
        return NOT_IMPLEMENTED
    config = SNAPSHOT_START_CONFIG if snapshot else None
    prefix = f"{prefix}-snap" if snapshot else prefix
    first = await _first_invokes(bench, target, prefix, source, config, gap_s=COLD_GAP_S)
    back_to_back = await _first_invokes(bench, target, f"{prefix}-b2b", source, config, gap_s=0.0)
    scale = await _scale_out(bench, target, prefix, source, config)
    return {
        "cold": _latency_summary(first),
        "cold_back_to_back": _latency_summary(back_to_back),
        "scale_out": _latency_summary(scale),
    }


def heavy_import_ms() -> float:
    """What the heavy module set costs to import in a fresh isolated interpreter (median of 3)."""
    code = (
        "import time; t = time.perf_counter(); "
        f"import {HEAVY_MODULES}; print((time.perf_counter() - t) * 1000)"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        for _ in range(3)
    ]
    return round(statistics.median(float(r.stdout) for r in runs), 2)


async def cold_start(bench: Bench) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with faas_with(bench, {}) as server:
        target = server.target
        for kind, source in (("hello", HELLO), ("heavy", HEAVY)):
            result[kind] = {
                "without_snapshot": await _cold_variant(bench, target, kind, source, False),
                "with_snapshot": await _cold_variant(bench, target, kind, source, True),
            }
    # New workers of a function already deployed and used: idle workers are reaped quickly,
    # so each invoke after a pause starts a new worker (from the snapshot when it is on).
    async with faas_with(bench, {}, NEW_WORKER_ENV) as server:
        for kind, source in (("hello", HELLO), ("heavy", HEAVY)):
            for snapshot in (False, True):
                variant = "with_snapshot" if snapshot else "without_snapshot"
                latencies = await _new_workers(bench, server.target, kind, source, snapshot)
                result[kind][variant]["new_worker"] = _latency_summary(latencies)
    result["heavy_import_ms"] = await asyncio.to_thread(heavy_import_ms)
    result["cold_gap_ms"] = round(COLD_GAP_S * 1000)
    return result


NEW_WORKER_ENV = {"FAAS_POOL_IDLE_TTL_S": "0.2", "FAAS_POOL_REAP_INTERVAL_S": "0.05"}


async def _new_workers(
    bench: Bench, target: Target, kind: str, source: str, snapshot: bool
) -> list[int]:
    name = f"{kind}-new-{'snap' if snapshot else 'plain'}"
    async with http_client() as http:
        await deploy(http, target, name, source, SNAPSHOT_START_CONFIG if snapshot else None)
        await invoke_once(http, target, name)  # with snapshot start: the template's init
        latencies = []
        for _ in range(bench.plan.cold_starts):
            await asyncio.sleep(0.4)  # the last worker is reaped meanwhile
            latencies.append(await invoke_once(http, target, name))
    return latencies


# -- (e) idle memory -------------------------------------------------------------------------


def _worker_memory(workers: list[psutil.Process]) -> list[tuple[float, float, float]]:
    found = []
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            info = worker.memory_full_info()
            found.append((info.uss / MB, info.pss / MB, info.rss / MB))
    return found


async def idle_memory(bench: Bench) -> dict[str, Any]:
    async with faas_with(bench, {"hello": HELLO}) as server:
        async with http_client() as http:
            for _ in range(10):
                await invoke_once(http, server.target, "hello")
        # A short concurrent burst gives a few warm workers to average over.
        short = Durations(0.0, bench.plan.durations.warmup_s)
        await measure(bench.generator, server.target, "hello", MEMORY_WORKERS, short)
        await asyncio.sleep(MEMORY_SETTLE_S)
        memory = _worker_memory(server.worker_processes())
    if not memory:
        raise RuntimeError("no warm workers found under the faas server")
    uss = statistics.median(m[0] for m in memory)
    return {
        "workers": len(memory),
        "uss_mb": round(uss, 2),
        "pss_mb": round(statistics.median(m[1] for m in memory), 2),
        "rss_mb": round(statistics.median(m[2] for m in memory), 2),
        "workers_per_gb": round(1024 / uss, 1),
    }


# -- (f) many functions ----------------------------------------------------------------------


async def many_functions(bench: Bench) -> dict[str, Any]:
    """Each count on a server of its own: the same history (one warm-up, one measurement)
    for every point, so only the number of deployed functions differs, not the size of the
    database or how long the server has been running. Repeated, interleaved (1, 100, 1000,
    1, 100, ...), and the run with the median throughput kept per count."""
    runs: dict[int, list[dict[str, Any]]] = {count: [] for count in bench.plan.function_counts}
    for _ in range(bench.plan.function_repeats):
        for count in bench.plan.function_counts:
            runs[count].append(await _with_functions(bench, count))
    result: dict[str, Any] = {}
    for count, measured in runs.items():
        ordered = sorted(measured, key=lambda run: float(run["rps"]))
        median = dict(ordered[len(ordered) // 2])
        median["rps_runs"] = [run["rps"] for run in measured]
        result[str(count)] = median
    return result


async def _with_functions(bench: Bench, count: int) -> dict[str, Any]:
    async with faas_with(bench, {"hello": HELLO}) as server:
        names = [f"dummy-{i}" for i in range(1, count)]
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with http_client() as http:
            await deploy_many(http, server.target, names, HELLO)
        deploy_s = round(loop.time() - started, 2)
        load = await _load(bench, server.target, "hello", DENSITY_CONNECTIONS)
        load["deployed_now"] = len(names)
        load["deploy_s"] = deploy_s
        return load


# -- (g) durable records ---------------------------------------------------------------------


async def record_cost(bench: Bench) -> dict[str, Any]:
    """c=32 hello with records on and off, the two servers side by side and their runs
    alternating (three each in a full run, the median kept), as in (h): one run against the
    other moves by more than the effect on these machines."""
    modes = {"records_on": "true", "records_off": "false"}
    async with contextlib.AsyncExitStack() as stack:
        servers = {
            label: await stack.enter_async_context(
                faas_with(bench, {"hello": HELLO}, {"FAAS_STORE_WRITE_RECORDS": flag})
            )
            for label, flag in modes.items()
        }
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in modes}
        for _ in range(bench.plan.function_repeats):
            for label, server in servers.items():
                runs[label].append(
                    await _load_with_cpu(bench, server, server.target, DENSITY_CONNECTIONS)
                )
    return {label: _median_run(measured) for label, measured in runs.items()}


# -- (h) authentication ---------------------------------------------------------------------


async def auth_cost(bench: Bench) -> dict[str, Any]:
    """The same warm hello, signed and verified (the default) and with authentication off
    (the requests then carry no signature at all). Both servers run side by side and their
    measurements alternate (c=32 three times in a full run, the median kept), because the
    machine's speed moves more from one minute to the next than the effect; each measurement
    also reports the gateway process's own CPU per request, the cost of verification."""
    modes = {"signed": "true", "auth_off": "false"}
    async with contextlib.AsyncExitStack() as stack:
        servers = {
            label: await stack.enter_async_context(
                faas_with(bench, {"hello": HELLO}, {"FAAS_AUTH_ENABLED": flag})
            )
            for label, flag in modes.items()
        }
        targets = {
            label: server.target if label == "signed" else Target(server.url)
            for label, server in servers.items()
        }
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {label: {} for label in modes}
        # As many repeats as (f) makes of each of its points: 3 in a full run, 1 in a quick one.
        repeats_c32 = bench.plan.function_repeats
        for connections, repeats in ((1, 1), (DENSITY_CONNECTIONS, repeats_c32)):
            for _ in range(repeats):
                for label in modes:
                    run = await _load_with_cpu(bench, servers[label], targets[label], connections)
                    runs[label].setdefault(f"c{connections}", []).append(run)
    return {
        label: {level: _median_run(measured) for level, measured in levels.items()}
        for label, levels in runs.items()
    }


async def _load_with_cpu(
    bench: Bench,
    server: ServerProcess,
    target: Target,
    connections: int,
    function: str = "hello",
    *,
    worker_cpu: bool = False,
) -> dict[str, Any]:
    """A warm-up, then one measurement with the gateway process's CPU time around it (and,
    with `worker_cpu`, that of the processes under it, as `_worker_cpu_per_request` splits
    it)."""
    gateway = psutil.Process(server.pid)
    warm_only = Durations(bench.plan.durations.warmup_s, 0.0)
    if warm_only.warmup_s > 0:
        await measure(bench.generator, target, function, connections, warm_only)
    tree_before = _tree_cpu(server) if worker_cpu else {}
    before = gateway.cpu_times()
    result: LoadResult = await measure(
        bench.generator,
        target,
        function,
        connections,
        Durations(0.0, bench.plan.durations.measure_s),
    )
    after = gateway.cpu_times()
    spent_s = (after.user + after.system) - (before.user + before.system)
    run = result.as_dict()
    run["gateway_cpu_us"] = round(spent_s / max(result.requests, 1) * 1e6, 1)
    if worker_cpu:
        run.update(_worker_cpu_per_request(tree_before, _tree_cpu(server), result.requests))
    return run


# Depths under the server: 1 the zygote, 2 the workers it forked (faas's Python runtime, or a
# custom runtime's supervisor serving the Runtime API), 3 and more what a supervisor started
# (the runtime's own process: the bootstrap, awslambdaric, node).
WORKER_DEPTH = 2


def _tree_cpu(server: ServerProcess) -> dict[int, tuple[int, float]]:
    """pid -> (depth under the server, CPU seconds so far) of every process under it."""
    found: dict[int, tuple[int, float]] = {}

    def walk(process: psutil.Process, depth: int) -> None:
        for child in process.children():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = child.cpu_times()
                found[child.pid] = (depth, times.user + times.system)
                walk(child, depth + 1)

    with contextlib.suppress(psutil.NoSuchProcess):
        walk(psutil.Process(server.pid), 1)
    return found


def _worker_cpu_per_request(
    before: Mapping[int, tuple[int, float]], after: Mapping[int, tuple[int, float]], requests: int
) -> dict[str, float]:
    """CPU per request of the workers and of the runtime processes under them, over the
    processes alive before and after the measurement (a worker started meanwhile is left
    out: after a warm-up at the same concurrency there is none)."""
    spent = {"worker_cpu_us": 0.0, "runtime_cpu_us": 0.0}
    for pid, (depth, cpu_s) in after.items():
        if pid in before and depth >= WORKER_DEPTH:
            key = "worker_cpu_us" if depth == WORKER_DEPTH else "runtime_cpu_us"
            spent[key] += cpu_s - before[pid][1]
    return {key: round(value / max(requests, 1) * 1e6, 1) for key, value in spent.items()}


def _median_run(measured: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(measured, key=lambda run: float(run["rps"]))
    median = dict(ordered[len(ordered) // 2])
    median["rps_runs"] = [run["rps"] for run in measured]
    median["gateway_cpu_us_runs"] = [run["gateway_cpu_us"] for run in measured]
    return median


# -- (i) the network layer ------------------------------------------------------------------


async def network_cost(bench: Bench) -> dict[str, Any]:
    """Cold starts and warm c=32 of hello with FaasNetwork on the host's network (as before
    the network layer) and in a network namespace of its own (egress, the default), the two
    servers side by side and their warm runs alternating, as in (h)."""
    modes = ("host", "egress")
    result: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        servers = {
            mode: await stack.enter_async_context(
                faas_with(
                    bench,
                    {"hello": HELLO},
                    {"FAAS_SANDBOX_DEFAULT_NETWORK": mode, "FAAS_SANDBOX_NETWORK_LAYER": "auto"},
                )
            )
            for mode in modes
        }
        for mode in modes:
            first = await _first_invokes(
                bench, servers[mode].target, f"net-{mode}", HELLO, None, gap_s=COLD_GAP_S
            )
            result[mode] = {
                "cold": _latency_summary(first),
                # Without a layer (not root, or no nft) egress is the host's network.
                "layer_active": "UNSAFE NETWORK" not in servers[mode].log(),
            }
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        for _ in range(bench.plan.function_repeats):
            for mode in modes:
                runs[mode].append(
                    await _load_with_cpu(bench, servers[mode], servers[mode].target, 32)
                )
        for mode in modes:
            result[mode]["c32"] = _median_run(runs[mode])
    return result


# -- (j) frozen warm start ------------------------------------------------------------------

FREEZE_AFTER_MS = 100
SHORT_PAUSE_S = 0.02  # well within the threshold: the worker is never frozen
LONG_PAUSE_S = 0.3  # three times the threshold: frozen, thawed by the next invoke


async def frozen_warm_start(bench: Bench) -> dict[str, Any]:
    """The warm invoke that follows a pause, one at a time on one warm worker: after a short
    pause (never frozen), after a long one with freezing on (frozen, so the invoke first
    thaws it) and after the same long pause with freezing off (what the pause costs on its
    own: caches gone cold, the CPU clocked down). The thaw's cost is the difference of the
    last two."""
    result: dict[str, Any] = {"freeze_after_ms": FREEZE_AFTER_MS}
    variants = (
        ("warm", FREEZE_AFTER_MS, SHORT_PAUSE_S),
        ("frozen", FREEZE_AFTER_MS, LONG_PAUSE_S),
        ("paused_unfrozen", 0, LONG_PAUSE_S),
    )
    for label, freeze_after_ms, pause_s in variants:
        env = {"FAAS_POOL_FREEZE_AFTER_MS": str(freeze_after_ms)}
        async with faas_with(bench, {"hello": HELLO}, env) as server:
            latencies = await _after_pauses(bench, server.target, pause_s)
        result[label] = {**_latency_summary(latencies), "pause_ms": round(pause_s * 1000)}
    return result


async def _after_pauses(bench: Bench, target: Target, pause_s: float) -> list[int]:
    latencies = []
    async with http_client(1) as http:
        for _ in range(3):  # the worker started and settled
            await invoke_once(http, target, "hello")
        for _ in range(bench.plan.pause_samples):
            await asyncio.sleep(pause_s)
            latencies.append(await invoke_once(http, target, "hello"))
    return latencies


# -- (k) a burst at an idle function ---------------------------------------------------------

BURST_CONNECTIONS = 64


async def burst(bench: Bench) -> dict[str, Any]:
    """A function nobody has called yet, then 64 callers at once: the first run's p99 is the
    ramp (every caller that finds all workers busy starts one, and is served by whichever
    worker is free first); a second run on the same function is the steady state."""
    result: dict[str, Any] = {"connections": BURST_CONNECTIONS}
    async with faas_with(bench, {}) as server:
        runs = []
        for attempt in range(bench.plan.function_repeats):
            name = f"burst-{attempt}"
            async with http_client() as http:
                await deploy(http, server.target, name, HELLO)
            ramp = await measure(
                bench.generator,
                server.target,
                name,
                BURST_CONNECTIONS,
                Durations(0.0, bench.plan.durations.measure_s),
            )
            steady = await measure(
                bench.generator,
                server.target,
                name,
                BURST_CONNECTIONS,
                Durations(0.0, bench.plan.durations.measure_s),
            )
            runs.append({"ramp": ramp.as_dict(), "steady": steady.as_dict()})
    ordered = sorted(runs, key=lambda run: float(run["ramp"]["p99_ms"]))
    result.update(ordered[len(ordered) // 2])
    result["ramp_p99_runs"] = [run["ramp"]["p99_ms"] for run in runs]
    return result


# -- (l) a peer: serverless-offline ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Side:
    """One server of a side-by-side comparison: where the load goes, the headers of a run
    (made per run: a signature stays valid for 5 minutes) and the front process whose CPU
    each run reports."""

    url: str
    headers: Callable[[], dict[str, str]]
    pid: int


async def peer_serverless_offline(bench: Bench) -> dict[str, Any]:
    """The same hello behind serverless-offline (an `httpApi` POST route, unsigned) and behind
    faas (the Invoke API, signed, default configuration), both servers side by side and their
    runs alternating, as in (h): c=1 once, c=32 three times in a full run, the median kept."""
    if bench.peer_problem is not None:
        return {"unavailable": bench.peer_problem}
    json_type = {"Content-Type": "application/json"}
    async with faas_with(bench, {"hello": HELLO}) as server:
        target = server.target
        url = invoke_url(target.url, "hello")
        faas_side = _Side(url, lambda: target.signed("POST", url, EVENT, json_type), server.pid)
        offline = await asyncio.to_thread(peer.start, bench.workdir)
        try:
            sides = {"peer": _Side(offline.url + peer.PATH, lambda: dict(json_type), offline.pid)}
            sides["faas"] = faas_side
            runs = await _alternate(bench, sides)
            warm_pythons = len(offline.python_processes())
        finally:
            await asyncio.to_thread(offline.stop)
    result: dict[str, Any] = {
        label: {level: _median_run(measured) for level, measured in levels.items()}
        for label, levels in runs.items()
    }
    result["peer"]["name"] = peer.NAME
    result["peer"]["python"] = await asyncio.to_thread(peer.python_version)
    result["peer"]["warm_python_processes"] = warm_pythons
    return result


async def _alternate(
    bench: Bench, sides: Mapping[str, _Side]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {label: {} for label in sides}
    repeats_c32 = bench.plan.function_repeats
    for connections, repeats in ((1, 1), (DENSITY_CONNECTIONS, repeats_c32)):
        for _ in range(repeats):
            for label, side in sides.items():
                run = await _url_load_with_cpu(bench, side, connections)
                runs[label].setdefault(f"c{connections}", []).append(run)
    return runs


async def _url_load_with_cpu(bench: Bench, side: _Side, connections: int) -> dict[str, Any]:
    """As `_load_with_cpu`, for any URL: a warm-up, then one measurement with the front
    process's CPU time around it (for the peer, node's, without its Python processes)."""
    generator = bench.generator
    warmup_s, measure_s = bench.plan.durations.warmup_s, bench.plan.durations.measure_s
    if warmup_s > 0:
        await generator.run(side.url, connections, warmup_s, side.headers())
    front = psutil.Process(side.pid)
    before = front.cpu_times()
    result = await generator.run(side.url, connections, measure_s, side.headers())
    after = front.cpu_times()
    spent_s = (after.user + after.system) - (before.user + before.system)
    run = result.as_dict()
    run["gateway_cpu_us"] = round(spent_s / max(result.requests, 1) * 1e6, 1)
    return run


# -- (m) async invocations ------------------------------------------------------------------

# How long (m) waits for the queue to drain before it reports what is left.
DRAIN_TIMEOUT_S = 300.0


async def async_rates(bench: Bench) -> dict[str, Any]:
    """Async hello: how fast faas accepts events (202s per second at c=32, on a server with
    dispatch off, so accepting alone is measured), how fast it runs them (the same events,
    the same data directory, a server with dispatch on: events over the time to an empty
    queue) and, on that server, synchronous c=32 hello for comparison."""
    data_dir = bench.workdir / "async-data"
    event_type = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"}
    paused = await asyncio.to_thread(
        start_faas, bench.workdir, {"FAAS_QUEUE_DISPATCH": "false"}, data_dir
    )
    try:
        target = paused.target
        async with http_client() as http:
            await deploy(http, target, "hello", HELLO)
        url = invoke_url(target.url, "hello")
        enqueue = await bench.generator.run(
            url,
            DENSITY_CONNECTIONS,
            bench.plan.durations.measure_s,
            target.signed("POST", url, EVENT, event_type),
        )
        async with http_client() as http:
            accepted = int((await health(http, target))["queue"]["events"])
    finally:
        await asyncio.to_thread(paused.stop)
    server = await asyncio.to_thread(start_faas, bench.workdir, None, data_dir)
    try:
        started = time.monotonic()
        left = accepted
        async with http_client() as http:
            while left and time.monotonic() - started < DRAIN_TIMEOUT_S:
                await asyncio.sleep(0.05)
                left = int((await health(http, server.target))["queue"]["events"])
        drain_s = time.monotonic() - started
        sync = await _load(bench, server.target, "hello", DENSITY_CONNECTIONS)
    finally:
        await asyncio.to_thread(server.stop)
    ran = accepted - left
    return {
        "enqueue": enqueue.as_dict(),
        "accepted": accepted,
        "drained": ran,
        "drain_s": round(drain_s, 2),
        "drain_rps": round(ran / drain_s, 1) if drain_s > 0 else None,
        "sync": sync,
    }


# -- (n) file events ------------------------------------------------------------------------

# The drains run with a short quiet period, so that the wait for a file's completion weighs
# little against what follows it; the latency samples (and a second drain) with the default.
DRAIN_QUIET_PERIOD_MS = 50
DEFAULT_QUIET_PERIOD_MS = FileWatchSettings().quiet_period_ms
FILE_POLL_S = 0.01
# A signed /health costs the gateway some CPU: polled less often while it is under load.
FILE_DRAIN_POLL_S = 0.02
FILE_SAMPLE_GAP_S = 0.05
FILE_WAIT_S = 120.0
FILE_CONTENT = b"x" * 1024
BUCKET = "bench"


async def file_events(bench: Bench) -> dict[str, Any]:
    """Files written into a watched directory, each one an async invocation of hello.
    Drain: N files written (write + close) as fast as one thread can, timed from the first
    write until every event has run (the trigger's delivered count at N and the queue
    empty, from /health), on a server with a short quiet period and on one with the default.
    Latency: one file at a time on the default server, each after the last one's invocation
    finished: from the bench's clock right after close() to the invocation's StartTime in
    its record (both wall clock, the record's in whole milliseconds)."""
    short = {"FAAS_FILEWATCH_QUIET_PERIOD_MS": str(DRAIN_QUIET_PERIOD_MS)}
    result: dict[str, Any] = {"quiet_period_ms": DRAIN_QUIET_PERIOD_MS}
    async with _watched_bucket(bench, "short-quiet", short) as (server, directory):
        result["drain"] = await _file_drain(bench, server, directory, DRAIN_QUIET_PERIOD_MS)
    async with _watched_bucket(bench, "default-quiet", None) as (server, directory):
        result["drain_default_quiet"] = await _file_drain(
            bench, server, directory, DEFAULT_QUIET_PERIOD_MS
        )
        result["latency"] = await _close_to_start(bench, server, directory)
    return result


@contextlib.asynccontextmanager
async def _watched_bucket(
    bench: Bench, label: str, env: Mapping[str, str] | None
) -> AsyncIterator[tuple[ServerProcess, Path]]:
    """A server with hello deployed, a fresh directory as bucket `bench` and a trigger that
    invokes hello for every file created in it."""
    directory = bench.workdir / f"bucket-{label}"
    directory.mkdir()
    async with faas_with(bench, {"hello": HELLO}, env) as server:
        async with http_client() as http:
            bucket = {"Name": BUCKET, "Path": str(directory), "Writable": False}
            await call_api(http, server.target, "POST", "/faas/v1/buckets", bucket)
            trigger = {"FunctionName": "hello", "Bucket": BUCKET}
            await call_api(http, server.target, "POST", "/faas/v1/triggers", trigger)
        yield server, directory


def _write_files(directory: Path, prefix: str, count: int) -> float:
    """Write `count` files one after the other; the seconds it took."""
    started = time.monotonic()
    for index in range(count):
        with (directory / f"{prefix}-{index:05d}.bin").open("wb") as stream:
            stream.write(FILE_CONTENT)
    return time.monotonic() - started


async def _delivered(http: aiohttp.ClientSession, target: Target) -> tuple[int, int]:
    """The trigger's delivered count and the queue's depth (running events included)."""
    report = await health(http, target)
    (trigger,) = report["triggers"]
    return int(trigger["Delivered"]), int(report["queue"]["events"])


async def _event_records(http: aiohttp.ClientSession, target: Target) -> list[dict[str, Any]]:
    """hello's newest async invocation records, up to the endpoint's limit of 1,000."""
    path = "/faas/v1/invocations?function=hello&limit=1000"
    document = await call_api(http, target, "GET", path)
    return [r for r in document["Invocations"] if r["InvocationType"] == "Event"]


def _start_ms(record: Mapping[str, Any]) -> int:
    moment = dt.datetime.strptime(record["StartTime"], "%Y-%m-%dT%H:%M:%S.%f%z")
    return round(moment.timestamp() * 1000)


@dataclass
class _DrainProgress:
    """What one drain saw, poll by poll (seconds from the first write)."""

    written_s: float | None = None
    queued_s: float | None = None
    ran_when_written: int = 0
    ran_when_queued: int = 0
    delivered: int = 0
    waiting: int = 0


async def _file_drain(
    bench: Bench, server: ServerProcess, directory: Path, quiet_period_ms: int
) -> dict[str, Any]:
    """Write the files in a thread while /health is polled: when the writer finished, when
    the watcher had queued every file, when the last event had run."""
    files = bench.plan.file_drops
    gateway = psutil.Process(server.pid)
    seen = _DrainProgress(waiting=files)
    async with http_client() as http:
        already, _ = await _delivered(http, server.target)
        cpu_before = gateway.cpu_times()
        since_ms = time.time_ns() // 1_000_000
        started = time.monotonic()
        writing = asyncio.ensure_future(asyncio.to_thread(_write_files, directory, "drain", files))
        while time.monotonic() - started < FILE_WAIT_S:
            await asyncio.sleep(FILE_DRAIN_POLL_S)
            delivered, seen.waiting = await _delivered(http, server.target)
            seen.delivered = delivered - already
            # (The queue may count a commit the trigger's counter has not yet: never below 0.)
            now_s, ran = time.monotonic() - started, max(0, seen.delivered - seen.waiting)
            if seen.written_s is None and writing.done():
                seen.written_s, seen.ran_when_written = now_s, ran
            if seen.queued_s is None and seen.delivered >= files:
                seen.queued_s, seen.ran_when_queued = now_s, ran
            if seen.written_s is not None and seen.delivered >= files and seen.waiting == 0:
                break
        elapsed_s = time.monotonic() - started
        cpu_after = gateway.cpu_times()
        write_s = await writing
        records = [r for r in await _event_records(http, server.target) if _start_ms(r) >= since_ms]
    gateway_cpu_s = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    tail_s = elapsed_s - seen.queued_s if seen.queued_s is not None else 0.0
    return {
        "files": files,
        "quiet_period_ms": quiet_period_ms,
        "write_s": round(write_s, 3),
        "queued_s": round(seen.queued_s, 3) if seen.queued_s is not None else None,
        "elapsed_s": round(elapsed_s, 3),
        "events_per_s": round(files / elapsed_s, 1),
        # Events run when the writer finished and when every file was queued, and the rate of
        # the rest: the dispatcher working through a backlog, as in (m).
        "ran_when_written": seen.ran_when_written,
        "ran_when_queued": seen.ran_when_queued,
        "after_queued_events_per_s": (
            round((files - seen.ran_when_queued) / tail_s, 1) if tail_s > 0 else None
        ),
        # What the watcher committed, and what ran: each exactly `files` when all is well.
        "delivered": seen.delivered,
        "left_in_queue": seen.waiting,
        "invoked": len(records),
        "distinct_request_ids": len({r["RequestId"] for r in records}),
        "retried": sum(1 for r in records if r["Attempt"] != 1),
        "gateway_cpu_s": round(gateway_cpu_s, 2),
        "gateway_cpu_ms_per_event": round(gateway_cpu_s / files * 1000, 3),
    }


async def _close_to_start(bench: Bench, server: ServerProcess, directory: Path) -> dict[str, Any]:
    """One file at a time; the first warms the path up and is not counted."""
    latencies_us: list[int] = []
    async with http_client(1) as http:
        events = await _event_records(http, server.target)
        last = events[0]["RequestId"] if events else None
        for index in range(bench.plan.file_samples + 1):
            await asyncio.sleep(FILE_SAMPLE_GAP_S)
            with (directory / f"sample-{index:03d}.bin").open("wb") as stream:
                stream.write(FILE_CONTENT)
            closed_us = time.time_ns() // 1000
            record = await _next_event_record(http, server.target, last)
            last = record["RequestId"]
            if index > 0:
                latencies_us.append(_start_ms(record) * 1000 - closed_us)
    ordered = sorted(latencies_us)
    p50_ms = percentile(ordered, 0.50) / 1000
    return {
        "n": len(ordered),
        "quiet_period_ms": DEFAULT_QUIET_PERIOD_MS,
        "p50_ms": round(p50_ms, 1),
        "p99_ms": round(percentile(ordered, 0.99) / 1000, 1),
        "max_ms": round(ordered[-1] / 1000, 1),
        "min_ms": round(ordered[0] / 1000, 1),
        "latency_minus_quiet_p50_ms": round(p50_ms - DEFAULT_QUIET_PERIOD_MS, 1),
    }


async def _next_event_record(
    http: aiohttp.ClientSession, target: Target, last: str | None
) -> dict[str, Any]:
    """Poll hello's newest record until an async invocation other than `last` shows up."""
    path = "/faas/v1/invocations?function=hello&limit=1"
    deadline = time.monotonic() + FILE_WAIT_S
    while time.monotonic() < deadline:
        document = await call_api(http, target, "GET", path)
        for record in document["Invocations"]:
            if record["InvocationType"] == "Event" and record["RequestId"] != last:
                return dict(record)
        await asyncio.sleep(FILE_POLL_S)
    raise RuntimeError("a file dropped into the bucket was not invoked within the wait")


# -- (o) a month of records billed ----------------------------------------------------------

# A month in the past, so that it is complete; its records are older than the default
# retention (30 days), so the server keeps records forever here: its sweeper would otherwise
# start deleting the month (the bill would stay right, from the rollups, but the plain sum it
# is compared with would not, and the deletes would run beside the timed bills).
BILL_MONTH = "2025-01"
KEEP_RECORDS = {"FAAS_STORE_RECORDS_RETENTION_DAYS": "0"}
BILL_SAMPLES = 20
PLAIN_SUM_SAMPLES = 3


async def month_billed(bench: Bench) -> dict[str, Any]:
    """A fresh data directory whose database (made by faas's migrations) holds N invocation
    records of one UTC month over 50 functions, stored through the records ingester's own
    statements, which keep the monthly rollups; then a faas server on it, and the month's
    bill over HTTP (signed) timed BILL_SAMPLES times. For contrast, the same month's totals
    summed over the rows by plain SQL (what a bill without rollups would cost). The bill must
    count every record and agree with that sum, function by function."""
    records = bench.plan.month_records
    # Its own directory, deleted before the next scenario: 5M records are ~1.3 GB.
    with tempfile.TemporaryDirectory(prefix="month-", dir=bench.workdir) as scratch:
        data_dir = Path(scratch) / "data"
        result = await asyncio.to_thread(_fill, data_dir, records)
        server = await asyncio.to_thread(start_faas, bench.workdir, KEEP_RECORDS, data_dir)
        try:
            bill, latencies = await _time_bills(server.target)
            plain, plain_ns = await asyncio.to_thread(_time_plain_sums, database_path(data_dir))
        finally:
            await asyncio.to_thread(server.stop)
    requests = _check_bill(bill, plain, records)
    result["bill_requests"] = requests
    result["functions"] = len(bill["Functions"])
    result["bill"] = _latency_summary(latencies)
    result["plain_sql"] = _latency_summary(plain_ns)
    result["plain_over_bill_p50"] = round(
        result["plain_sql"]["p50_ms"] / max(result["bill"]["p50_ms"], 0.001), 1
    )
    return result


def _fill(data_dir: Path, records: int) -> dict[str, Any]:
    engine = create_database(data_dir)
    try:
        filled = fill_month(engine, BILL_MONTH, records)
    finally:
        engine.dispose()
    size = size_on_disk(database_path(data_dir))
    return {
        "month": BILL_MONTH,
        "records": filled.records,
        "fill_s": round(filled.seconds, 1),
        "fill_rows_per_s": round(filled.records / filled.seconds),
        "ingest_s": round(filled.ingest_seconds, 1),
        "ingest_rows_per_s": round(filled.records / filled.ingest_seconds),
        "db_mb": _mb(size.main_bytes),
        "wal_mb": _mb(size.wal_bytes),
        "bytes_per_record": round(size.main_bytes / filled.records),
    }


async def _time_bills(target: Target) -> tuple[dict[str, Any], list[int]]:
    """The month's bill BILL_SAMPLES times, one after the other; the last bill and each
    request's latency at the client (signing included: every call of `faas bill` signs)."""
    path = f"/faas/v1/billing?month={BILL_MONTH}"
    latencies = []
    bill: dict[str, Any] = {}
    async with http_client(1) as http:
        for _ in range(BILL_SAMPLES):
            started = time.perf_counter_ns()
            bill = await call_api(http, target, "GET", path)
            latencies.append(time.perf_counter_ns() - started)
    return bill, latencies


def _time_plain_sums(path: Path) -> tuple[Usage, list[int]]:
    """The month's totals summed over its rows PLAIN_SUM_SAMPLES times (the file is in the
    page cache by then, as it is on a server that just wrote it)."""
    usage: Usage = {}
    latencies = []
    for _ in range(PLAIN_SUM_SAMPLES):
        usage, seconds = plain_month_totals(path, BILL_MONTH)
        latencies.append(round(seconds * 1e9))
    return usage, latencies


def _check_bill(bill: Mapping[str, Any], plain: Usage, records: int) -> int:
    """The bill's requests summed; RuntimeError unless they are every record, and unless
    each function's line agrees with the sum over its rows."""
    lines = {line["FunctionName"]: line for line in bill["Functions"]}
    requests = sum(int(line["Requests"]) for line in lines.values())
    if requests != records:
        raise RuntimeError(f"the bill counts {requests:,} requests for {records:,} records")
    for name, (count, billed_ms, _) in plain.items():
        line = lines.get(name, {})
        billed = (line.get("Requests"), line.get("BilledDurationMs"))
        if billed != (count, billed_ms):
            raise RuntimeError(f"{name}: billed {billed}, its rows sum to {(count, billed_ms)}")
    if set(lines) != set(plain):
        raise RuntimeError(f"billed functions {sorted(lines)} != recorded {sorted(plain)}")
    return requests


def _mb(size: int) -> float:
    return round(size / MB, 1)


# -- (p) the database under steady load with retention ---------------------------------------

STEADY_CONNECTIONS = 8
DAY_S = 86_400.0


async def retention_steady(bench: Bench) -> dict[str, Any]:
    """Steady c=8 hello for steady_load_s on a server whose records are kept retention_s
    (swept every second), the database's size on disk and its rows sampled meanwhile; then
    the same on a server that keeps records forever (retention 0), for contrast."""
    plan = bench.plan
    with_retention = {
        "FAAS_STORE_RECORDS_RETENTION_DAYS": repr(plan.retention_s / DAY_S),
        "FAAS_STORE_RETENTION_INTERVAL_S": "1",
    }
    return {
        "connections": STEADY_CONNECTIONS,
        "duration_s": plan.steady_load_s,
        "retention_s": plan.retention_s,
        "with_retention": await _steady_run(bench, with_retention),
        "retention_off": await _steady_run(bench, {"FAAS_STORE_RECORDS_RETENTION_DAYS": "0"}),
    }


async def _steady_run(bench: Bench, env: Mapping[str, str]) -> dict[str, Any]:
    plan = bench.plan
    async with faas_with(bench, {"hello": HELLO}, env) as server:
        assert server.data_dir is not None
        url = invoke_url(server.target.url, "hello")
        headers = server.target.signed("POST", url, EVENT, {"Content-Type": "application/json"})
        started = time.monotonic()
        load = asyncio.ensure_future(
            bench.generator.run(url, STEADY_CONNECTIONS, plan.steady_load_s, headers)
        )
        samples = []
        while not load.done():
            samples.append(await _size_sample(server.data_dir, started))
            await asyncio.wait({load}, timeout=plan.size_sample_s)
        done: LoadResult = await load
        samples.append(await _size_sample(server.data_dir, started))
    return {**done.as_dict(), **_growth(samples, plan.steady_load_s), "samples": samples}


async def _size_sample(data_dir: Path, started: float) -> dict[str, Any]:
    path = database_path(data_dir)
    size: SizeOnDisk = await asyncio.to_thread(size_on_disk, path)
    rows, smallest_id = await asyncio.to_thread(row_stats, path)
    segments, journal_bytes = await asyncio.to_thread(journal_size, data_dir)
    return {
        "t_s": round(time.monotonic() - started, 1),
        "rows": rows,
        "min_id": smallest_id,
        "db_mb": _mb(size.main_bytes),
        "wal_mb": _mb(size.wal_bytes),
        "total_mb": _mb(size.total_bytes),
        # Records answered but not yet in the database wait here.
        "journal_segments": segments,
        "journal_mb": _mb(journal_bytes),
    }


def _growth(samples: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    """When the first records went (the smallest id moved), the size then, and the growth
    from the first sample past half the run to the last one (after the load ended)."""
    last = samples[-1]
    middle = next((s for s in samples if s["t_s"] >= duration_s / 2), last)
    first_ids = [s["min_id"] for s in samples if s["rows"]]
    applied = next((s for s in samples if first_ids and s["min_id"] > first_ids[0]), None)
    return {
        "retention_applied_at_s": applied["t_s"] if applied else None,
        "total_mb_when_applied": applied["total_mb"] if applied else None,
        "total_mb_middle": middle["total_mb"],
        "total_mb_end": last["total_mb"],
        "total_mb_peak": max(s["total_mb"] for s in samples),
        "rows_end": last["rows"],
        "journal_segments_max": max(s["journal_segments"] for s in samples),
        "wal_mb_peak": max(s["wal_mb"] for s in samples),
        "growth_last_half": _fraction(middle["total_mb"], last["total_mb"]),
        "db_growth_last_half": _fraction(middle["db_mb"], last["db_mb"]),
        "rows_growth_last_half": _fraction(middle["rows"], last["rows"]),
    }


def _fraction(before: float, after: float) -> float | None:
    return round((after - before) / before, 3) if before else None


# -- (q) function logs ----------------------------------------------------------------------

# A function that logs one line per invocation, the common case the log store is built for.
LOGGER = """\
import logging
logging.getLogger().setLevel(logging.INFO)
def handler(event, context):
    logging.info("handled %s", context.aws_request_id)
    return {"hello": "world"}
"""


# The same line formatted the same way, written to /dev/null: the function's own cost of
# logging, without the platform's (the pipe, the framing, the log store).
DISCARDER = """\
import logging, os
quiet = logging.getLogger("quiet")
quiet.propagate = False
quiet.setLevel(logging.INFO)
sink = logging.StreamHandler(open(os.devnull, "w"))
sink.setFormatter(
    logging.Formatter("[%(levelname)s]\\t%(asctime)s.%(msecs)03dZ\\t%(message)s")
)
quiet.addHandler(sink)
def handler(event, context):
    quiet.info("handled %s", context.aws_request_id)
    return {"hello": "world"}
"""


async def log_cost(bench: Bench) -> dict[str, Any]:
    """Warm throughput of a function that logs a line per invocation (`logger`) against one
    that logs nothing (`hello`) and one that formats the same line but writes it to /dev/null
    (`discard`: the function's own cost of logging, so logger/discard is the platform's),
    on one server, c=1 and c=32, their runs alternating (three each in a full run, the median
    kept), as in (h); then how many invocations' logs were written, and none dropped."""
    functions = {"hello": HELLO, "discard": DISCARDER, "logger": LOGGER}
    async with faas_with(bench, functions) as server:
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in functions}
        for connections, repeats in ((1, 1), (DENSITY_CONNECTIONS, bench.plan.function_repeats)):
            for _ in range(repeats):
                for name in functions:
                    run = await _load_with_cpu(bench, server, server.target, connections, name)
                    runs[name].setdefault(f"c{connections}", []).append(run)
        async with http_client() as http:
            logs = await _function_logs_counts(http, server.target)
    result: dict[str, Any] = {
        name: {level: _median_run(measured) for level, measured in levels.items()}
        for name, levels in runs.items()
    }
    result["logs"] = logs
    return result


async def _function_logs_counts(http: aiohttp.ClientSession, target: Target) -> dict[str, float]:
    """faas_function_logs_total by outcome, from /metrics."""
    url = target.url + "/metrics"
    async with http.get(url, headers=target.signed("GET", url, b"", {})) as response:
        text = await response.text()
    counts: dict[str, float] = {}
    for line in str(text).splitlines():
        if line.startswith("faas_function_logs_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = float(line.rsplit(" ", 1)[1])
    return counts


# -- (r) runtimes side by side ---------------------------------------------------------------

# The same hello, as each runtime's users write it: HELLO for Python (built in, and behind
# awslambdaric in a custom runtime), this for Node.js.
NODE_HELLO = 'exports.handler = async (event) => ({hello: "world"});\n'
CUSTOM_RUNTIME = "provided.al2023"
NODE_RUNTIME = "nodejs20.x"
RUNTIME_LEVELS = (1, DENSITY_CONNECTIONS)
PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class RuntimeFunction:
    """One runtime of (r): what CreateFunction gets for it, and how it runs (for the report)."""

    runtime: str
    code: Code
    handler: str
    how: str

    def config(self) -> dict[str, object]:
        return {"Runtime": self.runtime, "Handler": self.handler}


async def runtimes_side_by_side(bench: Bench) -> dict[str, Any]:
    """The same hello on faas's Python runtime, on provided.al2023 (awslambdaric vendored into
    the zip, behind a shell bootstrap) and on nodejs20.x, on one server: the first invoke of
    N fresh functions of each (as (d) times it, with the Init Duration of their records), then
    warm c=1 and c=32 (each after a warm-up at the same concurrency), the runtimes alternating
    at each level. A runtime this host cannot run is reported as skipped, with the reason."""
    result: dict[str, Any] = {}
    async with faas_with(bench, {}) as server:
        target = server.target
        async with http_client() as http:
            offered = [str(name) for name in (await health(http, target))["runtimes"]]
        functions: dict[str, RuntimeFunction] = {}
        for label, found in (await asyncio.to_thread(_runtime_functions, offered)).items():
            if isinstance(found, str):
                result[label] = {"skipped": found}
            else:
                functions[label] = found
                result[label] = {"runtime": found.runtime, "how": found.how}
        for label, function in functions.items():
            result[label]["cold"] = await _runtime_cold_starts(bench, target, label, function)
        async with http_client() as http:
            for label, function in functions.items():
                await deploy(http, target, f"{label}-warm", function.code, function.config())
        for connections in RUNTIME_LEVELS:
            for label in functions:
                result[label][f"c{connections}"] = await _load_with_cpu(
                    bench, server, target, connections, f"{label}-warm", worker_cpu=True
                )
    return result


def _runtime_functions(offered: list[str]) -> dict[str, RuntimeFunction | str]:
    """Each runtime's hello, or why it is skipped here."""
    builtin = RuntimeFunction(
        RUNTIME, HELLO, "app.handler", f"faas's Python runtime (Python {_version()})"
    )
    return {"python": builtin, "provided": _python_ric(offered), "nodejs": _node(offered)}


def _version() -> str:
    return sys.version.split()[0]


def _python_ric(offered: list[str]) -> RuntimeFunction | str:
    """provided.al2023 whose bootstrap runs awslambdaric, vendored into the zip."""
    if CUSTOM_RUNTIME not in offered:
        return f"this host does not offer {CUSTOM_RUNTIME}"
    try:
        ric = vendored_ric()
    except importlib.metadata.PackageNotFoundError:
        return "awslambdaric is not installed in the bench's interpreter (pip install awslambdaric)"
    interpreter, how = _ric_interpreter()
    files = {"bootstrap": ric_bootstrap(interpreter), "app.py": HELLO, **ric}
    how = f"awslambdaric {importlib.metadata.version('awslambdaric')} on {how}"
    return RuntimeFunction(CUSTOM_RUNTIME, bundle(files), "app.handler", how)


def _ric_interpreter() -> tuple[str, str]:
    """`python3` as the workers find it when its Python version is the bench's (awslambdaric's
    C extension is built for the bench's X.Y), else the bench's own interpreter; and a line
    saying which."""
    host = shutil.which("python3", path=WORKER_PATH)
    version = _probe([host, "-c", "import platform; print(platform.python_version())"])
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    if host is not None and version is not None and version.startswith(f"{ours}."):
        return "python3", f"the workers' python3 ({host}, Python {version})"
    interpreter = serving_interpreter()
    return interpreter, (
        f"the bench's interpreter (Python {_version()}; the workers' python3 is "
        f"{f'Python {version}' if version else 'missing'})"
    )


def _node(offered: list[str]) -> RuntimeFunction | str:
    if NODE_RUNTIME not in offered:
        return f"this host does not offer {NODE_RUNTIME} (no node on the workers' PATH)"
    version = _probe([shutil.which("node", path=WORKER_PATH), "--version"])
    code = bundle({"index.js": NODE_HELLO}, executables=())
    return RuntimeFunction(NODE_RUNTIME, code, "index.handler", f"node {version}")


def _probe(argv: list[str | None]) -> str | None:
    """The first line a short command prints; None when it cannot run."""
    if None in argv:
        return None
    try:
        completed = subprocess.run(
            [str(part) for part in argv],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip().splitlines()[0] if completed.stdout.strip() else None


async def _runtime_cold_starts(
    bench: Bench, target: Target, label: str, function: RuntimeFunction
) -> dict[str, Any]:
    """The client-timed first invokes, and the Init Duration the records hold for them."""
    latencies = await _first_invokes(
        bench, target, label, function.code, function.config(), gap_s=COLD_GAP_S
    )
    inits_ns = []
    async with http_client() as http:
        for name in _cold_names(label, bench.plan.cold_starts):
            path = f"/faas/v1/invocations?function={name}&limit=1"
            records = (await call_api(http, target, "GET", path))["Invocations"]
            init_ms = records[0]["InitDurationMs"] if records else None
            if init_ms is not None:
                inits_ns.append(round(init_ms * 1e6))
    return {"first_invoke": _latency_summary(latencies), "init": _latency_summary(inits_ns)}


SCENARIOS: Mapping[str, Scenario] = {
    "a": baseline,
    "b": warm_invoke,
    "c": cpu_bound,
    "d": cold_start,
    "e": idle_memory,
    "f": many_functions,
    "g": record_cost,
    "h": auth_cost,
    "i": network_cost,
    "j": frozen_warm_start,
    "k": burst,
    "l": peer_serverless_offline,
    "m": async_rates,
    "n": file_events,
    "o": month_billed,
    "p": retention_steady,
    "q": log_cost,
    "r": runtimes_side_by_side,
}
