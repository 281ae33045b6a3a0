"""The queue's repositories (event queue, dead letters, event invoke configs) against a real
PostgreSQL: the scenarios tests/unit/store/test_store_dead_letters.py runs on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from faas.store import make_engine, migrate
from tests.helpers import queue_store
from tests.helpers.postgres import schema_url
from tests.helpers.sealing import TEST_SEALER

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def schema_engine_url() -> Iterator[str]:
    yield from schema_url()


@pytest.fixture
def engine(schema_engine_url: str) -> Iterator[Engine]:
    made = make_engine(schema_engine_url)
    migrate(made, sealer=TEST_SEALER)
    yield made
    queue_store.clear(made)
    made.dispose()


def test_failed_events_are_listed_redriven_and_deleted(engine: Engine) -> None:
    queue_store.failed_events_are_listed_redriven_and_deleted(engine)


def test_redriving_everything_moves_every_letter_in_one_go(engine: Engine) -> None:
    queue_store.redriving_everything_moves_every_letter_in_one_go(engine)


def test_the_retention_sweep_deletes_old_letters_only(engine: Engine) -> None:
    queue_store.the_retention_sweep_deletes_old_letters_only(engine)


def test_event_configs_are_put_listed_and_deleted_per_function(engine: Engine) -> None:
    queue_store.event_configs_are_put_listed_and_deleted_per_function(engine)
