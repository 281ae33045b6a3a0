"""`faas serve` itself: a failed start ends cleanly with one clear line."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import psutil

from tests.helpers.server import FAAS, clean_env


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
    assert "cannot start" in output and "address already in use" in output
    assert not children
