"""The workers' network on a root host, built in namespaces of the test's own: egress through
NAT, nothing of the host, the gateway's API only for API slots, allowlists exact, and nothing
left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faas.pool.network import network_supported
from tests.helpers.netns import HOST_ADDRESS, REMOTE_ADDRESS, IsolatedNetwork, isolated_network

REPO = Path(__file__).resolve().parents[3]

DRIVER = """
import ipaddress, json, sys
import tempfile
from pathlib import Path
from faas.domain import NetworkDestination
from faas.pool.network import NetworkLayer, SlotKind
layer = NetworkLayer(prepared_per_kind=1)
layer.setup(Path(tempfile.mkdtemp()))
layer.publish_api(8080)
allowed = [NetworkDestination.parse("198.18.0.2/32:7001")]
slots = {
    "egress": layer.acquire(SlotKind.EGRESS),
    "api": layer.acquire(SlotKind.API),
    "allowlist": layer.acquire(SlotKind.ALLOWLIST, allowed),
}
print(json.dumps({
    "gateway": str(layer.gateway),
    "table": layer.table,
    "slots": {kind: {"namespace": s.namespace, "address": str(s.address)}
              for kind, s in slots.items()},
}), flush=True)
sys.stdin.readline()
for slot in slots.values():
    layer.release(slot)
layer.teardown()
print("done", flush=True)
"""

PROBE = """
import errno, socket, sys
address, port = sys.argv[1], int(sys.argv[2])
probe = socket.socket()
probe.settimeout(3)
try:
    probe.connect((address, port))
    print(probe.recv(200).decode() or "connected")
except OSError as error:
    print(errno.errorcode.get(error.errno or 0, type(error).__name__))
"""
# Refused by the rules (ICMP administratively prohibited: "no route to host" at once).
BLOCKED = "EHOSTUNREACH"


def probe(network: IsolatedNetwork, namespace: str, address: str, port: int) -> str:
    done = network.run_in(namespace, [sys.executable, "-c", PROBE, address, str(port)])
    return done.stdout.strip() or done.stderr.strip()


@pytest.fixture
def network() -> IsolatedNetwork:
    why = network_supported()
    if why:
        pytest.skip(why)
    with isolated_network() as made:
        yield made  # type: ignore[misc]


def test_slots_reach_beyond_the_host_and_nothing_of_it(network: IsolatedNetwork) -> None:
    network.listen(network.remote, REMOTE_ADDRESS, 7001, "remote-7001")
    network.listen(network.remote, REMOTE_ADDRESS, 7002, "remote-7002")
    network.listen(network.host, "0.0.0.0", 8080, "platform-api")
    network.listen(network.host, "127.0.0.1", 5432, "host-loopback-database")
    network.listen(network.host, HOST_ADDRESS, 6379, "host-address-cache")
    driver = network.popen_in(
        network.host,
        [sys.executable, "-c", DRIVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    assert driver.stdin is not None and driver.stdout is not None
    try:
        made = json.loads(driver.stdout.readline())
        slots = {kind: slot["namespace"] for kind, slot in made["slots"].items()}
        gateway = made["gateway"]
        egress, api, allow = slots["egress"], slots["api"], slots["allowlist"]

        # Beyond the host, through NAT (the remote machine sees the host's address).
        assert probe(network, egress, REMOTE_ADDRESS, 7001) == f"remote-7001 {HOST_ADDRESS}"
        assert probe(network, egress, REMOTE_ADDRESS, 7002) == f"remote-7002 {HOST_ADDRESS}"
        # Nothing of the host: its own addresses, its loopback (the slot's 127.0.0.1 is its
        # own), the gateway's API port.
        assert probe(network, egress, HOST_ADDRESS, 6379) == BLOCKED
        assert probe(network, egress, "127.0.0.1", 5432) == "ECONNREFUSED"  # its own, empty
        assert probe(network, egress, gateway, 8080) == BLOCKED
        # Not each other.
        assert probe(network, egress, made["slots"]["api"]["address"], 22) == BLOCKED
        # The API on the gateway for API slots only.
        assert (
            probe(network, api, gateway, 8080) == f"platform-api {made['slots']['api']['address']}"
        )
        assert probe(network, api, HOST_ADDRESS, 6379) == BLOCKED
        # An allowlist: exactly its destinations.
        assert probe(network, allow, REMOTE_ADDRESS, 7001) == f"remote-7001 {HOST_ADDRESS}"
        assert probe(network, allow, REMOTE_ADDRESS, 7002) == BLOCKED
        assert probe(network, allow, HOST_ADDRESS, 6379) == BLOCKED
    finally:
        driver.stdin.write("\n")
        driver.stdin.close()
        assert driver.stdout.readline().strip() == "done"
        driver.wait(30)
        driver.stdout.close()

    left = network.run_in(network.host, ["ip", "-o", "link"]).stdout
    assert "fs" not in "".join(line.split(":")[1] for line in left.splitlines())
    assert made["table"] not in network.run_in(network.host, ["nft", "list", "tables"]).stdout
    assert (
        gateway
        not in network.run_in(network.host, ["ip", "-o", "addr", "show", "dev", "lo"]).stdout
    )
    for namespace in slots.values():
        assert not Path("/run/netns", namespace).exists()


def test_a_dead_server_s_network_is_swept_by_the_next_start(network: IsolatedNetwork) -> None:
    killed = network.popen_in(
        network.host,
        [sys.executable, "-c", DRIVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    assert killed.stdout is not None
    made = json.loads(killed.stdout.readline())
    killed.kill()  # no teardown: everything it made is left behind
    killed.wait()
    killed.stdout.close()
    assert killed.stdin is not None
    killed.stdin.close()
    assert Path("/run/netns", made["slots"]["egress"]["namespace"]).exists()

    sweep = "from faas.pool.network import sweep_stale; sweep_stale(own='0')"
    swept = network.run_in(network.host, [sys.executable, "-c", sweep], cwd=REPO)
    assert swept.returncode == 0, swept.stderr

    for slot in made["slots"].values():
        assert not Path("/run/netns", slot["namespace"]).exists()
    assert made["table"] not in network.run_in(network.host, ["nft", "list", "tables"]).stdout
    lo = network.run_in(network.host, ["ip", "-o", "addr", "show", "dev", "lo"]).stdout
    assert made["gateway"] not in lo
