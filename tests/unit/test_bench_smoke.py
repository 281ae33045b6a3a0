"""`python -m bench.run --quick` runs end to end and writes every scenario's numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

# One numeric leaf per scenario that only a real measurement can fill in.
EXPECTED_NUMBERS: dict[str, list[tuple[str, ...]]] = {
    "a": [("hello", "c1", "p50_ms"), ("hello", "c32", "rps"), ("cpu_c8", "rps")],
    "b": [("hello", "c1", "p99_ms"), ("hello", "c32", "rps"), ("hello", "c64", "rps")],
    "c": [("cpu_c8", "rps")],
    "d": [("hello", "without_snapshot", "cold", "p50_ms"), ("heavy_import_ms",)],
    "e": [("uss_mb",), ("pss_mb",), ("workers_per_gb",)],
    "f": [("1", "rps"), ("50", "rps")],
    "g": [("records_on", "rps"), ("records_off", "rps")],
    "h": [("signed", "c32", "rps"), ("auth_off", "c1", "p50_ms")],
    "i": [("host", "cold", "p50_ms"), ("egress", "cold", "p50_ms"), ("egress", "c32", "rps")],
    "j": [("warm", "p50_ms"), ("frozen", "p99_ms"), ("paused_unfrozen", "p50_ms")],
    "k": [("ramp", "p99_ms"), ("steady", "rps")],
    "n": [("drain", "events_per_s"), ("latency", "p50_ms")],
    "o": [("bill", "p50_ms"), ("plain_sql", "p50_ms"), ("bill_requests",)],
    "p": [("with_retention", "rows_end"), ("retention_off", "total_mb_end")],
    "r": [("python", "cold", "first_invoke", "p50_ms"), ("python", "c32", "rps")],
}
# (r)'s other runtimes need awslambdaric (the test extras) and node: each is measured, or
# skipped with the reason when this host cannot run it.
OPTIONAL_RUNTIMES = {
    "provided": [("cold", "init", "p50_ms"), ("c1", "rps"), ("c32", "runtime_cpu_us")],
    "nodejs": [("cold", "first_invoke", "p90_ms"), ("c32", "rps")],
}


def leaf(document: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


@pytest.mark.timeout(320)
def test_quick_bench_measures_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads(out.read_text())
    for scenario, paths in EXPECTED_NUMBERS.items():
        assert scenario in results, f"scenario ({scenario}) missing"
        for path in paths:
            value = leaf(results[scenario], path)
            assert isinstance(value, int | float) and value > 0, (scenario, path, value)
    assert results["d"]["hello"]["with_snapshot"]["cold"]["p50_ms"] > 0
    for runtime, paths in OPTIONAL_RUNTIMES.items():
        measured = results["r"][runtime]
        if "skipped" in measured:
            assert measured["skipped"], runtime
            continue
        for path in paths:
            value = leaf(measured, path)
            assert isinstance(value, int | float) and value > 0, ("r", runtime, path, value)
    assert "| target | measured | verdict |" in completed.stdout
