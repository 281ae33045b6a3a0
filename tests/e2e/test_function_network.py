"""FaasNetwork through the real server, run inside a network namespace of the test's own that
plays the server's host (its loopback has a "database" and a "cache" listening), joined to
another that plays a machine beyond it (198.18.0.2: a TCP service and a DNS server). The
server's network layer (veth pairs, nftables, NAT, the DNS forwarder) lives in the test's
namespaces only, and goes with them."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from faas.pool.network import instance_name, network_supported
from tests.e2e.test_custom_runtimes import LOOP, SHELL_BOOTSTRAP
from tests.e2e.test_execution_roles import (
    CALLEE,
    INVOKE_ALLOWED_ONLY,
    boto3_zip,
    call,
    create_role,
    deploy_caller,
)
from tests.helpers.netns import HOST_ADDRESS, REMOTE_ADDRESS, IsolatedNetwork, inside
from tests.helpers.netns import isolated_network as make_isolated_network
from tests.helpers.server import FaasServer

PROBE = """
import os, socket

def handler(event, context):
    seen = {"pids": sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit())}
    for label, (address, port) in event.get("connect", {}).items():
        try:
            connection = socket.create_connection((address, port), timeout=3)
        except OSError as error:
            seen[label] = f"refused: {type(error).__name__}"
            continue
        with connection:
            try:  # the test's listeners greet; the platform's HTTP port waits for a request
                connection.settimeout(1)
                seen[label] = connection.recv(200).decode() or "connected"
            except OSError:
                seen[label] = "connected"
    for name in event.get("resolve", []):
        try:
            seen[name] = socket.gethostbyname(name)
        except OSError as error:
            seen[name] = f"unresolved: {type(error).__name__}"
    return seen
