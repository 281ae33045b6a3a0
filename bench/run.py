"""Run the benchmark: `python -m bench.run [--quick] [--only a,b,...] [--out FILE]`.

Prints a markdown report (machine, tables with ratios to the in-process baseline, targets)
and writes the raw results as JSON: bench/results/latest.json plus a timestamped copy, or
only --out when given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench import machine, peer, report
from bench.handlers import CPU_TARGET_MS, calibrate_cpu_iterations
from bench.loadgen import LoadGenerator, pick_generator
from bench.netns import enter_private_network
from bench.scenarios import FULL, QUICK, SCENARIOS, Bench, Plan
from bench.servers import scratch_dir

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Upper bound per scenario, so a wedged server cannot hang the run.
SCENARIO_TIMEOUT_S = {"full": 300.0, "quick": 90.0}
# (o) first fills a database with 5M records: about a minute on a fast day, a few on a slow one.
LONG_SCENARIO_TIMEOUT_S = {"o": {"full": 900.0}}


def timeout_s(name: str, mode: str) -> float:
    return LONG_SCENARIO_TIMEOUT_S.get(name, {}).get(mode, SCENARIO_TIMEOUT_S[mode])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (the smoke test's)")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. a,b")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of results/")
    parser.add_argument("--generator", choices=("auto", "wrk", "builtin"), default="auto")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    args.scenarios = chosen
    return args


async def run_scenarios(
    bench: Bench, names: list[str], mode: str
) -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {}
    failed: list[str] = []
    for name in names:
        started = time.monotonic()
        print(f"[bench] ({name}) {SCENARIOS[name].__name__} ...", file=sys.stderr, flush=True)
        try:
            results[name] = await asyncio.wait_for(SCENARIOS[name](bench), timeout_s(name, mode))
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(name)
        print(f"[bench] ({name}) {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return results, failed


def write_json(results: dict[str, Any], out: Path | None) -> list[Path]:
    text = json.dumps(results, indent=2) + "\n"
    if out is not None:
        paths = [out]
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        paths = [RESULTS_DIR / "latest.json", RESULTS_DIR / f"{stamp}.json"]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return paths


async def run(args: argparse.Namespace) -> int:
    mode = "quick" if args.quick else "full"
    plan: Plan = QUICK if args.quick else FULL
    generator: LoadGenerator = pick_generator(args.generator)
    # Before the scenarios: the load they put on the machine is not the load it had.
    described = machine.describe(generator.name)
    iterations = calibrate_cpu_iterations()
    started = time.monotonic()
    with scratch_dir() as workdir:
        bench = Bench(plan, generator, workdir, iterations, args.peer_problem)
        scenario_results, failed = await run_scenarios(bench, args.scenarios, mode)
    results: dict[str, Any] = {
        "mode": mode,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - started, 1),
        "machine": {**described, "network": args.network},
        "cpu_handler": {"target_ms": CPU_TARGET_MS, "iterations": iterations},
        **scenario_results,
    }
    results["targets"] = report.evaluate(results)
    print(report.render(results))
    for path in write_json(results, args.out):
        print(f"[bench] wrote {path}", file=sys.stderr)
    if failed:
        print(f"[bench] FAILED scenarios: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # (l)'s peer is installed with npm, which needs the registry: before the run's network.
    wanted = "l" in args.scenarios
    args.peer_problem = peer.prepare(install=not args.quick) if wanted else None
    args.network = enter_private_network()
    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
