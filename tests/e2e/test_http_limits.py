"""Abusive HTTP clients against a real server: thousands of connections that say nothing or
trickle their headers, while a normal client keeps being answered as usual; the server cuts
them off after http.header_timeout_s and gives back what they held."""

from __future__ import annotations

import contextlib
import resource
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil
import pytest

from tests.helpers.server import FaasServer

HELLO = "def handler(event, context):\n    return {'hello': event.get('n')}\n"
HEADER_TIMEOUT_S = 3.0
IDLE = 2000  # connections that never send a byte
SLOW = 500  # connections that send a header line every half second, never the last
PROBES = 40


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(
        tmp_path_factory.mktemp("abuse") / "data",
        env={"FAAS_HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)},
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def descriptors() -> Iterator[None]:
    """Room in this process for the thousands of sockets the test holds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE + SLOW + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the open-file limit ({hard}) is below the {wanted} sockets this needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def invoke_latencies(server: FaasServer, count: int) -> list[float]:
    client = server.client()
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        response = client.invoke(FunctionName="hello", Payload=b'{"n": %d}' % n)
        assert response["StatusCode"] == 200 and "FunctionError" not in response
        latencies.append(time.perf_counter() - started)
    return latencies


def connections(address: tuple[str, int], count: int) -> list[socket.socket]:
    opened = []
    for _ in range(count):
        sock = socket.create_connection(address, timeout=10)
        opened.append(sock)
    return opened


def trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """The slow loris: a request line, then a header line every half second, forever."""
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.sendall(b"POST /2015-03-31/functions/hello/invocations HTTP/1.1\r\n")
    line = 0
    while not stop.wait(0.5):
        line += 1
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.sendall(b"X-Slow-%d: 1\r\n" % line)


def closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closed `sock` by `deadline` (what it wrote first is read past)."""
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            if sock.recv(65536) == b"":
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def test_idle_and_slow_clients_do_not_hold_up_a_normal_one(
    server: FaasServer, descriptors: None
) -> None:
    server.deploy("hello", {"app.py": HELLO})
    invoke_latencies(server, 10)  # warm
    usual = statistics.median(invoke_latencies(server, PROBES))
    own = psutil.Process(server.process.pid)
    fds_before = own.num_fds()
    parts = urlsplit(server.url)
    address = (str(parts.hostname), int(parts.port or 80))

    stop = threading.Event()
    idle = connections(address, IDLE)
    slow = connections(address, SLOW)
    trickler = threading.Thread(target=trickle, args=(slow, stop), daemon=True)
    trickler.start()
    try:
        held_since = time.monotonic()
        during = invoke_latencies(server, PROBES)  # every one answered (asserted inside)
        assert time.monotonic() - held_since < HEADER_TIMEOUT_S, "measured after the cut-off"
        # Within the usual latency: the same order of magnitude, not seconds behind the
        # crowd (a generous bound: two shared vCPUs also serve the crowd's bytes).
        assert statistics.median(during) < max(10 * usual, 0.25), (usual, during)
        assert own.num_fds() >= fds_before + (IDLE + SLOW) // 2  # the crowd really is held

        # Then the server lets them go: none sends its headers in time.
        deadline = held_since + HEADER_TIMEOUT_S * 2 + 5
        assert all(closed_by_server(sock, deadline) for sock in [*idle, *slow])
    finally:
        stop.set()
        trickler.join(5)
        for sock in [*idle, *slow]:
            sock.close()
    # What they held is given back; the server still answers.
    time.sleep(0.5)
    assert own.num_fds() <= fds_before + 16
    assert invoke_latencies(server, 3)