"""
ZONE = "beyond.test"
DATABASE_PORT, CACHE_PORT, REMOTE_PORT, OTHER_REMOTE_PORT = 5432, 6379, 7001, 7002


@dataclass
class NetworkedServer:
    server: FaasServer
    network: IsolatedNetwork
    gateway: str

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])

    def deploy_probe(self, network: str, *allow: str) -> str:
        name = f"net-{network}-{uuid.uuid4().hex[:6]}"
        code = self.server.data_dir.parent / name
        code.mkdir()
        (code / "app.py").write_text(PROBE)
        options = ["--network", network] + [f"--allow={entry}" for entry in allow]
        deployed = self.server.cli(
            "deploy",
            str(code),
            "--name",
            name,
            "--handler",
            "app.handler",
            "--timeout",
            "30",
            *options,
        )
        assert deployed.returncode == 0, deployed.stderr
        return name

    def probe(self, name: str, **event: Any) -> dict[str, Any]:
        response, seen = self.server.invoke(name, event)
        assert "FunctionError" not in response, seen
        return dict(seen)

    def everything(self) -> dict[str, list[object]]:
        """Every destination of interest: the host's loopback, its address, the platform's
        ports (its own and the gateway's), and the machine beyond."""
        return {
            "host database": ["127.0.0.1", DATABASE_PORT],
            "host cache": [HOST_ADDRESS, CACHE_PORT],
            "gateway cache": [self.gateway, CACHE_PORT],
            "platform": ["127.0.0.1", self.port],
            "platform on host address": [HOST_ADDRESS, self.port],
            "platform on gateway": [self.gateway, self.port],
            "remote": [REMOTE_ADDRESS, REMOTE_PORT],
            "other remote": [REMOTE_ADDRESS, OTHER_REMOTE_PORT],
        }

    def isolation(self, name: str) -> str:
        records = json.loads(self.server.cli("records", name, "--json").stdout)
        return str(records["Invocations"][0]["Isolation"])


@pytest.fixture
def isolated_network() -> Iterator[IsolatedNetwork]:
    why = network_supported()
    if why:
        pytest.skip(why)
    with make_isolated_network() as network:
        network.listen(network.host, "127.0.0.1", DATABASE_PORT, "host-database")
        network.listen(network.host, "0.0.0.0", CACHE_PORT, "host-cache")
        network.listen(network.remote, REMOTE_ADDRESS, REMOTE_PORT, "remote-service")
        network.listen(network.remote, REMOTE_ADDRESS, OTHER_REMOTE_PORT, "other-remote-service")
        network.serve_dns(network.remote, REMOTE_ADDRESS, ZONE, REMOTE_ADDRESS)
        yield network


def start_server(data_dir: Path, **env: str) -> FaasServer:
    return FaasServer.start(
        data_dir,
        env={
            "FAAS_SANDBOX_NETWORK_LAYER": "auto",
            "FAAS_SANDBOX_DNS_SERVERS": REMOTE_ADDRESS,
            "FAAS_SANDBOX_PREPARED_NET_SLOTS": "1",
            **env,
        },
    )


@pytest.fixture
def networked(isolated_network: IsolatedNetwork, tmp_path: Path) -> Iterator[NetworkedServer]:
    with inside(isolated_network.host):
        server = start_server(tmp_path / "data")
        try:
            gateway = server.health()["network"]["gateway"]
            assert gateway, server.health()
            yield NetworkedServer(server, isolated_network, str(gateway))
        finally:
            server.stop()


def test_by_default_a_function_reaches_beyond_the_host_and_nothing_of_it(
    networked: NetworkedServer,
) -> None:
    name = networked.deploy_probe("default")
    seen = networked.probe(name, connect=networked.everything(), resolve=[f"db.{ZONE}"])

    assert seen["remote"] == "remote-service 198.18.0.1"  # through NAT: the host's address
    assert seen["other remote"] == "other-remote-service 198.18.0.1"
    # Its own processes only: not the server's, not pid 1.
    assert seen["pids"] and networked.server.process.pid not in seen["pids"]
    assert 1 not in seen["pids"]
    assert seen[f"db.{ZONE}"] == REMOTE_ADDRESS  # through the platform's DNS forwarder
    for blocked in (
        "host database",
        "host cache",
        "gateway cache",
        "platform",
        "platform on host address",
        "platform on gateway",
    ):
        assert seen[blocked].startswith("refused"), (blocked, seen)
    assert "netns-egress" in networked.isolation(name)
    health = networked.server.health()
    assert health["network"]["default"] == "egress"
    assert health["network"]["host_functions"] == []
    network_layer = {row["layer"]: row for row in health["sandbox"]}["network"]
    assert network_layer["active"] is True


def test_a_custom_runtime_serves_its_runtime_api_in_its_own_namespace(
    networked: NetworkedServer,
) -> None:
    code = networked.server.data_dir.parent / "custom-egress"
    code.mkdir()
    (code / "bootstrap").write_text(SHELL_BOOTSTRAP)
    (code / "bootstrap").chmod(0o755)
    (code / "loop.py").write_text(LOOP)
    name = f"net-custom-{uuid.uuid4().hex[:6]}"
    deployed = networked.server.cli(
        "deploy", str(code), "--name", name, "--runtime", "provided.al2023", "--handler", "h"
    )
    assert deployed.returncode == 0, deployed.stderr
    response, answer = networked.server.invoke(name, {"egress": True})
    assert "FunctionError" not in response, answer
    # As on Lambda: the worker's own loopback, the same port in every worker.
    assert answer["env"]["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert "netns-egress" in networked.isolation(name)


def test_an_allowlist_reaches_exactly_its_destinations(networked: NetworkedServer) -> None:
    name = networked.deploy_probe("allowlist", f"{REMOTE_ADDRESS}/32:{REMOTE_PORT}")
    seen = networked.probe(name, connect=networked.everything(), resolve=[f"db.{ZONE}"])

    assert seen["remote"] == "remote-service 198.18.0.1"
    for blocked in set(seen) - {"remote", f"db.{ZONE}", "pids"}:
        assert seen[blocked].startswith("refused"), (blocked, seen)
    assert seen[f"db.{ZONE}"] == REMOTE_ADDRESS  # names still resolve
    assert "netns-allowlist" in networked.isolation(name)
    # The list is the function's configuration, shown as given.
    got = json.loads(networked.server.cli("--json", "get", name).stdout)
    assert got["Configuration"]["FaasNetworkAllow"] == [f"{REMOTE_ADDRESS}/32:{REMOTE_PORT}"]
    shown = networked.server.cli("get", name).stdout
    assert f"allowlist: {REMOTE_ADDRESS}/32:{REMOTE_PORT}" in shown


def test_snapshot_clones_share_their_templates_namespace(networked: NetworkedServer) -> None:
    """Clones are forked from a template that joined its namespace during init: several at
    once (a burst) all reach beyond the host and nothing of it."""
    server = networked.server
    server.deploy(
        "snapped", {"app.py": PROBE}, SnapStart={"ApplyOn": "PublishedVersions"}, Timeout=30
    )
    event = {
        "connect": {
            "remote": [REMOTE_ADDRESS, REMOTE_PORT],
            "host database": [HOST_ADDRESS, CACHE_PORT],
        }
    }
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: networked.probe("snapped", **event), range(8)))
    for seen in answers:
        assert seen["remote"] == "remote-service 198.18.0.1", seen
        assert seen["host database"].startswith("refused"), seen
    assert "netns-egress" in networked.isolation("snapped")


def test_an_allowlist_needs_destinations_and_refuses_nonsense(networked: NetworkedServer) -> None:
    code = networked.server.data_dir.parent / "refused"
    code.mkdir()
    (code / "app.py").write_text(PROBE)
    for options, message in (
        (["--network", "allowlist"], "FaasNetwork allowlist needs FaasNetworkAllow"),
        (["--network", "allowlist", "--allow", "10.0.0.300/32"], "not an IPv4 address"),
        (["--network", "allowlist", "--allow", "10.0.0.0/8:70000"], "between 1 and 65535"),
    ):
        deployed = networked.server.cli(
            "deploy", str(code), "--name", "refused", "--handler", "app.handler", *options
        )
        assert deployed.returncode != 0
        assert message in deployed.stderr, deployed.stderr
        assert len(deployed.stderr.strip().splitlines()) == 1, deployed.stderr


