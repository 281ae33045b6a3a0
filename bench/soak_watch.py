"""What runs beside the soak's traffic: a sampler (errors, latency, throughput, the server's
memory and descriptors, the journal's backlog, the database's size, the queue) and a killer
that SIGKILLs a worker of a random function every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import psutil

from bench.loadgen import percentile
from bench.records_db import database_path, journal_size, size_on_disk
from bench.servers import ServerProcess, Target, health
from bench.soak_traffic import Tally

MB = 1024 * 1024
RETRY_KILL_S = 0.05
WANTED_SERIES = (
    "faas_records_journal_segments ",
    "faas_records_ingested_total ",
    "faas_event_loop_lag_seconds ",
    "faas_function_logs_total{",
)


@dataclass(frozen=True, slots=True)
class Sample:
    t_s: float
    finished: int
    errors: int
    # Synchronous invokes answered since the last sample, and their latency.
    interval_requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    rss_mb: float
    fds: int
    # Processes under the server (zygotes, spares, workers).
    processes: int
    # Journal segments not yet wholly ingested (faas_records_journal_segments), the journal's
    # files on disk (the segment being written stays there), records ingested since start.
    journal_segments: int
    journal_mb: float
    ingested: int
    db_mb: float
    wal_mb: float
    # Async and file events accepted and not yet run (running ones included).
    queued_events: int
    loop_lag_ms: float
    # Invocations' logs dropped (too many waiting to be written) or refused, so far.
    logs_lost: int
    kills: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Kill:
    t_s: float
    function: str
    pid: int


class Sampler:
    """Takes a Sample on demand; remembers the last one to compute rates."""

    def __init__(self, server: ServerProcess, tally: Tally, started: float) -> None:
        assert server.data_dir is not None
        self._server = server
        self._process = psutil.Process(server.pid)
        self._tally = tally
        self._started = started
        self._db = database_path(server.data_dir)
        self._last_t = started
        self._last_finished = 0

    async def take(self, http: aiohttp.ClientSession, kills: int) -> Sample:
        now = time.monotonic()
        latencies = sorted(self._tally.take_latencies())
        finished = self._tally.finished
        elapsed = max(now - self._last_t, 1e-9)
        rate = (finished - self._last_finished) / elapsed
        self._last_t, self._last_finished = now, finished
        assert self._server.data_dir is not None
        _, journal_bytes = journal_size(self._server.data_dir)
        size = size_on_disk(self._db)
        with self._process.oneshot():
            rss, fds = self._process.memory_info().rss, self._process.num_fds()
        report = await health(http, self._server.target)
        metrics = await scrape(http, self._server.target)
        return Sample(
            t_s=round(now - self._started, 2),
            finished=finished,
            errors=self._tally.errors(),
            interval_requests=len(latencies),
            rps=round(rate, 1),
            p50_ms=round(percentile(latencies, 0.50) / 1e6, 3),
            p99_ms=round(percentile(latencies, 0.99) / 1e6, 3),
            rss_mb=round(rss / MB, 1),
            fds=fds,
            processes=len(self._server.worker_processes()),
            journal_segments=int(metrics.get("faas_records_journal_segments", 0)),
            journal_mb=round(journal_bytes / MB, 2),
            ingested=int(metrics.get("faas_records_ingested_total", 0)),
            db_mb=round(size.main_bytes / MB, 2),
            wal_mb=round(size.wal_bytes / MB, 2),
            queued_events=int(report.get("queue", {}).get("events", 0)),
            loop_lag_ms=round(metrics.get("faas_event_loop_lag_seconds", 0.0) * 1000, 1),
            logs_lost=int(
                metrics.get('faas_function_logs_total{outcome="dropped"}', 0)
                + metrics.get('faas_function_logs_total{outcome="failed"}', 0)
            ),
            kills=kills,
        )


async def scrape(http: aiohttp.ClientSession, target: Target) -> dict[str, float]:
    """/metrics' unlabelled samples and the function logs' outcomes, by series."""
    url = target.url + "/metrics"
    async with http.get(url, headers=target.signed("GET", url, b"")) as response:
        text = await response.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(WANTED_SERIES):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


class Killer:
    """SIGKILLs the newest worker a random function answered from, once it is sure the pid is
    still one of the server's descendants (a pid is never aimed at anything else)."""

    def __init__(self, server: ServerProcess, tally: Tally, started: float, seed: int) -> None:
        self._server = server
        self._tally = tally
        self._started = started
        self._rng = random.Random(seed)
        self.kills: list[Kill] = []

    def kill_one(self) -> Kill | None:
        candidates = sorted(self._tally.last_pid.items())
        if not candidates:
            return None
        function, pid = self._rng.choice(candidates)
        # Whatever it answers next comes from another worker: aim there next time.
        del self._tally.last_pid[function]
        if pid not in {p.pid for p in self._server.worker_processes()}:
            return None  # already gone (reaped idle, or killed before)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            kill = Kill(round(time.monotonic() - self._started, 2), function, pid)
            self.kills.append(kill)
            return kill
        return None


async def watch(
    sampler: Sampler,
    killer: Killer,
    http: aiohttp.ClientSession,
    traffic: asyncio.Future[None],
    *,
    sample_every_s: float,
    kill_every_s: float,
    on_sample: Callable[[Sample], None] = lambda _: None,
) -> list[Sample]:
    """Sample and kill on their own clocks until `traffic` is done; then one last sample."""
    samples: list[Sample] = []
    next_sample = time.monotonic() + sample_every_s
    next_kill = time.monotonic() + kill_every_s if kill_every_s > 0 else float("inf")
    while not traffic.done():
        wake = min(next_sample, next_kill)
        await asyncio.wait({traffic}, timeout=max(0.0, wake - time.monotonic()))
        now = time.monotonic()
        if now >= next_kill:
            # No worker to aim at yet (none answered, or the last one is gone): soon again.
            killed = killer.kill_one()
            next_kill = now + (kill_every_s if killed else min(kill_every_s, RETRY_KILL_S))
        if now >= next_sample or traffic.done():
            samples.append(await sampler.take(http, len(killer.kills)))
            on_sample(samples[-1])
            next_sample = now + sample_every_s
    return samples
