"""Start, reach and stop the processes under test: faas servers and the baseline."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import psutil

from faas.auth.sigv4 import sign_headers
from faas.cli.credentials import Credentials, find_credentials

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 60.0
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
ROLE = "arn:aws:iam::000000000000:role/bench"
FUNCTIONS_PATH = "/2015-03-31/functions"
EVENT = b'{"hello":"world"}'
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def invoke_url(base_url: str, name: str) -> str:
    return f"{base_url}{FUNCTIONS_PATH}/{name}/invocations"


@dataclass(frozen=True)
class Target:
    """Where requests go, and the access key that signs them (None: unsigned, the baseline)."""

    url: str
    key: Credentials | None = None

    def signed(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """`headers` plus the SigV4 headers for one request to `url` (faas's own signer, which
        the test suite holds against botocore's). A signature stays valid for 5 minutes, so a
        load generator signs once and replays it."""
        sent = dict(headers or {})
        if self.key is None:
            return sent
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sent.update(
            sign_headers(
                method,
                target,
                parts.netloc,
                body,
                sent,
                access_key_id=self.key.access_key_id,
                secret=self.key.secret_access_key,
                region=REGION,
                service="lambda",
                now=datetime.now(UTC),
            )
        )
        return sent


@dataclass
class ServerProcess:
    """One server under test; `stop` takes its whole process tree down."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    data_dir: Path | None = None  # faas only: where its credentials file is

    @property
    def target(self) -> Target:
        if self.data_dir is None:
            return Target(self.url)
        key = find_credentials({}, None, self.data_dir, self.data_dir)
        return Target(self.url, key)

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
        wait_listening(server.process, port, server.log)
    except BaseException:
        server.stop()
        raise
    return server


def wait_listening(
    process: subprocess.Popen[bytes],
    port: int,
    log: Callable[[], str],
    what: str = "server",
    timeout_s: float = START_TIMEOUT_S,
) -> None:
    """Return once 127.0.0.1:`port` accepts a connection; RuntimeError (with the end of
    `log`) if `process` exits first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening:\n{log()}")


def start_faas(
    workdir: Path, env: Mapping[str, str] | None = None, data_dir: Path | None = None
) -> ServerProcess:
    """A faas server on a free port; its data in `data_dir` (a new one by default)."""
    port = free_port()
    data_dir = data_dir or workdir / f"data-{port}"
    argv = [sys.executable, "-m", "faas.cli", "serve", "--port", str(port)]
    argv += ["--data-dir", str(data_dir)]
    settings = {"FAAS_SERVER_LOG_LEVEL": "WARNING", **(env or {})}
    server = _spawn(argv, settings, workdir, port)
    server.data_dir = data_dir
    return server


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


# A function's code: the source of its `app.py` (a Python handler), or a whole zip.
Code = str | bytes


async def deploy(
    http: aiohttp.ClientSession,
    target: Target,
    name: str,
    source: Code,
    extra_config: Mapping[str, object] | None = None,
) -> None:
    """CreateFunction; `extra_config` adds fields or replaces the defaults (the serving
    interpreter's Python runtime, handler `app.handler`)."""
    archive = make_zip(source) if isinstance(source, str) else source
    document: dict[str, object] = {
        "FunctionName": name,
        "Role": ROLE,
        "Runtime": RUNTIME,
        "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(archive).decode()},
        **(extra_config or {}),
    }
    body = json.dumps(document).encode()
    url = target.url + FUNCTIONS_PATH
    headers = target.signed("POST", url, body, {"Content-Type": "application/json"})
    async with http.post(url, data=body, headers=headers) as response:
        if response.status != 201:
            raise RuntimeError(f"deploy {name}: HTTP {response.status} {await response.text()}")


async def deploy_many(
    http: aiohttp.ClientSession,
    target: Target,
    names: list[str],
    source: Code,
    extra_config: Mapping[str, object] | None = None,
    *,
    parallel: int = 8,
) -> None:
    """Create functions `parallel` at a time (1,000 one by one would dominate the run)."""
    gate = asyncio.Semaphore(parallel)

    async def one(name: str) -> None:
        async with gate:
            await deploy(http, target, name, source, extra_config)

    await asyncio.gather(*(one(name) for name in names))


async def invoke_once(http: aiohttp.ClientSession, target: Target, name: str) -> int:
    """One invoke; returns its latency in ns, measured at the client (request in to response)."""
    url = invoke_url(target.url, name)
    headers = target.signed("POST", url, EVENT)
    start = time.perf_counter_ns()
    async with http.post(url, data=EVENT, headers=headers) as response:
        await response.read()
        elapsed = time.perf_counter_ns() - start
        if response.status != 200 or response.headers.get("X-Amz-Function-Error"):
            raise RuntimeError(f"invoke {name}: HTTP {response.status} {await response.text()}")
    return elapsed


async def health(http: aiohttp.ClientSession, target: Target) -> dict[str, Any]:
    """The server's /health report, signed (so it holds the details)."""
    url = target.url + "/health"
    async with http.get(url, headers=target.signed("GET", url, b"")) as response:
        document: dict[str, Any] = await response.json()
    return document


async def call_api(
    http: aiohttp.ClientSession,
    target: Target,
    method: str,
    path: str,
    document: Mapping[str, object] | None = None,
) -> Any:
    """A signed request to the platform's own API (/faas/v1/...); its JSON answer."""
    url = target.url + path
    body = json.dumps(document).encode() if document is not None else b""
    headers = {"Content-Type": "application/json"} if document is not None else {}
    signed = target.signed(method, url, body, headers)
    data = body if document is not None else None
    async with http.request(method, url, data=data, headers=signed) as response:
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {response.status} {await response.text()}")
        return await response.json()
