"""The peer of scenario (l): serverless-offline, what Lambda users run locally, serving the
same hello handler source as faas. Installed on demand with npm into bench/.peer/ (git-ignored,
reused once there), started and stopped here.

serverless-offline 13.x runs a Python handler in a `python3 -u invoke.py` process per
concurrent request and keeps it (reads one event per line on stdin): an idle one is reused
unless `--reloadHandler` is given, and only terminated after `--terminateIdleLambdaTime`
seconds idle. So the peer is measured warm, with as many Python processes as connections.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.handlers import HELLO
from bench.servers import RUNTIME, free_port, wait_listening

PEER_DIR = Path(__file__).resolve().parent / ".peer"
VERSIONS = {"serverless": "3.40.0", "serverless-offline": "13.9.0"}
NAME = f"serverless-offline {VERSIONS['serverless-offline']}"
PATH = "/hello"

INSTALL_TIMEOUT_S = 600.0
# Node loads serverless and its plugins (~280 MB of node_modules) before it listens: seconds.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# The pool's idle cleanup would end the warm Python processes of one side while the other
# side is measured; an hour is longer than any run.
IDLE_TERMINATE_S = 3600

PACKAGE_JSON = {
    "name": "faas-bench-peer",
    "private": True,
    "description": "The peer of the faas bench's scenario (l), installed by bench/peer.py",
    "dependencies": VERSIONS,
}

SERVERLESS_YML = f"""\
service: faas-bench-peer
frameworkVersion: "3"
provider:
  name: aws
  runtime: {RUNTIME}
  region: us-east-1
functions:
  hello:
    handler: handler.hello
    events:
      - httpApi:
          method: POST
          path: {PATH}
plugins:
  - serverless-offline
"""

# HELLO's text as is; serverless names the handler `module.function`, so `hello` aliases it.
HANDLER_PY = HELLO + "\n\nhello = handler\n"


def _installed_version(package: str) -> str | None:
    manifest = PEER_DIR / "node_modules" / package / "package.json"
    with contextlib.suppress(OSError, ValueError):
        version = json.loads(manifest.read_text()).get("version")
        return version if isinstance(version, str) else None
    return None


def _is_installed() -> bool:
    return all(_installed_version(name) == version for name, version in VERSIONS.items())


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def prepare(*, install: bool) -> str | None:
    """Make the peer ready to start; None when it is, else why not (the scenario then reports
    n/a). Runs before the bench moves into its loopback-only network: npm needs the registry.
    With `install` False (the quick run: the smoke test must not download 280 MB) only an
    existing installation is used."""
    if shutil.which("node") is None:
        return "node is not installed"
    try:
        PEER_DIR.mkdir(exist_ok=True)
        _write_if_changed(PEER_DIR / "package.json", json.dumps(PACKAGE_JSON, indent=2) + "\n")
        _write_if_changed(PEER_DIR / "serverless.yml", SERVERLESS_YML)
        _write_if_changed(PEER_DIR / "handler.py", HANDLER_PY)
    except OSError as exc:
        return f"cannot write {PEER_DIR}: {exc}"
    if _is_installed():
        return None
    if not install:
        return f"not installed in {PEER_DIR} (a full run installs it)"
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    print(f"[bench] installing {NAME} with npm into {PEER_DIR} ...", file=sys.stderr, flush=True)
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return f"npm install took more than {INSTALL_TIMEOUT_S:.0f} s"
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        return f"npm install failed ({exc.returncode}): {last[0]}"
    return None if _is_installed() else "npm install did not install the pinned versions"


@dataclass
class PeerServer:
    """serverless-offline in a process group of its own: its Python processes are in the
    group too (spawned through `sh -c`), so stopping the group stops them all."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def python_processes(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            children = psutil.Process(self.pid).children(recursive=True)
            return [child for child in children if _is_python(child)]
        return []

    def stop(self) -> None:
        leftovers = []
        with contextlib.suppress(psutil.NoSuchProcess):
            leftovers = psutil.Process(self.pid).children(recursive=True)
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.process.wait()
        _signal_group(self.pid, signal.SIGKILL)  # children that outlived node
        for child in leftovers:  # any that left the group
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(leftovers, timeout=STOP_TIMEOUT_S)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _is_python(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return process.name().startswith("python")
    return False


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "SERVERLESS_"))}
    # serverless-offline runs `python3` from PATH (or from VIRTUAL_ENV when set): this
    # interpreter's directory first makes it the Python faas's workers run.
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        {
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
            "SLS_DEPRECATION_DISABLE": "*",
            # Fake keys, so nothing goes looking for real ones (the bench's network is
            # loopback only anyway).
            "AWS_ACCESS_KEY_ID": "AKIAFAASBENCHPEER000",
            "AWS_SECRET_ACCESS_KEY": "faas-bench-peer-not-a-secret",
            "AWS_REGION": "us-east-1",
        }
    )
    return env


def start(workdir: Path) -> PeerServer:
    """Start serverless-offline on 127.0.0.1 and wait until it answers; `prepare` first."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    port, lambda_port = free_port(), free_port()
    # The CLI script itself, not `npx serverless`: npx would fetch a missing package from the
    # registry instead of failing.
    argv = [node, str(PEER_DIR / "node_modules" / "serverless" / "bin" / "serverless.js")]
    argv += ["offline", "start", "--host", "127.0.0.1"]
    argv += ["--httpPort", str(port), "--lambdaPort", str(lambda_port)]
    # --noTimeout: no 6 s timer per invoke (a slow start under the c=32 ramp is not an error).
    argv += ["--noTimeout", "--terminateIdleLambdaTime", str(IDLE_TERMINATE_S)]
    log_path = workdir / f"peer-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(),
            cwd=PEER_DIR,
            start_new_session=True,
        )
    server = PeerServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_listening(process, port, server.log, "serverless-offline", START_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    return server


def python_version() -> str:
    """What `python3` the peer runs its handler with (PATH as `start` sets it)."""
    found = shutil.which("python3", path=_env()["PATH"])
    if found is None:
        return "n/a (no python3 on PATH)"
    completed = subprocess.run(
        [found, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    version = completed.stdout.strip() or completed.stderr.strip()
    # The interpreter's own path stays out of the report (it names this machine's layout).
    same = Path(found).resolve() == Path(sys.executable).resolve()
    which = "the bench's interpreter" if same else "another python3 on PATH"
    return f"{version} ({which})"
