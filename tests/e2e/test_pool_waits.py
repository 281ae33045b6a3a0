"""More callers than the memory budget has workers for: they wait for a worker of their
function to come free instead of getting 429s, through the real server and boto3."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import FaasServer

SLOW = (
    "import os, time\ndef handler(event, context):\n    time.sleep(0.3)\n    return os.getpid()\n"
)
WORKER_MB = 1024


@pytest.fixture
def tight_server(tmp_path: Path) -> Iterator[FaasServer]:
    """Room for two 1024 MB workers only."""
    running = FaasServer.start(
        tmp_path / "data",
        env={"FAAS_POOL_MEMORY_BUDGET_MB": str(2 * WORKER_MB), "FAAS_POOL_SPARE_WORKERS": "0"},
    )
    try:
        yield running
    finally:
        running.stop()


def test_callers_beyond_the_budget_wait_for_a_worker_instead_of_a_429(
    tight_server: FaasServer,
) -> None:
    tight_server.deploy("slow", {"app.py": SLOW}, MemorySize=WORKER_MB, Timeout=10)
    client = tight_server.client()

    def call(_: int) -> tuple[int, str, int]:
        response = client.invoke(FunctionName="slow", Payload=b"{}")
        return (
            response["StatusCode"],
            response.get("FunctionError", ""),
            json.loads(response["Payload"].read()),
        )

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(call, range(6)))
    assert [status for status, _, _ in answers] == [200] * 6
    assert all(not error for _, error, _ in answers), answers
    assert len({pid for _, _, pid in answers}) <= 2  # the budget's two workers served all six
    assert tight_server.health()["warm_workers"] <= 2
