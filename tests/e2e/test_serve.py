"""`faas serve` itself: a failed start ends cleanly with one clear line."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import psutil

from tests.helpers.server import FAAS, FaasServer, clean_env, free_port


def test_a_port_in_use_ends_the_start_with_a_clear_error_and_nothing_left(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = subprocess.Popen(
            [*FAAS, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            text=True,
        )
        children: set[int] = set()
        try:
            output, _ = started.communicate(timeout=60)
        finally:
            if started.poll() is None:
                children = {c.pid for c in psutil.Process(started.pid).children(recursive=True)}
                started.kill()
    assert started.returncode == 1
    error_lines = [line for line in output.splitlines() if "cannot start" in line]
    assert len(error_lines) == 1, output
    assert f"127.0.0.1:{port} is already in use" in error_lines[0]
    assert "--port" in error_lines[0] and "FAAS_SERVER_PORT" in error_lines[0]
    assert "Traceback" not in output
    assert not children


def test_a_second_server_on_the_same_data_directory_is_refused_and_harms_nothing(
    fresh_server: FaasServer, tmp_path: Path
) -> None:
    fresh_server.deploy("first", {"app.py": HELLO})
    for port in (free_port(), int(fresh_server.url.rsplit(":", 1)[1])):  # free, and taken
        second = subprocess.run(
            [*FAAS, "serve", "--port", str(port), "--data-dir", str(fresh_server.data_dir)],
            capture_output=True,
            env=clean_env(),
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        lines = [line for line in second.stderr.splitlines() if "cannot start" in line]
        assert len(lines) == 1, second.stderr
        assert f"in use by another faas server (pid {fresh_server.process.pid})" in lines[0]
        assert "Traceback" not in second.stderr
    # The running server's /tmp images, code and database are intact: cold starts still work
    # (each new function takes a fresh /tmp slot), and so does a clean stop.
    for name in ("second", "third"):
        fresh_server.deploy(name, {"app.py": HELLO})
        _, body = fresh_server.invoke(name, {"n": name})
        assert body == {"hello": name}
    assert fresh_server.invoke("first", {"n": 1})[1] == {"hello": 1}
    assert fresh_server.stop() == 0
    assert "Traceback" not in fresh_server.log()


def test_the_lock_goes_with_the_server_even_when_it_is_killed(tmp_path: Path) -> None:
    first = FaasServer.start(tmp_path / "data")
    first.kill()
    second = FaasServer.start(tmp_path / "data")
    try:
        second.deploy("after", {"app.py": HELLO})
        assert second.invoke("after", {"n": "ok"})[1] == {"hello": "ok"}
    finally:
        second.stop()


HELLO = """
def handler(event, context):
    return {"hello": event.get("n")}
"""
