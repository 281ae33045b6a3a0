"""`make soak`: a long run at a faas server on loopback, mixing synchronous and async Invokes,
file events and functions that log, while workers are SIGKILLed at random; then every answer,
event and file is checked against the records.

    python -m bench.soak [--invocations 1000000] [--concurrency 64] [--functions 20]
                         [--kill-every 3] [--sample-every 5] [--out bench/results]

Writes soak-<time>.json (the samples, kills, totals and checks) and soak.png (a panel per
measure over time) to --out, and prints the summary as markdown. Exit status 1 when a check
fails (an answer without its record, an event lost or run twice).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from bench import machine
from bench.servers import ServerProcess, call_api, deploy_many, http_client, running, scratch_dir
from bench.servers import start_faas as start_server
from bench.soak_plot import render
from bench.soak_report import summary_markdown
from bench.soak_traffic import Mix, Tally, Traffic, drive
from bench.soak_verify import verify, wait_drained
from bench.soak_watch import Killer, Sample, Sampler, watch

RESULTS = Path(__file__).resolve().parent / "results"
BUCKET = "soak"
# Killed async events are tried again after 1 s and 2 s instead of Lambda's 1 and 2 minutes,
# so the run's end does not wait minutes for them; files are complete after 50 ms unchanged.
SERVER_ENV = {
    "FAAS_QUEUE_RETRY_BACKOFF_BASE_S": "1",
    "FAAS_FILEWATCH_QUIET_PERIOD_MS": "50",
}

PLAIN = """\
import os
import sys
def handler(event, context):
    return {"pid": os.getpid()}
"""
# One line per invocation into the function's log stream.
LOGGING = """\
import os
import sys
def handler(event, context):
    print("soak", context.aws_request_id, event.get("hello"))
    return {"pid": os.getpid()}
"""
# The file trigger's function logs the key of every file it is told about.
FILES = """\
import os
import sys
def handler(event, context):
    print("file", event["Records"][0]["s3"]["object"]["key"])
    return {"pid": os.getpid()}
"""


@dataclass(frozen=True, slots=True)
class Plan:
    invocations: int
    concurrency: int
    functions: int
    kill_every_s: float
    sample_every_s: float
    mix: Mix
    drain_timeout_s: float
    out: Path
    seed: int


def function_names(count: int) -> tuple[list[str], str]:
    """The functions Invoked directly (every other one logs), and the last: the file trigger's."""
    names = [f"soak-{index:02d}" for index in range(count)]
    return names[:-1], names[-1]


def source_of(name: str) -> str:
    return LOGGING if int(name.rsplit("-", 1)[1]) % 2 else PLAIN


async def prepare(server: ServerProcess, plan: Plan, bucket_dir: Path) -> tuple[list[str], str]:
    invoked, file_function = function_names(plan.functions)
    target = server.target
    async with http_client() as http:
        for source in (PLAIN, LOGGING):
            names = [name for name in invoked if source_of(name) == source]
            await deploy_many(http, target, names, source)
        await deploy_many(http, target, [file_function], FILES)
        bucket = {"Name": BUCKET, "Path": str(bucket_dir), "Writable": False}
        await call_api(http, target, "POST", "/faas/v1/buckets", bucket)
        trigger = {"FunctionName": file_function, "Bucket": BUCKET}
        await call_api(http, target, "POST", "/faas/v1/triggers", trigger)
    return invoked, file_function


