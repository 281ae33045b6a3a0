"""Load generators: wrk when installed, else a built-in asyncio client.

Both keep `connections` keep-alive connections, each sending the Invoke POST sequentially for
a fixed duration, and report throughput and exact p50/p99 latency. One run uses one generator
for the baseline and faas alike, so their ratio is fair.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

from bench.servers import EVENT, Target, invoke_url

WRK_SLACK_S = 30.0

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = '%(body)s'
%(headers)s

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_us": %%d, "errors": %%d, '
    .. '"p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, errors,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    connections: int
    duration_s: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class LoadGenerator(Protocol):
    name: str

    async def run(
        self, url: str, connections: int, duration_s: float, headers: Mapping[str, str]
    ) -> LoadResult: ...


def percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(
    latencies_ns: list[int], errors: int, connections: int, elapsed_s: float
) -> LoadResult:
    ordered = sorted(latencies_ns)
    return LoadResult(
        connections=connections,
        duration_s=round(elapsed_s, 3),
        requests=len(ordered),
        errors=errors,
        rps=round(len(ordered) / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        p50_ms=round(percentile(ordered, 0.50) / 1e6, 3),
        p99_ms=round(percentile(ordered, 0.99) / 1e6, 3),
    )


class BuiltinClient:
    """aiohttp ClientSession, keep-alive; latency per request with perf_counter_ns."""

    name = "built-in asyncio/aiohttp client"

    async def run(
        self, url: str, connections: int, duration_s: float, headers: Mapping[str, str]
    ) -> LoadResult:
        latencies: list[int] = []
        errors = [0]
        connector = aiohttp.TCPConnector(limit=connections, force_close=False)
        timeout = aiohttp.ClientTimeout(total=duration_s + 30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            start = time.perf_counter()
            deadline = start + duration_s
            loops = [
                self._loop(
                    http, url, headers, deadline=deadline, latencies=latencies, errors=errors
                )
                for _ in range(connections)
            ]
            await asyncio.gather(*loops)
            elapsed = time.perf_counter() - start
        return summarize(latencies, errors[0], connections, elapsed)

    @staticmethod
    async def _loop(
        http: aiohttp.ClientSession,
        url: str,
        headers: Mapping[str, str],
        *,
        deadline: float,
        latencies: list[int],
        errors: list[int],
    ) -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter_ns()
            async with http.post(url, data=EVENT, headers=headers) as response:
                await response.read()
                ok = response.status == 200
            if ok:
                latencies.append(time.perf_counter_ns() - start)
            else:
                errors[0] += 1


class WrkClient:
    """wrk -t1 with a Lua script for the POST; its done() prints exact p50/p99."""

    name = "wrk -t1 (Lua POST script)"

    def __init__(self, wrk_path: str) -> None:
        self._wrk = wrk_path

    async def run(
        self, url: str, connections: int, duration_s: float, headers: Mapping[str, str]
    ) -> LoadResult:
        if duration_s < 1:
            # wrk counts whole seconds; sub-second runs are only the quick mode's warm-ups.
            return await BuiltinClient().run(url, connections, duration_s, headers)
        return await asyncio.to_thread(self._run_blocking, url, connections, duration_s, headers)

    def _run_blocking(
        self, url: str, connections: int, duration_s: float, headers: Mapping[str, str]
    ) -> LoadResult:
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        with tempfile.TemporaryDirectory(prefix="faas-bench-wrk-") as folder:
            script = Path(folder) / "post.lua"
            script.write_text(WRK_SCRIPT % {"body": EVENT.decode(), "headers": lines})
            argv = [self._wrk, "-t1", f"-c{connections}", f"-d{round(duration_s)}s"]
            argv += ["--timeout", "10s", "-s", str(script), url]
            completed = subprocess.run(
                argv, capture_output=True, text=True, timeout=duration_s + WRK_SLACK_S, check=True
            )
        return _parse_wrk(completed.stdout, connections)


def _parse_wrk(output: str, connections: int) -> LoadResult:
    line = next((x for x in output.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    elapsed = data["duration_us"] / 1e6
    return LoadResult(
        connections=connections,
        duration_s=round(elapsed, 3),
        requests=data["requests"],
        errors=data["errors"],
        rps=round(data["requests"] / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=round(data["p50_us"] / 1e3, 3),
        p99_ms=round(data["p99_us"] / 1e3, 3),
    )


def pick_generator(preference: str) -> LoadGenerator:
    """'auto' uses wrk when it is on PATH; 'wrk' insists on it; 'builtin' never uses it."""
    wrk = shutil.which("wrk")
    if preference == "wrk" and wrk is None:
        raise RuntimeError("--generator wrk: wrk is not installed")
    if preference != "builtin" and wrk is not None:
        return WrkClient(wrk)
    return BuiltinClient()


async def measure(
    generator: LoadGenerator, target: Target, name: str, connections: int, durations: Durations
) -> LoadResult:
    """Warm up (workers started, connections open), then measure; each run signs its request
    once (as a client replaying a signed request within its 5 minutes)."""
    url = invoke_url(target.url, name)

    def signed() -> dict[str, str]:
        return target.signed("POST", url, EVENT, {"Content-Type": "application/json"})

    if durations.warmup_s > 0:
        await generator.run(url, connections, durations.warmup_s, signed())
    return await generator.run(url, connections, durations.measure_s, signed())


@dataclass(frozen=True, slots=True)
class Durations:
    warmup_s: float
    measure_s: float
