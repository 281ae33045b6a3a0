"""The queue's repositories on SQLite (the same scenarios run on PostgreSQL in
tests/integration/test_store_postgres_queue.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from faas.store import make_engine, migrate
from tests.helpers import queue_store
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'faas.db'}")
    migrate(made, sealer=TEST_SEALER)
    yield made
    made.dispose()


def test_failed_events_are_listed_redriven_and_deleted(engine: Engine) -> None:
    queue_store.failed_events_are_listed_redriven_and_deleted(engine)


def test_redriving_everything_moves_every_letter_in_one_go(engine: Engine) -> None:
    queue_store.redriving_everything_moves_every_letter_in_one_go(engine)


def test_the_retention_sweep_deletes_old_letters_only(engine: Engine) -> None:
    queue_store.the_retention_sweep_deletes_old_letters_only(engine)


def test_event_configs_are_put_listed_and_deleted_per_function(engine: Engine) -> None:
    queue_store.event_configs_are_put_listed_and_deleted_per_function(engine)
