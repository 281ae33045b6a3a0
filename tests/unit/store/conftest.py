"""The engine of the queue's store tests: each test runs on SQLite and on PostgreSQL (the
PostgreSQL run skips, saying why, where it is not reachable; CI requires it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from faas.store import make_engine, migrate
from tests.helpers.postgres import schema_url
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'faas.db'}")
        migrate(made, sealer=TEST_SEALER)
        yield made
        made.dispose()
        return
    for url in schema_url():
        made = make_engine(url)
        migrate(made, sealer=TEST_SEALER)
        yield made
        made.dispose()