async def soak(plan: Plan, workdir: Path) -> dict[str, Any]:
    bucket_dir = workdir / "bucket"
    bucket_dir.mkdir()
    server = await asyncio.to_thread(start_server, workdir, SERVER_ENV)
    with running(server):
        assert server.data_dir is not None
        invoked, _ = await prepare(server, plan, bucket_dir)
        tally = Tally()
        started = time.monotonic()
        sampler = Sampler(server, tally, started)
        killer = Killer(server, tally, started, plan.seed)
        traffic = Traffic(
            server.target,
            plan.invocations,
            plan.concurrency,
            invoked,
            bucket_dir,
            plan.mix,
            plan.seed,
        )
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            first = await sampler.take(http, 0)
            load = asyncio.ensure_future(drive(traffic, tally))
            samples = await watch(
                sampler,
                killer,
                http,
                load,
                sample_every_s=plan.sample_every_s,
                kill_every_s=plan.kill_every_s,
                on_sample=progress,
            )
            await load
            load_s = time.monotonic() - started
            drain_s = await wait_drained(http, server, len(tally.files), plan.drain_timeout_s)
            last = await sampler.take(http, len(killer.kills))
        verdict = await asyncio.to_thread(verify, server.data_dir, tally, invoked)
    return {
        "load_s": round(load_s, 1),
        "drain_s": round(drain_s, 1),
        "totals": totals(tally),
        "samples": [s.as_dict() for s in [first, *samples]],
        "after_drain": last.as_dict(),
        "kills": [{"t_s": k.t_s, "function": k.function, "pid": k.pid} for k in killer.kills],
        "verdict": verdict.as_dict(),
    }


def progress(sample: Sample) -> None:
    """One line per sample on stderr, so that a long run shows where it is."""
    print(
        f"{sample.t_s:8.1f} s  {sample.finished:>9,} done  {sample.rps:8,.0f}/s  "
        f"p50 {sample.p50_ms:7.2f} ms  p99 {sample.p99_ms:7.2f} ms  RSS {sample.rss_mb} MB  "
        f"fds {sample.fds}  errors {sample.errors}  kills {sample.kills}",
        file=sys.stderr,
        flush=True,
    )


def totals(tally: Tally) -> dict[str, dict[str, int]]:
    """kind -> outcome -> count."""
    by_kind: dict[str, Counter[str]] = {}
    for (kind, outcome), count in sorted(tally.outcomes.items()):
        by_kind.setdefault(kind, Counter())[outcome] += count
    return {kind: dict(outcomes) for kind, outcomes in by_kind.items()}


def write_outputs(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = out / f"soak-{stamp}.json"
    data.write_text(json.dumps(result, indent=1))
    image = out / "soak.png"
    samples: list[dict[str, Any]] = [*result["samples"], result["after_drain"]]
    render(samples, [k["t_s"] for k in result["kills"]], image)
    return data, image


async def run(plan: Plan) -> int:
    described = machine.describe("asyncio streams, HTTP/1.1 keep-alive (bench/soak_traffic.py)")
    with scratch_dir() as workdir:
        result = await soak(plan, workdir)
    result["machine"] = {**described, "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}
    result["plan"] = {
        "invocations": plan.invocations,
        "concurrency": plan.concurrency,
        "functions": plan.functions,
        "kill_every_s": plan.kill_every_s,
        "sample_every_s": plan.sample_every_s,
        "async_percent": plan.mix.async_percent,
        "file_percent": plan.mix.file_percent,
    }
    data, image = write_outputs(result, plan.out)
    print(summary_markdown(result))
    print(f"\nSamples: {data}\nPlot: {image}")
    return 0 if result["verdict"]["ok"] else 1


def parse(argv: list[str] | None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--invocations", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--functions", type=int, default=20, help="at least 2")
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds; 0: no kills")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--async-percent", type=int, default=10)
    parser.add_argument("--file-percent", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="seconds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.functions < 2:
        parser.error("--functions must be at least 2 (one takes the file events)")
    if args.async_percent + args.file_percent > 100:
        parser.error("--async-percent plus --file-percent must be at most 100")
    return Plan(
        invocations=args.invocations,
        concurrency=args.concurrency,
        functions=args.functions,
        kill_every_s=args.kill_every,
        sample_every_s=args.sample_every,
        mix=Mix(args.async_percent, args.file_percent),
        drain_timeout_s=args.drain_timeout,
        out=args.out,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    return uvloop.run(run(parse(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
