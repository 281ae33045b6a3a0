"""Provisioned concurrency's allocation intervals: opened and closed with the function's row,
and billed per month in 5-minute increments."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from faas import billing
from faas.domain import FunctionConfig
from faas.store import FunctionRepo, make_engine, migrate
from faas.store.provisioned_allocations import ProvisionedAllocationRepo
from tests.helpers.sealing import TEST_SEALER
from tests.unit.store.test_store_repos import config

DECEMBER = billing.month_range_ms("2026-12")[0] / 1000  # 2026-12-01T00:00:00Z, in seconds


class Clock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'faas.db'}")
    migrate(made, sealer=TEST_SEALER)
    yield made
    made.dispose()


def gb_seconds(repo: ProvisionedAllocationRepo, month: str, now_s: float) -> dict[str, Decimal]:
    return {
        name: use.provisioned_gb_seconds
        for name, use in repo.month(month, int(now_s * 1000)).items()
    }


def change(functions: FunctionRepo, cfg: FunctionConfig, **changes: object) -> FunctionConfig:
    changed = dataclasses.replace(cfg, revision_id=cfg.revision_id + "x", **changes)  # type: ignore[arg-type]
    functions.replace(changed, cfg.revision_id)
    return changed


def test_an_allocation_follows_the_function_and_rounds_up_to_5_minutes(engine: Engine) -> None:
    clock = Clock(DECEMBER + 3600)
    functions = FunctionRepo(engine, TEST_SEALER, clock=clock)
    allocations = ProvisionedAllocationRepo(engine)
    cfg = config("warm", memory_mb=1024)
    functions.insert(cfg)
    assert gb_seconds(allocations, "2026-12", clock.now_s + 600) == {}

    cfg = change(functions, cfg, provisioned_concurrency=2)
    clock.now_s += 1  # 1 s allocated so far: one 5-minute increment
    assert gb_seconds(allocations, "2026-12", clock.now_s) == {"warm": Decimal(2 * 300)}

    clock.now_s += 400  # 401 s at 2 x 1 GB, then 2 GB for 10 s more
    cfg = change(functions, cfg, memory_mb=2048)
    cfg = change(functions, cfg, description="not an allocation change")
    clock.now_s += 10
    functions.delete("warm")
    later = clock.now_s + 86_400
    expected = Decimal(2 * 600) + Decimal(2 * 2 * 300)  # 401 s -> 600 s; 10 s -> 300 s
    assert gb_seconds(allocations, "2026-12", later) == {"warm": expected}
    assert gb_seconds(allocations, "2027-01", later) == {}


def test_an_open_allocation_bills_each_month_its_own_part(engine: Engine) -> None:
    november_end = DECEMBER - 60  # a minute before December
    clock = Clock(november_end)
    functions = FunctionRepo(engine, TEST_SEALER, clock=clock)
    allocations = ProvisionedAllocationRepo(engine)
    functions.insert(config("warm", memory_mb=512, provisioned_concurrency=1))
    now = DECEMBER + 3600  # still open an hour into December
    assert gb_seconds(allocations, "2026-11", now) == {"warm": Decimal("0.5") * 300}
    assert gb_seconds(allocations, "2026-12", now) == {"warm": Decimal("0.5") * 3600}
    assert gb_seconds(allocations, "2027-01", now) == {}
