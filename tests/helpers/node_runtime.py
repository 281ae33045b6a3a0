"""Node.js runtimes started as real processes against a FakeRuntimeApi, with the environment
Lambda gives a function: the faas bootstrap (runtimes/nodejs/bootstrap.js) and the official
runtime interface client (aws-lambda-ric, installed by scripts/install-node-extras.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "runtimes" / "nodejs" / "bootstrap.js"
RIC_DIR = ROOT / "tests" / "fixtures" / "node-ric"
RIC_ENTRY = RIC_DIR / "node_modules" / "aws-lambda-ric" / "index.mjs"
# Where the install script puts the AWS SDK a worker offers as /var/runtime/node_modules.
SDK_MODULES = ROOT / os.environ.get("FAAS_NODE_RUNTIME_DIR", ".node-runtime") / "node_modules"
INSTALL_SCRIPT = "scripts/install-node-extras.sh"
# CI sets it: there the official client and the SDK must be installed, and their tests fail
# instead of skipping.
RIC_REQUIRED = "FAAS_TEST_REQUIRE_NODE_RIC"
EXIT_TIMEOUT_S = 30.0

FUNCTION_ENVIRON = {
    "AWS_LAMBDA_FUNCTION_NAME": "greeter",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/greeter",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2024/05/01/[$LATEST]0123456789abcdef",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TZ": ":UTC",
}


def require_node() -> str:
    """The node executable, or skip: the Node.js runtime needs node on the host."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node.js runtime cannot run on this host")
    return node


def node_has_in_thread_hooks() -> bool:
    """Whether this node has module.registerHooks (22.15 and later): the runtime then gives
    every import NODE_PATH's lookup, not only an ES module handler's."""
    probe = "process.stdout.write(String(typeof require('module').registerHooks))"
    completed = subprocess.run(
        [require_node(), "-e", probe], capture_output=True, text=True, check=True
    )
    return completed.stdout == "function"


def require_node_extra(entry: Path, what: str, environ: Mapping[str, str] = os.environ) -> Path:
    """`entry` when scripts/install-node-extras.sh has installed it; else skip, or fail where
    the environment requires the extras (RIC_REQUIRED, as CI sets it)."""
    if entry.exists():
        return entry
    reason = f"{what} is not installed at {entry} (run {INSTALL_SCRIPT}, or make node-extras)"
    if environ.get(RIC_REQUIRED, "") not in ("", "0"):
        pytest.fail(f"{RIC_REQUIRED} is set, so this needs {what}. {reason}", pytrace=False)
    pytest.skip(reason)


def lambda_environ(
    api_address: str, task_root: Path, handler: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Lambda's variables for one function; nothing of the test's own environment but PATH."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": api_address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        **FUNCTION_ENVIRON,
        **(extra or {}),
    }


@dataclass(frozen=True)
class RuntimeProcess:
    """A runtime process; its stdout and stderr go to files, read back whole."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    # Bytes decoded as they are: read_text() would turn the \r inside a log line into \n.
    def stdout(self) -> str:
        return self.stdout_path.read_bytes().decode()

    def stderr(self) -> str:
        return self.stderr_path.read_bytes().decode()

    def wait_exit(self, timeout_s: float = EXIT_TIMEOUT_S) -> int:
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=EXIT_TIMEOUT_S)


@contextmanager
def runtime_process(
    command: Sequence[str], environ: Mapping[str, str], cwd: Path, logs: Path
) -> Iterator[RuntimeProcess]:
    logs.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = logs / "stdout", logs / "stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            list(command), env=dict(environ), cwd=cwd, stdout=stdout, stderr=stderr
        )
    running = RuntimeProcess(process, stdout_path, stderr_path)
    try:
        yield running
    finally:
        running.stop()


def write_files(root: Path, files: Mapping[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return root
