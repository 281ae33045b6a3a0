"""A cold start's init is billed with its invocation, as on Lambda since August 2025: in the
REPORT line and the record; billing.bill_init = false bills the handler's time only."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from tests.helpers.server import FaasServer

SLOW_INIT = """
import time

time.sleep(0.3)  # the init phase: imports, connections, ...

def handler(event, context):
    return "ok"
"""


def billed_and_init(server: FaasServer) -> tuple[int, float]:
    response, _ = server.invoke("slow", {}, LogType="Tail")
    report = base64.b64decode(response["LogResult"]).decode()
    billed = re.search(r"Billed Duration: (\d+) ms", report)
    init = re.search(r"Init Duration: ([\d.]+) ms", report)
    assert billed is not None and init is not None, report
    return int(billed.group(1)), float(init.group(1))


@pytest.mark.parametrize("bill_init", [True, False])
def test_a_cold_starts_init_is_billed_unless_turned_off(tmp_path: Path, bill_init: bool) -> None:
    env = {} if bill_init else {"FAAS_BILLING_BILL_INIT": "false"}
    server = FaasServer.start(tmp_path / "data", env=env)
    try:
        server.deploy("slow", {"app.py": SLOW_INIT})
        billed, init_ms = billed_and_init(server)
        assert init_ms >= 300
        if bill_init:
            assert billed >= init_ms
        else:
            assert billed < init_ms
        with server.urlopen(f"{server.url}/faas/v1/invocations?function=slow") as response:
            (record,) = json.load(response)["Invocations"]
        assert record["BilledDurationMs"] == billed
    finally:
        server.stop()
