"""A real SQLite database with the access_keys table, a master key, a keyring over both."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from faas.auth.keys import KeyRing
from faas.auth.masterkey import KEY_BYTES, MasterKey
from faas.store import make_engine, migrate
from faas.store.repos import KeyRepo
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "faas.db"


@pytest.fixture
def engine(database: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{database}")
    migrate(made, sealer=TEST_SEALER)
    yield made
    made.dispose()


@pytest.fixture
def master() -> MasterKey:
    return MasterKey(secrets.token_bytes(KEY_BYTES))


@pytest.fixture
def ring(engine: Engine, master: MasterKey) -> KeyRing:
    keys = KeyRing(KeyRepo(engine), master)
    keys.load()
    return keys
