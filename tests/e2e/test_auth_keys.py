"""Access keys against a real `faas serve`: removal and rotation take effect at once, keys
survive a restart, secrets are at rest only in the credentials file (sealed everywhere else),
a data directory without its master key refuses to start, and authentication can be off only
on loopback."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import stat
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from tests.helpers.auth import (
    ECHO,
    FUNCTIONS,
    allow,
    call,
    create_key,
    create_key_with_cli,
    denial,
    key_of,
    policy,
    unique,
)
from tests.helpers.server import FAAS, REGION, AccessKey, FaasServer, clean_env, free_port

UNRECOGNIZED = (403, "UnrecognizedClientException")
INVOKE_ONLY = policy(allow("lambda:InvokeFunction", "*"))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def invokes(server: FaasServer, key: AccessKey, function: str) -> bool:
    reply = call(server, f"{FUNCTIONS}/{function}/invocations", key, method="POST", body=b"{}")
    return reply.status == 200


@pytest.fixture(scope="module")
def echo(server: FaasServer) -> str:
    name = unique("echo")
    server.deploy(name, {"app.py": ECHO})
    return name


def test_a_removed_key_is_unrecognized_at_once(
    server: FaasServer, echo: str, tmp_path: Path
) -> None:
    name = unique("leaving")
    key = create_key_with_cli(server, tmp_path, name, INVOKE_ONLY)
    assert invokes(server, key, echo)
    removed = server.cli("keys", "rm", name)
    assert removed.returncode == 0, removed.stderr
    assert call(server, FUNCTIONS + f"/{echo}/invocations", key, method="POST").refusal == (
        UNRECOGNIZED
    )
    listed = server.cli("--json", "keys", "ls")
    assert name not in {k["Name"] for k in json.loads(listed.stdout)["AccessKeys"]}


def test_a_rotated_key_works_only_with_its_new_pair(server: FaasServer, echo: str) -> None:
    name = unique("rotating")
    old = create_key(server, name, INVOKE_ONLY)
    assert invokes(server, old, echo)
    rotated = server.cli("--json", "keys", "rotate", name)
    assert rotated.returncode == 0, rotated.stderr
    new = key_of(json.loads(rotated.stdout))
    assert new.access_key_id != old.access_key_id and new.secret != old.secret
    assert call(server, FUNCTIONS + "/", old).refusal == UNRECOGNIZED
    assert invokes(server, new, echo)
    # Same policy as before: still invoke-only.
    reply = call(server, FUNCTIONS + "/", new)
    assert reply.refusal == (403, "AccessDeniedException")
    assert reply.message == denial(name, "lambda:ListFunctions", "*")


def test_rotating_admin_rewrites_the_credentials_file_and_the_cli_follows(
    server: FaasServer,
) -> None:
    credentials = server.data_dir / "credentials"
    old = server.admin_key
    rotated = server.cli("--json", "keys", "rotate", "admin")
    assert rotated.returncode == 0, rotated.stderr
    new = key_of(json.loads(rotated.stdout))
    assert server.admin_key == new  # read back from the file
    assert mode_of(credentials) == 0o600
    assert call(server, FUNCTIONS + "/", old).refusal == UNRECOGNIZED
    listed = server.cli("ls")
    assert listed.returncode == 0, listed.stderr
    assert call(server, FUNCTIONS + "/", new).status == 200


def allocated_chunks(path: Path) -> Iterator[bytes]:
    """The data of a file, skipping holes (a worker's /tmp image is sparse and large)."""
    with path.open("rb") as file:
        descriptor, size, offset = file.fileno(), path.stat().st_size, 0
        while offset < size:
            try:
                start = os.lseek(descriptor, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: nothing but a hole up to the end
                return
            end = os.lseek(descriptor, start, os.SEEK_HOLE)
            file.seek(start)
            yield file.read(end - start)
            offset = end


def files_holding(root: Path, secrets_: Mapping[str, str]) -> list[str]:
    """`file: secret name` for every file under `root` holding one of the secrets."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        for chunk in allocated_chunks(path):
            found += [f"{path.name}: {n}" for n, s in secrets_.items() if s.encode() in chunk]
    return found


def refused_start(data_dir: Path, env: Mapping[str, str] | None = None, *args: str) -> str:
    """The output of a `faas serve` that must refuse to start (exit 1, one clear line)."""
    port = free_port()
    started = subprocess.run(
        [*FAAS, "serve", "--port", str(port), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=clean_env(env),
        timeout=60,
        check=False,
    )
    output = started.stdout + started.stderr
    assert started.returncode == 1, output
    lines = [line for line in output.splitlines() if "cannot start: " in line]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "something listens after a refusal"
    return lines[0]


def test_keys_survive_a_restart_sealed_and_the_master_key_is_required(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = FaasServer.start(data_dir)
    try:
        server.deploy("echo", {"app.py": ECHO})
        key = create_key(server, "survivor", INVOKE_ONLY)
        assert invokes(server, key, "echo")
        admin = server.admin_key
        held = {"admin": admin.secret, "survivor": key.secret}
        assert mode_of(data_dir / "credentials") == mode_of(data_dir / "master.key") == 0o600
        running = files_holding(data_dir, held)  # the WAL and the workers' /tmp included
        assert running == ["credentials: admin"]
    finally:
        assert server.stop() == 0
    assert files_holding(data_dir, held) == ["credentials: admin"]
    assert admin.secret not in server.log() and key.secret not in server.log()
    credentials_text = (data_dir / "credentials").read_text()

    master = data_dir / "master.key"
    kept = master.read_bytes()
    master.unlink()
    line = refused_start(data_dir)
    assert f"the master key file {master} is missing" in line
    another = base64.b64encode(secrets.token_bytes(32)) + b"\n"
    master.write_bytes(another)
    master.chmod(0o600)
    line = refused_start(data_dir)
    assert "does not open with this master key" in line
    assert (data_dir / "credentials").read_text() == credentials_text  # no new admin made

    master.write_bytes(kept)
    server = FaasServer.start(data_dir)
    try:
        assert server.admin_key == admin
        assert invokes(server, key, "echo")
        listed = server.cli("--json", "keys", "ls")
        assert {k["Name"] for k in json.loads(listed.stdout)["AccessKeys"]} == {
            "admin",
            "survivor",
        }
    finally:
        server.stop()


# -- authentication off -----------------------------------------------------------------------


def test_authentication_off_is_refused_on_a_public_address(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    line = refused_start(data_dir, {"FAAS_AUTH_ENABLED": "false"}, "--host", "0.0.0.0")
    assert "auth.enabled = false is refused on 0.0.0.0" in line
    assert not (data_dir / "credentials").exists() and not (data_dir / "faas.db").exists()


def test_authentication_off_on_loopback_serves_anyone_and_says_so(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data", env={"FAAS_AUTH_ENABLED": "false"})
    anyone = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name=REGION,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )
    try:
        server.deploy("open", {"app.py": ECHO})
        response = anyone.invoke(FunctionName="open", Payload=b'{"who": "anyone"}')
        assert json.loads(response["Payload"].read()) == {"echo": {"who": "anyone"}}
        names = {f["FunctionName"] for f in anyone.list_functions()["Functions"]}
        assert names == {"open"}
        anyone.delete_function(FunctionName="open")
        health = call(server, "/health", None).json()
        assert health["auth"].startswith("DISABLED")
        assert "sandbox" in health
        assert "AUTHENTICATION IS OFF" in server.log()
    finally:
        anyone.close()
        server.stop()
