"""Upgrading faas: a data directory from a release before schema migrations keeps serving its
function and records; one written by a newer faas is refused in one line, untouched."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from faas.store import make_engine, migrate
from tests.helpers.databases import DUMPS, HEAD, make_old_data_dir, sqlite_dump, sqlite_rows
from tests.helpers.sealing import TEST_SEALER, write_test_master_key
from tests.helpers.server import FAAS, FaasServer, clean_env, free_port


def offer_the_fixtures_runtime(directory: Path) -> None:
    """The fixtures' function runs on python3.11: a config.toml where the server starts
    offers that name on this interpreter, as an operator would after a Python upgrade."""
    interpreter = json.dumps(sys.executable)  # a JSON string is a valid TOML basic string
    (directory / "config.toml").write_text(f'[runtimes]\n"python3.11" = {interpreter}\n')


@pytest.mark.parametrize("dump", DUMPS)
def test_a_data_directory_from_before_migrations_serves_its_function_and_records(
    tmp_path: Path, dump: str
) -> None:
    data_dir = tmp_path / "data"
    make_old_data_dir(data_dir, dump)
    old_request_ids = [
        row["request_id"] for row in sqlite_rows(data_dir / "faas.db", "invocations")
    ]
    offer_the_fixtures_runtime(tmp_path)  # FaasServer starts in data_dir's parent

    server = FaasServer.start(data_dir)
    try:
        listed = server.cli("--json", "ls")
        kept = server.cli("--json", "records", "greeter")
        invoked = server.cli("invoke", "greeter", "--payload", '{"name": "lin"}')
        now = server.cli("--json", "records", "greeter")
    finally:
        server.stop()

    assert "brought to the baseline revision" in server.log()
    assert listed.returncode == 0, listed.stderr
    (function,) = json.loads(listed.stdout)
    assert (function["FunctionName"], function["MemorySize"], function["Timeout"]) == (
        "greeter",
        256,
        5,
    )
    assert function["Environment"] == {"Variables": {"GREETING": "hello"}}
    assert kept.returncode == 0, kept.stderr
    records = json.loads(kept.stdout)["Invocations"]
    assert [record["RequestId"] for record in records] == old_request_ids[::-1]
    assert [record["Status"] for record in records] == ["Unhandled", "Success", "Success"]
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"greeting": "hello, lin"}
    newest, *older = json.loads(now.stdout)["Invocations"]
    assert [record["RequestId"] for record in older] == old_request_ids[::-1]
    assert (newest["FunctionName"], newest["Status"]) == ("greeter", "Success")


def test_a_data_directory_from_a_newer_faas_is_refused_in_one_line_and_left_untouched(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    make_old_data_dir(data_dir, "previous_release.sql")
    database = data_dir / "faas.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine, sealer=TEST_SEALER)
    engine.dispose()
    write_test_master_key(data_dir)  # what sealed its environments
    with contextlib.closing(sqlite3.connect(database)) as raw, raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    before = sqlite_dump(database)

    started = subprocess.run(
        [*FAAS, "serve", "--port", str(free_port()), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )

    output = started.stdout + started.stderr
    assert started.returncode == 1, output
    refusals = [line for line in output.splitlines() if "cannot start" in line]
    assert len(refusals) == 1, output
    assert refusals[0].endswith(
        f"cannot start: the database at sqlite:///{database} has schema revision 9999, newer "
        f"than this faas knows ({HEAD}): upgrade faas, or restore a backup made with this version"
    ), output
    assert "Traceback" not in output
    assert sqlite_dump(database) == before
