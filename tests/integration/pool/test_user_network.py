"""The workers' network on a host where faas is not root (pasta), run as the unprivileged user
nobody, inside namespaces of the test's own: the test's "host" namespace (a database on its
loopback, a cache on every address, the platform's API port on loopback) and a "remote" one
beyond it (a service and a DNS server). pasta needs /dev/net/tun, which our machines keep
mode 0600: the run gets a mount namespace of its own with a 0666 node of the same device bound
there, and a resolv.conf naming the test's DNS server, so nothing leaves the test's namespaces.

Each slot is joined the way a worker joins it: runtimes/python/sandbox.py's join_network()
(user namespace, then network namespace), then a mount namespace of its own."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas.pool.launcher import runtime_dir
from tests.helpers.netns import HOST_ADDRESS, REMOTE_ADDRESS, IsolatedNetwork, isolated_network

REPO = Path(__file__).resolve().parents[3]
NOBODY = 65534
SYSTEM_PYTHON = Path("/usr/bin/python3")
API_PORT = 8080

DRIVER = """
import json, os, socket, sys, tempfile
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import sandbox
from faas.pool.network import SlotKind
from faas.pool.usernet import UserNetworkLayer

def probe(plan):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        seen = {}
        try:
            sandbox.join_network(plan["netns"], plan["userns"])
            sandbox.unshare(sandbox.CLONE_NEWNS)  # as a worker does next
            sandbox.mount("none", "/", None, sandbox.MS_REC | sandbox.MS_PRIVATE, None)
            sandbox.bind_resolv_conf(str(layer.resolv_conf))
            for label, address, port in json.loads(sys.argv[3]):
                try:
                    with socket.create_connection((address, port), timeout=3) as c:
                        c.settimeout(2)
                        seen[label] = c.recv(100).decode() or "connected"
                except OSError as error:
                    seen[label] = f"refused: {type(error).__name__}"
            try:
                seen["dns"] = socket.gethostbyname("db.beyond.test")
            except OSError as error:
                seen["dns"] = f"unresolved: {error}"
            seen["uid"] = os.getuid()
        except BaseException as error:
            seen["error"] = repr(error)
        os.write(write, json.dumps(seen).encode())
        os._exit(0)
    os.close(write)
    answer = b""
    while chunk := os.read(read, 65536):
        answer += chunk
    os.waitpid(pid, 0)
    return json.loads(answer)

layer = UserNetworkLayer(prepared_per_kind=1)
layer.setup(Path(tempfile.mkdtemp()))
layer.publish_api(int(sys.argv[4]))
egress, api = layer.acquire(SlotKind.EGRESS), layer.acquire(SlotKind.API)
result = {
    "egress": probe(layer.join_plan(egress)),
    "api": probe(layer.join_plan(api)),
    "endpoint": layer.api_endpoint,
    "pasta": [egress.pasta_pid, api.pasta_pid],
}
try:
    layer.acquire(SlotKind.ALLOWLIST)
    result["allowlist"] = "given"
except OSError as error:
    result["allowlist"] = str(error)
print(json.dumps(result), flush=True)
if sys.argv[5] == "hang":
    sys.stdin.readline()