def test_none_reaches_nothing(networked: NetworkedServer) -> None:
    name = networked.deploy_probe("none")
    seen = networked.probe(name, connect=networked.everything(), resolve=[f"db.{ZONE}"])
    seen.pop("pids")
    assert all(value.startswith(("refused", "unresolved")) for value in seen.values()), seen


def test_host_behaves_as_before_and_is_reported_unsafe(networked: NetworkedServer) -> None:
    name = networked.deploy_probe("host")
    seen = networked.probe(name, connect=networked.everything())

    assert seen["host database"] == "host-database 127.0.0.1"
    assert seen["platform"] == "connected"
    assert seen["remote"].startswith("remote-service")
    assert "net-host-unsafe" in networked.isolation(name)
    assert networked.server.health()["network"]["host_functions"] == [name]
    doctor = networked.server.cli("doctor")
    assert "warning: on the host's network (unsafe" in doctor.stdout
    assert name in doctor.stdout


def test_a_function_with_a_role_reaches_the_api_through_its_endpoint_only(
    networked: NetworkedServer,
) -> None:
    server = networked.server
    for callee in ("allowed", "forbidden"):
        server.deploy(callee, {"app.py": CALLEE})
    role_arn = create_role(server, "invoker", INVOKE_ALLOWED_ONLY)
    deploy_caller(server, boto3_zip(CALLER_WITH_PROBE), role_arn)

    seen = call(server)

    assert seen["endpoint"] == f"http://{networked.gateway}:{networked.port}"
    assert seen["allowed"] == {"callee got": {"from": "caller"}}
    assert seen["forbidden"] == "AccessDeniedException"
    assert seen["list"] == "AccessDeniedException"
    # Its slot opens the API's port on the gateway, and nothing else of the host.
    assert seen["cache on gateway"].startswith("refused"), seen
    assert seen["database"].startswith("refused"), seen
    assert "netns-egress" in networked.isolation("caller")


CALLER_WITH_PROBE = __import__(
    "tests.e2e.test_execution_roles", fromlist=["CALLER"]
).CALLER.replace(
    "    return seen\n",
    "    import socket\n"
    "    gateway = seen['endpoint'].split('//')[1].split(':')[0]\n"
    "    for label, target in (('cache on gateway', (gateway, 6379)),\n"
    "                          ('database', ('127.0.0.1', 5432))):\n"
    "        try:\n"
    "            socket.create_connection(target, timeout=3).close()\n"
    "            seen[label] = 'connected'\n"
    "        except OSError as error:\n"
    "            seen[label] = f'refused: {type(error).__name__}'\n"
    "    return seen\n",
)


def leftovers(instance: str) -> list[str]:
    """What a server instance made that is still there (in the test's host namespace and
    among the named namespaces)."""
    found = []
    tables = subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, check=True
    ).stdout
    found += [line for line in tables.splitlines() if line.endswith(f"faas_{instance}")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    found += [line.split(":")[1].strip() for line in links.splitlines() if f"fs{instance}h" in line]
    addresses = subprocess.run(
        ["ip", "-o", "addr"], capture_output=True, text=True, check=True
    ).stdout
    found += [line for line in addresses.splitlines() if f"lo:fs{instance}" in line]
    found += [p.name for p in Path("/run/netns").glob(f"fs{instance}n*")]
    return found


def test_a_killed_servers_network_is_swept_by_the_next_start(
    isolated_network: IsolatedNetwork, tmp_path: Path
) -> None:
    with inside(isolated_network.host):
        first = start_server(tmp_path / "data")
        first.deploy("warm", {"app.py": "def handler(event, context):\n    return 1\n"})
        first.invoke("warm")
        instance = instance_name(first.process.pid)
        assert leftovers(instance), "the running server has a network layer"
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        assert leftovers(instance), "SIGKILL leaves it behind"

        second = start_server(tmp_path / "data")
        try:
            assert leftovers(instance) == []
            assert second.invoke("warm")[1] == 1
        finally:
            second.stop()
        assert leftovers(instance_name(second.process.pid)) == [], "a clean stop removes all"


def test_without_a_network_layer_egress_falls_back_to_host_loudly(
    isolated_network: IsolatedNetwork, tmp_path: Path
) -> None:
    with inside(isolated_network.host):
        server = start_server(tmp_path / "data", FAAS_SANDBOX_NETWORK_LAYER="off")
        try:
            name = "fallback"
            server.deploy(name, {"app.py": PROBE})
            seen = server.invoke(name, {"connect": {"db": ["127.0.0.1", DATABASE_PORT]}})[1]
            assert seen["db"] == "host-database 127.0.0.1"
            health = server.health()
            assert health["network"]["host_functions"] == [name]
            layer = {row["layer"]: row for row in health["sandbox"]}["network"]
            assert layer["active"] is False
            assert "sandbox.network_layer = off" in layer["detail"]
            assert "UNSAFE NETWORK" in server.log()
        finally:
            server.stop()
