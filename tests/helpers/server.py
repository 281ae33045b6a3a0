"""Start and stop a real `faas serve` process; build zips; run the real CLI."""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

FAAS = [sys.executable, "-m", "faas.cli"]
START_TIMEOUT_S = 20.0
# The sandbox layers /health and `faas doctor` report, by name.
SANDBOX_LAYERS = frozenset(
    {
        "memory",
        "processes",
        "/tmp",
        "mount namespace",
        "per-function uid",
        "process view",
        "landlock",
        "seccomp",
        "no_new_privs",
        "network",
        "network namespace",
        "freezer",
    }
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_zip(files: Mapping[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


REGION = "us-east-1"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret: str


def read_credentials(path: Path) -> AccessKey:
    """The [default] key of an AWS shared-credentials file (the one a server writes)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return AccessKey(
        parser.get("default", "aws_access_key_id"), parser.get("default", "aws_secret_access_key")
    )


def lambda_client(url: str, key: AccessKey, service: str = "lambda") -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret,
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )


def sign(request: urllib.request.Request, key: AccessKey) -> urllib.request.Request:
    """The request, signed by botocore's SigV4 signer (the reference, not faas's own)."""
    aws = AWSRequest(
        method=request.get_method(),
        url=request.full_url,
        data=request.data or b"",
        headers=dict(request.header_items()),
    )
    SigV4Auth(Credentials(key.access_key_id, key.secret), "lambda", REGION).add_auth(aws)
    for name, value in aws.headers.items():
        request.add_header(name, value)
    return request


def aws_cli() -> str | None:
    """The AWS CLI v1: the one the test extras install beside this Python, else one on PATH."""
    beside = Path(sys.executable).parent / "aws"
    return str(beside) if beside.is_file() else shutil.which("aws")


@dataclass(frozen=True)
class AwsCli:
    """The AWS CLI v1 pointed at a test server, signing with its admin key (the credentials
    file the server wrote), nothing of the machine's own configuration."""

    base: tuple[str, ...]
    env: Mapping[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args],
            capture_output=True,
            text=True,
            env=dict(self.env),
            timeout=120,
            check=False,
        )

    def ok(self, *args: str) -> Any:
        """Run a command that must succeed; its JSON output (None when it prints nothing)."""
        completed = self.run(*args)
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout) if completed.stdout.strip() else None


def aws_cli_for(data_dir: Path, url: str, service: str = "lambda") -> AwsCli:
    """The AWS CLI for `service` at a server's `url`; skips the test where it is missing."""
    aws = aws_cli()
    if aws is None:
        pytest.skip("the AWS CLI is not installed (awscli is in the test extras)")
    env = clean_env(
        {
            "AWS_SHARED_CREDENTIALS_FILE": str(data_dir / "credentials"),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return AwsCli((aws, "--endpoint-url", url, "--region", REGION, service), env)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "AWS_"))}
    # Servers of the suite leave the machine's network configuration alone (no veth, no
    # nftables table, no forwarding): the network layer's own tests run their servers in
    # namespaces of the test's own, with the layer on.
    env["FAAS_SANDBOX_NETWORK_LAYER"] = "off"
    env.update(extra or {})
    return env


@dataclass
class FaasServer:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path

    @classmethod
    def start(
        cls,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> FaasServer:
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log_path = data_dir.parent / f"server-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*FAAS, "serve", "--port", str(port), "--data-dir", str(data_dir), *extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env({"FAAS_SERVER_LOG_LEVEL": "INFO", **(env or {})}),
                cwd=data_dir.parent,
            )
        server = cls(process, f"http://127.0.0.1:{port}", data_dir, log_path)
        try:
            server.wait_healthy()
        except BaseException:
            server.kill()
            raise
        return server

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"faas serve exited early:\n{self.log()}")
            try:  # unsigned: the credentials file exists only once the server listens
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    response.read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"faas serve did not become healthy:\n{self.log()}")

    def health(self) -> dict[str, Any]:
        """The full report (signed by the admin key; unsigned callers get only the status)."""
        with self.urlopen(self.url + "/health", timeout=2) as response:
            return dict(json.load(response))

    @property
    def admin_key(self) -> AccessKey:
        return read_credentials(self.data_dir / "credentials")

    def client(self, key: AccessKey | None = None) -> Any:
        """boto3's Lambda client, signing with `key` (the admin key by default)."""
        return lambda_client(self.url, key or self.admin_key)

    def logs_client(self, key: AccessKey | None = None) -> Any:
        """boto3's CloudWatch Logs client on this server (the admin key by default)."""
        return lambda_client(self.url, key or self.admin_key, "logs")

    def urlopen(
        self,
        request: urllib.request.Request | str,
        timeout: float = 60,
        key: AccessKey | None = None,
    ) -> Any:
        """urllib.request.urlopen of a request signed with `key` (the admin key by default)."""
        if isinstance(request, str):
            request = urllib.request.Request(request)
        return urllib.request.urlopen(sign(request, key or self.admin_key), timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def cli(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The real CLI, finding this server's credentials file as on the server's host."""
        return run_cli(
            self.url,
            *args,
            stdin=stdin,
            env={"FAAS_SERVER_DATA_DIR": str(self.data_dir), **(env or {})},
        )

    def deploy(self, name: str, files: Mapping[str, str | bytes], **config: Any) -> Any:
        """Create or replace a function through the Lambda API."""
        client = self.client()
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_function(FunctionName=name)
        return client.create_function(
            FunctionName=name,
            Runtime=config.pop("Runtime", f"python{sys.version_info[0]}.{sys.version_info[1]}"),
            Role="arn:aws:iam::000000000000:role/test",
            Handler=config.pop("Handler", "app.handler"),
            Code={"ZipFile": make_zip(files)},
            **config,
        )

    def invoke(self, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
        """Invoke through boto3; returns (response metadata, decoded JSON body)."""
        client = self.client()
        payload = json.dumps({} if event is None else event).encode()
        response = client.invoke(FunctionName=name, Payload=payload, **kwargs)
        body = response["Payload"].read()
        return response, json.loads(body) if body else None


def require_layers(server: FaasServer, *names: str) -> None:
    """Skip, saying why, where a sandbox layer a test relies on is not active on this host."""
    rows = {layer["layer"]: layer for layer in server.health()["sandbox"]}
    off = [f"{name}: {rows[name]['detail']}" for name in names if not rows[name]["active"]]
    if off:
        pytest.skip(f"sandbox layer not active on this host ({'; '.join(off)})")


def run_cli(
    url: str, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [*FAAS, "--url", url, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        env=clean_env(env),
        timeout=120,
        check=False,
    )
    return completed