layer.release(egress)
layer.release(api)
layer.teardown()
print("done", flush=True)
"""
TARGETS = [
    ["remote", REMOTE_ADDRESS, 7001],
    ["host database", "127.0.0.1", 5432],
    ["host address cache", HOST_ADDRESS, 6379],
    ["platform", "127.0.0.1", API_PORT],
]


def why_skip() -> str:
    if os.geteuid() != 0:
        return "needs root to make the test's namespaces and its /dev/net/tun node"
    for tool in ("pasta", "unshare", "setpriv", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} is missing (nobody cannot run the virtualenv's interpreter)"
    return ""


pytestmark = pytest.mark.skipif(bool(why_skip()), reason=why_skip() or "runnable")


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """A directory nobody can read (pytest's own tmp_path is the root user's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="faas-usernet-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def network() -> Iterator[IsolatedNetwork]:
    with isolated_network() as made:
        made.listen(made.remote, REMOTE_ADDRESS, 7001, "remote-service")
        made.listen(made.host, "127.0.0.1", 5432, "host-database")
        made.listen(made.host, "0.0.0.0", 6379, "host-cache")
        made.listen(made.host, "127.0.0.1", API_PORT, "platform-api")
        made.serve_dns(made.remote, REMOTE_ADDRESS, "beyond.test", REMOTE_ADDRESS)
        yield made


@contextlib.contextmanager
def driver_running(
    network: IsolatedNetwork, tmp_path: Path, mode: str
) -> Iterator[subprocess.Popen[str]]:
    driver = start_driver(network, tmp_path, mode)
    try:
        yield driver
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait()
        for stream in (driver.stdin, driver.stdout, driver.stderr):
            if stream is not None:
                stream.close()


def start_driver(network: IsolatedNetwork, tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    """The driver as nobody, in the test's host namespace, with a usable tun device and the
    test's resolver in a mount namespace of its own."""
    tun = tmp_path / "tun"
    subprocess.run(["mknod", str(tun), "c", "10", "200"], check=True)
    tun.chmod(0o666)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {REMOTE_ADDRESS}\n")
    resolv.chmod(0o644)
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    script.chmod(0o644)
    inner = (
        f"mount --bind {tun} /dev/net/tun && mount --bind {resolv} /etc/resolv.conf && "
        f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups {SYSTEM_PYTHON} "
        f"{script} {REPO} {runtime_dir() / 'python'} '{json.dumps(TARGETS)}' {API_PORT} {mode}"
    )
    return network.popen_in(
        network.host,
        ["unshare", "-m", "--propagation", "private", "sh", "-c", inner],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
    )


def read_result(driver: subprocess.Popen[str]) -> dict[str, object]:
    assert driver.stdout is not None
    line = driver.stdout.readline()
    if not line:
        assert driver.stderr is not None
        pytest.fail(f"driver failed: {driver.stderr.read()}")
    return dict(json.loads(line))


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"pasta")
    except OSError:
        return False


def test_slots_reach_beyond_the_host_and_nothing_of_it(
    network: IsolatedNetwork, world_dir: Path
) -> None:
    with driver_running(network, world_dir, "run") as driver:
        result, done = read_result(driver), driver.stdout.readline() if driver.stdout else ""
        assert done.strip() == "done"
        assert driver.wait(timeout=30) == 0
    egress, api = result["egress"], result["api"]
    assert isinstance(egress, dict) and isinstance(api, dict)

    assert egress.get("error") is None, egress
    assert egress["uid"] == NOBODY  # the user namespace maps the platform's own uid only
    assert egress["remote"].startswith("remote-service"), egress
    assert egress["dns"] == REMOTE_ADDRESS, egress  # pasta's DNS forwarder
    for blocked in ("host database", "host address cache", "platform"):
        assert not egress[blocked].startswith(("host-", "platform-")), (blocked, egress)

    assert api["platform"].startswith("platform-api"), api  # at the endpoint it is given
    assert not api["host database"].startswith("host-"), api
    assert result["endpoint"] == f"http://127.0.0.1:{API_PORT}"
    assert "allowlists need the root network layer" in str(result["allowlist"])

    pasta = result["pasta"]
    assert isinstance(pasta, list)
    assert not any(alive(pid) for pid in pasta), "teardown stops every pasta"


def test_a_killed_platform_leaves_no_pasta_behind(
    network: IsolatedNetwork, world_dir: Path
) -> None:
    with driver_running(network, world_dir, "hang") as driver:
        result = read_result(driver)
        pasta = result["pasta"]
        assert isinstance(pasta, list) and all(alive(pid) for pid in pasta)
        # nsenter, unshare, sh and setpriv each exec the next: its pid is the platform's.
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pasta) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pasta), "holders see EOF, and pasta goes with them"
