"""Environments are sealed in the database: nothing of them in plaintext, bound to their
function, opened only with the master key that sealed them."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from faas.auth.masterkey import MasterKey, MasterKeyProblem
from faas.domain import FunctionConfig
from faas.store import FunctionRepo, make_engine, migrate
from tests.helpers.databases import make_old_data_dir
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "faas.db"


@pytest.fixture
def engine(database: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{database}")
    migrate(made)
    yield made
    made.dispose()


def config(name: str, environment: dict[str, str]) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/r",
        memory_mb=128,
        timeout_s=3,
        ephemeral_storage_mb=512,
        environment=environment,
        description="",
        code_sha256="0" * 64,
        code_size=1,
        revision_id="rev",
        last_modified="now",
    )


def files_mention(directory: Path, needle: bytes) -> list[str]:
    return [p.name for p in directory.iterdir() if p.is_file() and needle in p.read_bytes()]


def test_an_environment_round_trips_and_is_nowhere_in_plaintext(
    engine: Engine, database: Path
) -> None:
    secret = secrets.token_hex(16)
    repo = FunctionRepo(engine, TEST_SEALER)
    repo.insert(config("fn", {"DB_PASSWORD": secret, "MODE": "prod"}))

    assert repo.get("fn") == config("fn", {"DB_PASSWORD": secret, "MODE": "prod"})
    with sqlite3.connect(database) as raw:
        (stored,) = raw.execute("SELECT environment FROM functions").fetchone()
    assert stored.startswith("sealed:")
    assert files_mention(database.parent, secret.encode()) == []
    assert files_mention(database.parent, b"DB_PASSWORD") == []


def test_another_master_key_or_another_function_s_row_does_not_open(
    engine: Engine, database: Path
) -> None:
    repo = FunctionRepo(engine, TEST_SEALER)
    repo.insert(config("a", {"K": "v"}))
    repo.insert(config("b", {}))
    with pytest.raises(MasterKeyProblem):
        FunctionRepo(engine, MasterKey(secrets.token_bytes(32))).get("a")
    with sqlite3.connect(database) as raw:  # a's sealed environment copied onto b's row
        raw.execute(
            "UPDATE functions SET environment = (SELECT environment FROM functions "
            "WHERE name = 'a') WHERE name = 'b'"
        )
    with pytest.raises(MasterKeyProblem):
        repo.get("b")


def test_the_migration_seals_an_old_database_and_leaves_no_plaintext_behind(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    make_old_data_dir(data_dir, "previous_release.sql")
    database = data_dir / "faas.db"
    assert files_mention(data_dir, b"GREETING")  # the old release's plaintext environment

    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate(engine, sealer=TEST_SEALER)
        (greeter,) = FunctionRepo(engine, TEST_SEALER).all()
        # While the server runs on (no checkpoint at a last close to tidy up): neither the
        # database file's old pages nor the write-ahead log hold the plaintext.
        still_there = files_mention(data_dir, b"GREETING")
    finally:
        engine.dispose()

    assert greeter.environment == {"GREETING": "hello"}
    assert still_there == []
    assert files_mention(data_dir, b"GREETING") == []


def test_a_database_with_plaintext_environments_needs_the_master_key_to_migrate(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    make_old_data_dir(data_dir, "previous_release.sql")
    engine = make_engine(f"sqlite:///{data_dir / 'faas.db'}")
    try:
        with pytest.raises(RuntimeError, match="needs the master key"):
            migrate(engine)
    finally:
        engine.dispose()
    assert files_mention(data_dir, b"GREETING")  # refused: nothing changed
