"""`faas bill` and GET /faas/v1/billing against a hand sum over the records (sync and async
alike), with and without the free tier, in every output format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from tests.helpers.server import FaasServer

HELLO = """
def handler(event, context):
    return "ok"
"""
PER_REQUEST = Decimal("0.0000002")
PER_GB_SECOND = Decimal("0.0000166667")


def records(server: FaasServer, name: str) -> list[dict[str, Any]]:
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return list(json.load(r)["Invocations"])


def run_some(server: FaasServer) -> None:
    server.deploy("small", {"app.py": HELLO}, MemorySize=128)
    server.deploy("large", {"app.py": HELLO}, MemorySize=1769)
    for _ in range(3):
        server.invoke("small")
    for _ in range(2):
        server.invoke("large")
    server.client().invoke(FunctionName="large", InvocationType="Event", Payload=b"{}")
    deadline = time.monotonic() + 20
    while len(records(server, "large")) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)


def hand_bill(server: FaasServer, name: str) -> tuple[int, int, Decimal]:
    found = records(server, name)
    billed = sum(r["BilledDurationMs"] for r in found)
    gb_seconds = sum(Decimal(r["BilledDurationMs"] * r["MemorySize"]) for r in found) / 1024 / 1000
    return len(found), billed, gb_seconds


def test_the_bill_is_the_records_summed_and_priced(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data", env={"FAAS_BILLING_FREE_TIER": "false"})
    try:
        run_some(server)
        month = dt.datetime.now(tz=dt.UTC).strftime("%Y-%m")
        completed = server.cli("bill", "--format", "json")
        assert completed.returncode == 0, completed.stderr
        document = json.loads(completed.stdout)
        assert document["Month"] == month and document["Currency"] == "USD"
        lines = {line["FunctionName"]: line for line in document["Functions"]}
        exact = Decimal(0)
        for name in ("small", "large"):
            requests, billed, gb_seconds = hand_bill(server, name)
            line = lines[name]
            assert (line["Requests"], line["BilledDurationMs"]) == (requests, billed)
            assert Decimal(line["GBSeconds"]) == gb_seconds
            cost = requests * PER_REQUEST + gb_seconds * PER_GB_SECOND
            assert Decimal(line["Total"]) == cost.quantize(Decimal("0.0000000001"), ROUND_HALF_UP)
            exact += cost
        assert lines["large"]["Requests"] == 3  # the async one too
        assert Decimal(document["Total"]) == exact.quantize(Decimal("0.01"), ROUND_HALF_UP)
        one = json.loads(server.cli("bill", "--function", "small", "--format", "json").stdout)
        assert [line["FunctionName"] for line in one["Functions"]] == ["small"]
        table = server.cli("bill").stdout
        assert "small" in table and "large" in table and f"total {month}:" in table
        rows = list(csv.DictReader(io.StringIO(server.cli("bill", "--format", "csv").stdout)))
        assert {row["FunctionName"] for row in rows} == {"small", "large"}
        other = json.loads(server.cli("bill", "--month", "2020-01", "--format", "json").stdout)
        assert other["Functions"] == [] and other["Total"] == "0"
        bad = server.cli("bill", "--month", "2026-13")
        assert bad.returncode != 0 and "YYYY-MM" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    finally:
        server.stop()


def test_the_free_tier_covers_a_small_month(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data")
    try:
        run_some(server)
        document = json.loads(server.cli("bill", "--format", "json").stdout)
        assert document["FreeTier"]["Applied"] is True
        assert document["FreeTier"]["Requests"] == 6
        assert Decimal(document["Total"]) == 0
        assert all(Decimal(line["Total"]) == 0 for line in document["Functions"])
    finally:
        server.stop()


def test_a_month_bills_the_same_once_retention_deleted_its_records(tmp_path: Path) -> None:
    env = {
        "FAAS_BILLING_FREE_TIER": "false",
        # About 1.7 s of retention, swept every 0.2 s.
        "FAAS_STORE_RECORDS_RETENTION_DAYS": "0.00002",
        "FAAS_STORE_RETENTION_INTERVAL_S": "0.2",
    }
    server = FaasServer.start(tmp_path / "data", env=env)
    try:
        run_some(server)
        before = json.loads(server.cli("bill", "--format", "json").stdout)
        assert sum(line["Requests"] for line in before["Functions"]) == 6
        deadline = time.monotonic() + 20
        while (
            records(server, "small") or records(server, "large")
        ) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert records(server, "small") == [] and records(server, "large") == []
        after = json.loads(server.cli("bill", "--format", "json").stdout)
        assert after == before
    finally:
        server.stop()
