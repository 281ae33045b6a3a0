"""GET /metrics through the real server: the counts agree with the records after a mixed
workload (sync, async, errors, a throttle); scraped with the bearer token or a signed
request, refused otherwise."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.auth import call
from tests.helpers.server import FaasServer

TOKEN = "scrape-me-0123456789"
SOMETIMES = """
def handler(event, context):
    if event.get("fail"):
        raise KeyError("missing")
    return "ok"
"""


def scrape(server: FaasServer, token: str | None = TOKEN) -> dict[str, list[Any]]:
    request = urllib.request.Request(server.url + "/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    families: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = list(family.samples)
    return families


def records(server: FaasServer, name: str) -> list[dict[str, Any]]:
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return list(json.load(r)["Invocations"])


def by_labels(samples: list[Any], suffix: str, *keys: str) -> dict[tuple[str, ...], float]:
    found: dict[tuple[str, ...], float] = defaultdict(float)
    for sample in samples:
        if sample.name.endswith(suffix):
            found[tuple(sample.labels[k] for k in keys)] += sample.value
    return dict(found)


@pytest.fixture
def server(tmp_path: Path) -> Any:
    server = FaasServer.start(
        tmp_path / "data",
        env={"FAAS_AUTH_METRICS_TOKEN": TOKEN, "FAAS_QUEUE_POLL_INTERVAL_S": "0.1"},
    )
    try:
        yield server
    finally:
        server.stop()


def test_metrics_agree_with_the_records(server: FaasServer) -> None:
    server.deploy("mixed", {"app.py": SOMETIMES})
    server.deploy("closed", {"app.py": SOMETIMES})
    client = server.client()
    client.put_function_concurrency(FunctionName="closed", ReservedConcurrentExecutions=0)
    for event in [{}, {}, {"fail": True}, {}, {"fail": True}]:
        server.invoke("mixed", event)
    client.invoke(FunctionName="mixed", InvocationType="Event", Payload=b"{}")
    # One raw call (boto3 would retry a 429 by itself).
    throttled = call(
        server,
        "/2015-03-31/functions/closed/invocations",
        server.admin_key,
        method="POST",
        body=b"{}",
    )
    assert throttled.status == 429
    deadline = time.monotonic() + 20
    while len(records(server, "mixed")) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    found = records(server, "mixed")
    assert len(found) == 6
    metrics = scrape(server)
    invocations = by_labels(metrics["faas_invocations"], "_total", "function", "type")
    assert invocations == {("mixed", "RequestResponse"): 5.0, ("mixed", "Event"): 1.0}
    errors = by_labels(metrics["faas_errors"], "_total", "function", "error_type")
    assert errors == {("mixed", "KeyError"): 2.0}
    cold = by_labels(metrics["faas_cold_starts"], "_total", "function")
    assert cold == {("mixed",): float(sum(1 for r in found if r["InitDurationMs"] is not None))}
    throttles = by_labels(metrics["faas_throttles"], "_total", "function")
    assert throttles == {("closed",): 1.0}
    billed = by_labels(metrics["faas_billed_gb_seconds"], "_total", "function")[("mixed",)]
    expected = sum(Decimal(r["BilledDurationMs"] * r["MemorySize"]) for r in found) / 1_024_000
    assert abs(Decimal(str(billed)) - expected) < Decimal("1e-9")
    counts = by_labels(metrics["faas_duration_seconds"], "_count", "function")
    assert counts == {("mixed",): 6.0}
    assert metrics["faas_concurrent_executions"][0].value == 0
    assert {s.labels["state"] for s in metrics["faas_workers"]} == {"warm", "busy"}
    assert metrics["faas_event_loop_lag_seconds"][0].value >= 0
    logs = by_labels(metrics["faas_function_logs"], "_total", "outcome")
    assert logs[("written",)] >= 6 and logs[("dropped",)] == logs[("failed",)] == 0
    assert "faas_async_queue_events" in metrics and "faas_dead_letters" in metrics


def test_scrapes_need_the_token_or_a_signature(server: FaasServer) -> None:
    for token in (None, "wrong"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(server, token)
        refused.value.close()
        assert refused.value.code == 403
    with server.urlopen(server.url + "/metrics") as response:  # signed by the admin key
        assert b"faas_invocations" in response.read()
