"""The snapshot start and provisioned concurrency columns: stored, read back, added to old files."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from faas.domain import FunctionConfig
from faas.store import FunctionRepo, make_engine, migrate
from faas.store.migrations import baseline
from tests.helpers.configs import function_config
from tests.helpers.sealing import TEST_SEALER


def config(name: str) -> FunctionConfig:
    return function_config(name)


def test_snap_start_and_provisioned_concurrency_round_trip(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/faas.db")
    migrate(engine, sealer=TEST_SEALER)
    repo = FunctionRepo(engine, TEST_SEALER)
    on = dataclasses.replace(config("on"), snap_start=True, provisioned_concurrency=3)
    repo.insert(on)
    repo.insert(config("off"))

    assert repo.get("on") == on
    off = repo.get("off")
    assert off is not None
    assert (off.snap_start, off.provisioned_concurrency) == (False, None)

    repo.replace(dataclasses.replace(on, snap_start=False, provisioned_concurrency=None), "rev-1")
    changed = repo.get("on")
    assert changed is not None
    assert (changed.snap_start, changed.provisioned_concurrency) == (False, None)
    engine.dispose()


def test_an_old_database_gains_the_columns_with_everything_off(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    baseline.metadata.create_all(engine)  # the schema of the last release before migrations
    engine.dispose()
    with sqlite3.connect(path) as raw:  # a release before migrations and snapshot start
        raw.execute("ALTER TABLE functions DROP COLUMN snap_start")
        raw.execute("ALTER TABLE functions DROP COLUMN provisioned_concurrency")
        raw.execute(
            "INSERT INTO functions (name, runtime, handler, role, memory_mb, timeout_s, "
            "ephemeral_storage_mb, environment, description, code_sha256, code_size, "
            "revision_id, last_modified) VALUES ('old', 'python3.11', 'app.handler', "
            "'r', 128, 3, 512, '{}', '', 'abc', 1, 'rev', 'now')"
        )

    engine = make_engine(f"sqlite:///{path}")
    migrate(engine, sealer=TEST_SEALER)
    (old,) = FunctionRepo(engine, TEST_SEALER).all()
    engine.dispose()

    assert (old.name, old.snap_start, old.provisioned_concurrency) == ("old", False, None)
