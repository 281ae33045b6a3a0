"""Start, reach and stop the processes under test: faas servers and the baseline."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 60.0
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
ROLE = "arn:aws:iam::000000000000:role/bench"
FUNCTIONS_PATH = "/2015-03-31/functions"
EVENT = b'{"hello":"world"}'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def invoke_url(base_url: str, name: str) -> str:
    return f"{base_url}{FUNCTIONS_PATH}/{name}/invocations"


@dataclass
class ServerProcess:
    """One server under test; `stop` takes its whole process tree down."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def worker_processes(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.pid).children(recursive=True)
        return []

    def stop(self) -> None:
        leftovers = self.worker_processes()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # Workers run in their own process groups: make sure none outlives a crashed server.
        for child in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(leftovers, timeout=STOP_TIMEOUT_S)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_")}
    env.update(extra)
    return env


def _spawn(argv: list[str], env: Mapping[str, str], workdir: Path, port: int) -> ServerProcess:
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=_clean_env(env), cwd=workdir
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_listening(server, port)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_listening(server: ServerProcess, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not start listening:\n{server.log()}")


def start_faas(workdir: Path, env: Mapping[str, str] | None = None) -> ServerProcess:
    port = free_port()
    data_dir = workdir / f"data-{port}"
    argv = [sys.executable, "-m", "faas.cli", "serve", "--port", str(port)]
    argv += ["--data-dir", str(data_dir)]
    settings = {"FAAS_SERVER_LOG_LEVEL": "WARNING", **(env or {})}
    return _spawn(argv, settings, workdir, port)


def start_baseline(workdir: Path, cpu_iterations: int) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "bench.baseline", "--port", str(port)]
    argv += ["--cpu-iterations", str(cpu_iterations)]
    return _spawn(argv, {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}, workdir, port)


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="faas-bench-") as name:
        yield Path(name)


def make_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def http_client(connections: int = 16) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    )


async def deploy(
    http: aiohttp.ClientSession,
    base_url: str,
    name: str,
    source: str,
    extra_config: Mapping[str, object] | None = None,
) -> None:
    document: dict[str, object] = {
        "FunctionName": name,
        "Role": ROLE,
        "Runtime": RUNTIME,
        "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(make_zip(source)).decode()},
        **(extra_config or {}),
    }
    async with http.post(base_url + FUNCTIONS_PATH, json=document) as response:
        if response.status != 201:
            raise RuntimeError(f"deploy {name}: HTTP {response.status} {await response.text()}")


async def deploy_many(
    http: aiohttp.ClientSession,
    base_url: str,
    names: list[str],
    source: str,
    extra_config: Mapping[str, object] | None = None,
    *,
    parallel: int = 8,
) -> None:
    """Create functions `parallel` at a time (1,000 one by one would dominate the run)."""
    gate = asyncio.Semaphore(parallel)

    async def one(name: str) -> None:
        async with gate:
            await deploy(http, base_url, name, source, extra_config)

    await asyncio.gather(*(one(name) for name in names))


async def invoke_once(http: aiohttp.ClientSession, base_url: str, name: str) -> int:
    """One invoke; returns its latency in ns, measured at the client (request in to response)."""
    start = time.perf_counter_ns()
    async with http.post(invoke_url(base_url, name), data=EVENT) as response:
        await response.read()
        elapsed = time.perf_counter_ns() - start
        if response.status != 200 or response.headers.get("X-Amz-Function-Error"):
            raise RuntimeError(f"invoke {name}: HTTP {response.status} {await response.text()}")
    return elapsed
