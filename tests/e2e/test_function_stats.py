"""`faas stats` and GET /faas/v1/functions/{name}/stats against the records they sum: counts,
errors by type, cold starts, percentiles, and the cost at list prices by hand."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import FaasServer

SOMETIMES = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return "ok"
"""


@pytest.fixture
def server(tmp_path: Path) -> Any:
    server = FaasServer.start(tmp_path / "data")
    try:
        yield server
    finally:
        server.stop()


def test_stats_sum_the_records(server: FaasServer) -> None:
    server.deploy("calc", {"app.py": SOMETIMES}, MemorySize=256)
    for event in [{}, {}, {"fail": True}, {}, {"fail": True}, {}]:
        server.invoke("calc", event)
    with server.urlopen(f"{server.url}/faas/v1/invocations?function=calc&limit=100") as r:
        records = json.load(r)["Invocations"]
    completed = server.cli("--json", "stats", "calc", "--since", "1h")
    assert completed.returncode == 0, completed.stderr
    stats = json.loads(completed.stdout)
    assert stats["Invocations"] == len(records) == 6
    assert stats["Errors"] == 2 and stats["ErrorTypes"] == {"ValueError": 2}
    assert stats["ColdStarts"] == 1
    billed = sum(r["BilledDurationMs"] for r in records)
    assert stats["BilledDurationMs"] == billed
    gb_seconds = Decimal(billed) * 256 / 1024 / 1000
    assert Decimal(stats["GBSeconds"]) == gb_seconds
    cost = 6 * Decimal("0.0000002") + gb_seconds * Decimal("0.0000166667")
    assert Decimal(stats["Cost"]) == cost.quantize(Decimal("0.0000000001"))
    durations = sorted(r["DurationMs"] for r in records)
    assert stats["DurationMs"]["p50"] == durations[2]  # nearest rank: ceil(0.5 x 6) = 3rd
    assert stats["DurationMs"]["p99"] == stats["DurationMs"]["max"] == durations[-1]
    text = server.cli("stats", "calc").stdout
    assert "invocations   6" in text and "ValueError 2" in text and "cold starts   1" in text


def test_stats_refuse_bad_input_in_one_line(server: FaasServer) -> None:
    server.deploy("calc", {"app.py": SOMETIMES})
    bad = server.cli("stats", "calc", "--since", "soon")
    assert bad.returncode == 2 and "--since 'soon'" in bad.stderr
    missing = server.cli("stats", "ghost")
    assert missing.returncode != 0 and "Function not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    idle = json.loads(server.cli("--json", "stats", "calc").stdout)
    assert idle["Invocations"] == 0 and idle["DurationMs"]["p50"] is None
    assert math.isclose(float(idle["Cost"]), 0.0)
