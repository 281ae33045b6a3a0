"""Rotating the master key: every secret re-sealed, nothing lost, the old key useless, and a
rotation cut short by a crash settled at the next start."""

from __future__ import annotations

import base64
import secrets
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from faas.auth.masterkey import MasterKey, load_master_key
from faas.auth.rotation import pending_path
from faas.store import make_engine
from faas.store.reseal import reseal_secrets
from tests.helpers.server import FAAS, FaasServer, clean_env, free_port

ECHO = "import os\n\ndef handler(event, context):\n    return os.environ['SECRET']\n"


def deployed_server(data_dir: Path, value: str) -> FaasServer:
    server = FaasServer.start(data_dir)
    server.deploy("vault", {"app.py": ECHO}, Environment={"Variables": {"SECRET": value}})
    assert server.cli("keys", "create", "ci").returncode == 0
    return server


def start_refused(data_dir: Path) -> str:
    started = subprocess.run(
        [*FAAS, "serve", "--port", str(free_port()), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert started.returncode == 1
    return started.stdout + started.stderr


def test_rotation_reseals_everything_and_retires_the_old_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    value = secrets.token_hex(8)
    deployed_server(data_dir, value).stop()
    old_key = (data_dir / "master.key").read_bytes()

    rotated = FaasServer.start(data_dir, extra_args=["--rotate-master-key"])
    try:
        assert rotated.invoke("vault")[1] == value
        listed = rotated.cli("keys", "ls")
        assert listed.returncode == 0 and "ci" in listed.stdout
        assert "rotated the master key" in rotated.log()
    finally:
        rotated.stop()
    assert (data_dir / "master.key").read_bytes() != old_key
    assert not pending_path(data_dir / "master.key").exists()
    assert (data_dir / "master.key").stat().st_mode & 0o077 == 0

    (data_dir / "master.key").write_bytes(old_key)  # an old backup of the key: useless now
    assert "does not open with this master key" in start_refused(data_dir)


def _interrupt(data_dir: Path, *, after_commit: bool) -> bytes:
    """What a crash leaves: the new key beside the old one, the database re-sealed or not."""
    key_path = data_dir / "master.key"
    old = load_master_key(key_path, create=False)
    new = MasterKey(secrets.token_bytes(32))
    pending = pending_path(key_path)
    pending.write_text(base64.b64encode(new.key).decode() + "\n")
    pending.chmod(0o600)
    if after_commit:
        engine: Engine = make_engine(f"sqlite:///{data_dir / 'faas.db'}")
        try:
            reseal_secrets(engine, old, new)
        finally:
            engine.dispose()
    return new.key if after_commit else old.key


@pytest.mark.parametrize("after_commit", [True, False])
def test_a_rotation_cut_short_is_settled_at_the_next_start(
    tmp_path: Path, after_commit: bool
) -> None:
    data_dir = tmp_path / "data"
    value = secrets.token_hex(8)
    deployed_server(data_dir, value).stop()
    expected_key = _interrupt(data_dir, after_commit=after_commit)

    restarted = FaasServer.start(data_dir)
    try:
        assert restarted.invoke("vault")[1] == value
    finally:
        restarted.stop()
    assert load_master_key(data_dir / "master.key", create=False).key == expected_key
    assert not pending_path(data_dir / "master.key").exists()
