"""faas started the way deploy/systemd/faas.service starts it: its command line, environment,
umask, no_new_privs, working and state directories, all read from the unit file (paths below
a root of the test's own), then a deploy, an invoke, and the stop signal."""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import FAAS, FaasServer, clean_env, free_port
from tests.helpers.systemd_unit import Unit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
UNIT = Unit.read(DEPLOY / "faas.service")
INSTALLED_FAAS = "/opt/faas/bin/faas"  # where install.sh puts it
# systemd's PATH for system services.
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PR_SET_NO_NEW_PRIVS = 38
HELLO = "def handler(event, context):\n    return {'hello': event['name']}\n"


def host_path(root: Path, path: str) -> Path:
    """An absolute path of the host, below `root`."""
    return root / path.lstrip("/")


def service_environment(root: Path, port: int) -> dict[str, str]:
    """What systemd gives the service: its own PATH, the directories it made, Environment=."""
    env = {
        "PATH": SERVICE_PATH,
        "STATE_DIRECTORY": str(host_path(root, f"/var/lib/{UNIT.one('Service.StateDirectory')}")),
        "CONFIGURATION_DIRECTORY": str(
            host_path(root, f"/etc/{UNIT.one('Service.ConfigurationDirectory')}")
        ),
    }
    for assignment in UNIT.options.get("Service.Environment", []):
        for pair in shlex.split(assignment):
            key, _, value = pair.partition("=")
            env[key] = value
    # Only for the test: a free port (the environment outranks config.toml), and, as in the
    # rest of the suite, the host's network configuration left alone.
    env["FAAS_SERVER_PORT"] = str(port)
    env["FAAS_SANDBOX_NETWORK_LAYER"] = clean_env()["FAAS_SANDBOX_NETWORK_LAYER"]
    if "PYTHONPATH" in os.environ:  # the faas under test, where it is not installed
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def command_line(env: dict[str, str]) -> list[str]:
    """ExecStart with systemd's ${VAR} expansion, the installed faas replaced by this one."""
    expanded = shlex.split(UNIT.one("Service.ExecStart"))
    for name, value in env.items():
        expanded = [word.replace("${" + name + "}", value) for word in expanded]
    assert expanded[0] == INSTALLED_FAAS
    assert "${" not in " ".join(expanded), expanded
    return [*FAAS, *expanded[1:]]


def as_the_unit_starts_it() -> None:
    """In the child before exec: the unit's UMask and NoNewPrivileges."""
    os.umask(int(UNIT.one("Service.UMask"), 8))
    if UNIT.get("Service.NoNewPrivileges") == "yes":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[FaasServer]:
    root = tmp_path / "root"
    port = free_port()
    env = service_environment(root, port)
    state = Path(env["STATE_DIRECTORY"])
    state.mkdir(parents=True, mode=int(UNIT.one("Service.StateDirectoryMode"), 8))
    config_dir = Path(env["CONFIGURATION_DIRECTORY"])
    config_dir.mkdir(parents=True)
    shutil.copy(DEPLOY / "config.toml", config_dir / "config.toml")  # as install.sh does
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command_line(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=host_path(root, UNIT.one("Service.WorkingDirectory")),
            preexec_fn=as_the_unit_starts_it,  # noqa: PLW1509 (no threads in this process use it)
        )
    running = FaasServer(process, f"http://127.0.0.1:{port}", state, log_path)
    try:
        running.wait_healthy()
        yield running
    finally:
        if process.poll() is None:
            running.kill()


def test_faas_serves_as_the_unit_runs_it(service: FaasServer) -> None:
    service.deploy("hello", {"app.py": HELLO})
    assert service.invoke("hello", {"name": "unit"})[1] == {"hello": "unit"}
    records = service.cli("records", "hello")
    assert records.returncode == 0 and "Success" in records.stdout, records.stderr
    # The state went where the unit says, private to the service.
    for name in ("faas.db", "master.key", "credentials", "code"):
        assert (service.data_dir / name).exists(), name
        assert (service.data_dir / name).stat().st_mode & 0o077 == 0, name


def test_the_unit_costs_no_sandbox_layer(service: FaasServer, fresh_server: FaasServer) -> None:
    """NoNewPrivileges and the unit's environment leave every layer a plain start has."""
    as_service = {row["layer"]: row["active"] for row in service.health()["sandbox"]}
    plain = {row["layer"]: row["active"] for row in fresh_server.health()["sandbox"]}
    assert as_service == plain


def test_the_kill_signal_stops_it_cleanly(service: FaasServer) -> None:
    service.deploy("hello", {"app.py": HELLO})
    service.invoke("hello", {"name": "before the stop"})
    service.process.send_signal(getattr(signal, UNIT.one("Service.KillSignal")))
    assert service.process.wait(float(UNIT.one("Service.TimeoutStopSec"))) == 0
    assert "stopped" in service.log()
