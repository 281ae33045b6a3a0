"""The dead-letter and event invoke configuration repositories, on SQLite and PostgreSQL
(the `store_engine` fixture of conftest.py)."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.helpers import queue_store


def test_failed_events_are_listed_redriven_and_deleted(store_engine: Engine) -> None:
    queue_store.failed_events_are_listed_redriven_and_deleted(store_engine)


def test_redriving_everything_moves_every_letter_in_one_go(store_engine: Engine) -> None:
    queue_store.redriving_everything_moves_every_letter_in_one_go(store_engine)


def test_the_retention_sweep_deletes_old_letters_only(store_engine: Engine) -> None:
    queue_store.the_retention_sweep_deletes_old_letters_only(store_engine)


def test_event_configs_are_put_listed_and_deleted_per_function(store_engine: Engine) -> None:
    queue_store.event_configs_are_put_listed_and_deleted_per_function(store_engine)
