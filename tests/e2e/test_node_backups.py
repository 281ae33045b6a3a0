"""`faas backup` of a node under load, `faas restore` onto a new data directory, and a server
there that has everything: functions, keys (their secrets still verify), triggers, and the
record of every invocation answered before the backup started."""

from __future__ import annotations

import json
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.auth import call, create_key
from tests.helpers.server import FAAS, FaasServer, clean_env

ECHO = "def handler(event, context):\n    return {'echo': event}\n"
INVOKE_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
}
ANSWERED_BEFORE = 30


def ok(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def invoke_id(server: FaasServer, name: str, event: dict[str, Any]) -> str:
    response, body = server.invoke(name, event)
    assert body == {"echo": event}
    return str(response["ResponseMetadata"]["RequestId"])


def restore_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FAAS, "restore", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )


def record_ids(server: FaasServer, name: str) -> set[str]:
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return {str(record["RequestId"]) for record in json.load(r)["Invocations"]}


class Load:
    """Invocations running the whole time a backup is made."""

    def __init__(self, server: FaasServer, name: str) -> None:
        self._server, self._name = server, name
        self._stop = threading.Event()
        self.answered = 0
        self._threads = [threading.Thread(target=self._run) for _ in range(3)]

    def _run(self) -> None:
        while not self._stop.is_set():
            invoke_id(self._server, self._name, {"load": True})
            self.answered += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def test_a_node_backed_up_under_load_restores_with_everything(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    # Records stay in the journal until something asks for them: the backup must.
    server = FaasServer.start(tmp_path / "node", env={"FAAS_STORE_INGEST_INTERVAL_S": "3600"})
    try:
        server.deploy("echo", {"app.py": ECHO})
        server.deploy("thumbs", {"app.py": ECHO})
        reader = create_key(server, "reader", INVOKE_ONLY)
        ok(server.cli("bucket", "add", "photos", str(photos)))
        ok(server.cli("trigger", "add", "thumbs", "--bucket", "photos", "--suffix", ".jpg"))
        ok(server.cli("trigger", "add", "echo", "--schedule", "rate(1 hour)"))
        triggers = json.loads(ok(server.cli("--json", "trigger", "ls")))["Triggers"]
        answered = {invoke_id(server, "echo", {"n": n}) for n in range(ANSWERED_BEFORE)}
        with Load(server, "echo") as load:
            while load.answered < 5:  # invocations are running when the backup starts
                threading.Event().wait(0.05)
            started = load.answered
            backed_up = ok(server.cli("backup", str(tmp_path / "node.tar")))
            assert load.answered > started  # and went on being answered while it ran
    finally:
        server.stop()
    assert "database sqlite" in backed_up
    assert (tmp_path / "node.tar").stat().st_mode & 0o077 == 0  # it holds the master key

    restored = ok(restore_cli(str(tmp_path / "node.tar"), "--data-dir", str(tmp_path / "copy")))
    assert f"faas serve --data-dir {tmp_path / 'copy'}" in restored
    copy = FaasServer.start(tmp_path / "copy")
    try:
        names = {f["FunctionName"] for f in copy.client().list_functions()["Functions"]}
        assert names == {"echo", "thumbs"}
        assert invoke_id(copy, "thumbs", {"after": "restore"})  # its code came along
        keys = {k["Name"] for k in json.loads(ok(copy.cli("--json", "keys", "ls")))["AccessKeys"]}
        assert keys == {"admin", "reader"}
        # The secret was sealed under the master key: it verifies only if both came back.
        reply = call(copy, "/2015-03-31/functions/echo/invocations", reader, method="POST")
        assert reply.status == 200, reply
        restored_triggers = json.loads(ok(copy.cli("--json", "trigger", "ls")))["Triggers"]
        assert {t["Id"] for t in restored_triggers} == {t["Id"] for t in triggers}
        assert {
            b["Name"] for b in json.loads(ok(copy.cli("--json", "bucket", "ls")))["Buckets"]
        } >= {"photos"}
        assert answered <= record_ids(copy, "echo")
    finally:
        copy.stop()


def test_only_a_key_allowed_faas_backup_gets_a_backup(server: FaasServer, tmp_path: Path) -> None:
    invoker = create_key(server, "no-backups", INVOKE_ONLY)
    refused = server.cli(
        "backup",
        str(tmp_path / "refused.tar"),
        env={"FAAS_ACCESS_KEY_ID": invoker.access_key_id, "FAAS_SECRET_ACCESS_KEY": invoker.secret},
    )
    assert refused.returncode == 1
    assert "AccessDeniedException" in refused.stderr and "faas:Backup" in refused.stderr
    assert not (tmp_path / "refused.tar").exists()
    assert not list(tmp_path.glob(".*partial"))


def test_restore_refuses_a_data_directory_in_use(server: FaasServer, tmp_path: Path) -> None:
    ok(server.cli("backup", str(tmp_path / "node.tar")))
    refused = restore_cli(str(tmp_path / "node.tar"), "--data-dir", str(server.data_dir))
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the data directory") and "in use by a running" in (
        refused.stderr
    )
    assert refused.stderr.count("\n") == 1


def test_the_archive_lists_no_cache_lock_or_journal(server: FaasServer, tmp_path: Path) -> None:
    server.deploy("listed", {"app.py": ECHO})
    server.invoke("listed", {})
    ok(server.cli("backup", str(tmp_path / "node.tar")))
    with tarfile.open(tmp_path / "node.tar") as archive:
        names = archive.getnames()
    assert names[:2] == ["manifest.json", "database/faas.db"]
    assert {"keys/master.key", "keys/credentials"} <= set(names)
    data = [name for name in names if name.startswith("data/")]
    assert data and all(name.startswith("data/code/") and name.endswith(".zip") for name in data)


@pytest.mark.parametrize("what", ["truncated", "corrupt"])
def test_a_damaged_archive_is_refused_in_one_line_and_writes_nothing(
    server: FaasServer, tmp_path: Path, what: str
) -> None:
    ok(server.cli("backup", str(tmp_path / "node.tar")))
    data = bytearray((tmp_path / "node.tar").read_bytes())
    if what == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    (tmp_path / "damaged.tar").write_bytes(bytes(data))
    refused = restore_cli(str(tmp_path / "damaged.tar"), "--data-dir", str(tmp_path / "copy"))
    assert refused.returncode == 1, refused.stdout
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert not (tmp_path / "copy").exists()


def test_backup_with_no_server_says_so(tmp_path: Path) -> None:
    completed = subprocess.run(
        [*FAAS, "--url", "http://127.0.0.1:9", "backup", str(tmp_path / "b.tar")],
        capture_output=True,
        text=True,
        env=clean_env({"FAAS_ACCESS_KEY_ID": "AKFAX", "FAAS_SECRET_ACCESS_KEY": "s"}),
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert "cannot reach faas" in completed.stderr
    assert not (tmp_path / "b.tar").exists()
