"""`faas doctor` and the FaasNetwork=none extension, through the real server and CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.helpers.server import SANDBOX_LAYERS, FaasServer, free_port, run_cli

LAYERS = SANDBOX_LAYERS


def test_doctor_prints_the_servers_layers(server: FaasServer) -> None:
    table = server.cli("doctor")
    assert table.returncode == 0, table.stderr
    assert f"the server at {server.url}" in table.stdout
    for layer in LAYERS:
        assert layer in table.stdout
    listed = json.loads(server.cli("--json", "doctor").stdout)
    assert {row["layer"] for row in listed} == LAYERS
    health = server.health()["sandbox"]
    assert listed == health


def test_doctor_probes_this_host_when_no_server_answers() -> None:
    local = run_cli(f"http://127.0.0.1:{free_port()}", "--json", "doctor")
    assert local.returncode == 0, local.stderr
    assert {row["layer"] for row in json.loads(local.stdout)} == LAYERS


CONNECT = """
import json, os, socket

def handler(event, context):
    try:
        socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__
"""


def test_a_function_deployed_without_network_cannot_connect(
    server: FaasServer, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(CONNECT)
    port = int(server.url.rsplit(":", 1)[1])
    names = {}
    for network in ("host", "none"):
        name = f"net-{network}-{uuid.uuid4().hex[:6]}"
        deployed = server.cli(
            "deploy", str(code), "--name", name, "--handler", "app.handler", "--network", network
        )
        assert deployed.returncode == 0, deployed.stderr
        names[network] = name
    _, reachable = server.invoke(names["host"], {"port": port})
    _, cut_off = server.invoke(names["none"], {"port": port})
    assert reachable == "connected"
    assert cut_off in {"OSError", "ConnectionRefusedError", "TimeoutError"}
    config = json.loads(server.cli("--json", "ls").stdout)
    by_name = {c["FunctionName"]: c for c in config}
    assert by_name[names["none"]]["FaasNetwork"] == "none"
    assert by_name[names["host"]]["FaasNetwork"] == "host"
