"""Each function runs as a uid of its own (root hosts): never shared by two functions, even
when both start at the same moment, and the same after a restart."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.server import FaasServer

WHOAMI = "import os\n\ndef handler(event, context):\n    return {'uid': os.getuid()}\n"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a uid per function needs root")


def uids_of(server: FaasServer, names: list[str]) -> dict[str, int]:
    with ThreadPoolExecutor(len(names)) as threads:
        answers = threads.map(lambda name: server.invoke(name)[1]["uid"], names)
        return dict(zip(names, answers, strict=True))


def test_functions_started_together_run_as_distinct_uids_that_survive_a_restart(
    tmp_path: Path,
) -> None:
    names = [f"who-{i}" for i in range(6)]
    server = FaasServer.start(tmp_path / "data")
    try:
        client = server.client()
        with ThreadPoolExecutor(len(names)) as threads:  # created at once, too
            list(threads.map(lambda name: server.deploy(name, {"app.py": WHOAMI}), names))
        first = uids_of(server, names)
        assert "per-function uid" in {
            layer["layer"] for layer in server.health()["sandbox"] if layer["active"]
        }
        client.update_function_configuration(FunctionName="who-0", MemorySize=256)
        assert server.invoke("who-0")[1]["uid"] == first["who-0"]
    finally:
        server.stop()
    assert len(set(first.values())) == len(names)
    assert all(uid >= 200_000 for uid in first.values())

    restarted = FaasServer.start(tmp_path / "data")
    try:
        assert uids_of(restarted, list(reversed(names))) == first
    finally:
        restarted.stop()
