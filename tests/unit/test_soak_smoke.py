"""`python -m bench.soak` with tiny numbers: the whole soak path (mixed traffic, kills, samples,
the drain, the checks against the records, the JSON and the PNG) runs and its checks pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVOCATIONS = 600


@pytest.mark.timeout(150)
def test_tiny_soak_answers_everything_and_loses_no_event(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bench.soak", "--invocations", str(INVOCATIONS)]
    argv += ["--functions", "2", "--concurrency", "8", "--kill-every", "0.1"]
    argv += ["--sample-every", "0.2", "--drain-timeout", "60", "--out", str(tmp_path)]
    completed = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=140, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    (document,) = tmp_path.glob("soak-*.json")
    result = json.loads(document.read_text())
    totals = result["totals"]
    assert sum(sum(outcomes.values()) for outcomes in totals.values()) == INVOCATIONS
    assert set(totals) == {"sync", "async", "file"}
    # Killed workers cost at most a clean Lambda error: never a lost connection or a 5xx.
    outcomes = {outcome for kind in totals.values() for outcome in kind}
    assert not {o for o in outcomes if o.startswith(("client:", "HTTP 5"))}, outcomes
    assert result["kills"], "no worker was killed"
    verdict = result["verdict"]
    assert verdict["ok"], verdict
    assert verdict["sync_recorded"] == verdict["sync_answered"] > 0
    assert verdict["async_events"]["succeeded"] > 0
    assert verdict["file_events"]["succeeded"] > 0
    assert len(result["samples"]) >= 2
    assert result["after_drain"]["queued_events"] == 0
    assert (tmp_path / "soak.png").read_bytes().startswith(b"\x89PNG")
    assert "| sync answers (HTTP 200) with a record |" in completed.stdout
