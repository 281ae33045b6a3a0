"""Registry: snapshot start as configuration, provisioned concurrency, change listeners."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from faas.config import ConcurrencySettings
from faas.domain import AliasChange, ConfigChange
from faas.errors import (
    InvalidParameterValue,
    ProvisionedConcurrencyConfigNotFound,
    ResourceConflict,
    ResourceNotFound,
)
from faas.registry.functions import Registry
from faas.store.engine import make_engine
from faas.store.schema import migrate
from tests.helpers.sealing import TEST_SEALER
from tests.unit.registry.test_registry_functions import HANDLER, code_zip, new_registry

SNAPPY = ConfigChange(handler="app.handler", snap_start=True)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/faas.db")
    migrate(engine, sealer=TEST_SEALER)
    yield engine
    engine.dispose()


def open_registry(
    engine: Engine, code_root: Path, concurrency: ConcurrencySettings | None = None
) -> Registry:
    return new_registry(engine, code_root, concurrency=concurrency)


@pytest.fixture
def registry(engine: Engine, tmp_path: Path) -> Registry:
    return open_registry(engine, tmp_path / "code")


@pytest.fixture
def changed(registry: Registry) -> list[str]:
    names: list[str] = []
    registry.add_change_listener(names.append)
    return names


# -- snapshot start --------------------------------------------------------------------------


def test_snap_start_is_off_unless_asked_for(registry: Registry) -> None:
    cfg = registry.create("plain", code_zip(), HANDLER)

    assert cfg.snap_start is False
    assert registry.worker_spec(cfg).snap_start is False


def test_snap_start_reaches_the_worker_spec_and_survives_a_restart(
    registry: Registry, engine: Engine, tmp_path: Path
) -> None:
    cfg = registry.create("snappy", code_zip(), SNAPPY)

    assert registry.worker_spec(cfg).snap_start is True
    reopened = open_registry(engine, tmp_path / "code")
    assert reopened.get("snappy").snap_start is True


def test_turning_snap_start_off_is_a_configuration_change(
    registry: Registry, changed: list[str]
) -> None:
    before = registry.create("snappy", code_zip(), SNAPPY)

    after = registry.update_config("snappy", ConfigChange(snap_start=False))

    # New revision -> new worker key: the old, snapshot-forked workers are retired.
    assert after.revision_id != before.revision_id
    assert registry.worker_spec(after).snap_start is False
    assert registry.worker_spec(after).key != registry.worker_spec(before).key
    assert changed == ["snappy", "snappy"]


def test_a_configuration_update_without_snap_start_leaves_it_on(registry: Registry) -> None:
    registry.create("snappy", code_zip(), SNAPPY)

    assert registry.update_config("snappy", ConfigChange(timeout_s=9)).snap_start is True


def test_snap_start_must_be_a_boolean(registry: Registry) -> None:
    change = ConfigChange(handler="app.handler", snap_start="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterValue, match="snapStart"):
        registry.create("odd", code_zip(), change)
    assert registry.count == 0


# -- provisioned concurrency -----------------------------------------------------------------


def test_put_provisioned_keeps_the_revision_and_is_stored(
    registry: Registry, engine: Engine, tmp_path: Path, changed: list[str]
) -> None:
    before = registry.create("warm", code_zip(), HANDLER)

    put = registry.put_provisioned("warm", "$LATEST", 2)
    after = registry.get("warm")

    assert (put.requested, put.qualifier, after.provisioned_concurrency) == (2, "$LATEST", 2)
    # Not a code or configuration change: same revision, so the same warm workers.
    assert after.revision_id == before.revision_id
    assert registry.worker_spec(after).key == registry.worker_spec(before).key
    assert registry.get_provisioned("warm", "$LATEST") == put
    assert changed == ["warm", "warm"]
    reopened = open_registry(engine, tmp_path / "code")
    assert reopened.get("warm").provisioned_concurrency == 2
    assert reopened.provisioned_functions() == ["warm"]


def test_provisioned_accepts_no_qualifier_and_an_arn(registry: Registry) -> None:
    registry.create("warm", code_zip(), HANDLER)

    registry.put_provisioned("warm", None, 1)
    arn = registry.function_arn("warm")
    registry.put_provisioned(arn, "$LATEST", 3)

    assert registry.get_provisioned(arn).requested == 3


def test_get_without_a_config_is_its_own_not_found(registry: Registry) -> None:
    registry.create("cold", code_zip(), HANDLER)

    with pytest.raises(ProvisionedConcurrencyConfigNotFound) as missing:
        registry.get_provisioned("cold", "$LATEST")
    assert missing.value.code == "ProvisionedConcurrencyConfigNotFoundException"
    assert missing.value.status == 404


def test_delete_provisioned_removes_it_and_is_idempotent(
    registry: Registry, changed: list[str]
) -> None:
    registry.create("warm", code_zip(), HANDLER)
    registry.put_provisioned("warm", "$LATEST", 2)
    revision = registry.get("warm").revision_id

    registry.delete_provisioned("warm", "$LATEST")
    registry.delete_provisioned("warm", "$LATEST")

    assert registry.get("warm").provisioned_concurrency is None
    assert registry.get("warm").revision_id == revision
    assert registry.provisioned_functions() == []
    with pytest.raises(ProvisionedConcurrencyConfigNotFound):
        registry.get_provisioned("warm")
    # create, put, one delete that changed something
    assert changed == ["warm", "warm", "warm"]


@pytest.mark.parametrize("count", [0, -1, True, 1.5, "2"])
def test_provisioned_count_must_be_a_positive_integer(registry: Registry, count: object) -> None:
    registry.create("warm", code_zip(), HANDLER)

    with pytest.raises(InvalidParameterValue, match="provisionedConcurrentExecutions"):
        registry.put_provisioned("warm", "$LATEST", count)  # type: ignore[arg-type]
    assert registry.get("warm").provisioned_concurrency is None


def test_provisioned_cannot_exceed_the_reservation(registry: Registry) -> None:
    registry.create("capped", code_zip(), HANDLER)
    registry.put_concurrency("capped", 3)

    with pytest.raises(InvalidParameterValue, match="cannot be larger than ReservedConcurrent"):
        registry.put_provisioned("capped", "$LATEST", 4)
    assert registry.put_provisioned("capped", "$LATEST", 3).requested == 3


def test_a_reservation_cannot_shrink_below_the_provisioned_workers(registry: Registry) -> None:
    registry.create("capped", code_zip(), HANDLER)
    registry.put_provisioned("capped", "$LATEST", 3)

    with pytest.raises(InvalidParameterValue, match="ProvisionedConcurrentExecutions"):
        registry.put_concurrency("capped", 2)
    assert registry.get("capped").reserved_concurrency is None
    assert registry.put_concurrency("capped", 3).reserved_concurrency == 3


def test_unreserved_provisioned_must_leave_the_account_minimum(
    engine: Engine, tmp_path: Path
) -> None:
    registry = open_registry(
        engine, tmp_path / "code", ConcurrencySettings(account_limit=10, unreserved_minimum=4)
    )
    registry.create("greedy", code_zip(), HANDLER)

    with pytest.raises(InvalidParameterValue, match=r"at most 6 fit"):
        registry.put_provisioned("greedy", "$LATEST", 7)
    assert registry.put_provisioned("greedy", "$LATEST", 6).requested == 6


@pytest.mark.parametrize("qualifier", ["1", "live"])
def test_provisioned_of_a_missing_version_or_alias_is_not_found(
    registry: Registry, qualifier: str
) -> None:
    registry.create("warm", code_zip(), HANDLER)

    with pytest.raises(ResourceNotFound, match=f"function:warm:{qualifier}"):
        registry.put_provisioned("warm", qualifier, 1)
    with pytest.raises(ResourceNotFound):
        registry.get_provisioned("warm", qualifier)
    with pytest.raises(ResourceNotFound):
        registry.delete_provisioned("warm", qualifier)


def test_provisioned_of_a_missing_function_is_not_found(registry: Registry) -> None:
    with pytest.raises(ResourceNotFound, match="Function not found"):
        registry.put_provisioned("ghost", "$LATEST", 1)


def test_a_code_update_keeps_provisioned_concurrency(registry: Registry) -> None:
    registry.create("warm", code_zip(), HANDLER)
    registry.put_provisioned("warm", "$LATEST", 2)

    updated = registry.update_code("warm", code_zip("return 2"))

    assert updated.provisioned_concurrency == 2


def published(registry: Registry, name: str, versions: int = 2) -> None:
    """`name` with `versions` published versions (each with memory 128 x its number)."""
    registry.create(name, code_zip(), HANDLER)
    for number in range(1, versions + 1):
        registry.update_config(name, ConfigChange(memory_mb=128 * number))
        registry.publish_version(name)


def test_versions_and_aliases_have_provisioned_concurrency_of_their_own(
    registry: Registry, engine: Engine, tmp_path: Path, changed: list[str]
) -> None:
    published(registry, "pc")
    registry.create_alias("pc", "live", "2")

    version = registry.put_provisioned("pc", "1", 2)
    alias = registry.put_provisioned("pc:live", None, 3)

    assert (version.qualifier, version.requested) == ("1", 2)
    assert registry.get_provisioned("pc", "live") == alias
    assert registry.provisioned_targets("pc") == {"1": 2, "2": 3}
    assert registry.provisioned_shares("pc", "live") == {"2": 3}
    assert [c.qualifier for c in registry.list_provisioned("pc")] == ["1", "live"]
    assert changed[-2:] == ["pc", "pc"]
    # Stored: a registry opened on the same database has them.
    reopened = open_registry(engine, tmp_path / "code")
    assert reopened.provisioned_targets("pc") == {"1": 2, "2": 3}
    assert reopened.provisioned_functions() == ["pc"]
    # The alias moves: its workers move with it.
    registry.update_alias("pc", "live", AliasChange(function_version="1"), None)
    assert registry.provisioned_targets("pc") == {"1": 5}


def test_the_same_version_is_provisioned_through_one_qualifier_only(registry: Registry) -> None:
    published(registry, "pc")
    registry.create_alias("pc", "live", "1")
    registry.put_provisioned("pc", "live", 1)

    with pytest.raises(ResourceConflict, match="Version 1 already has provisioned concurrency"):
        registry.put_provisioned("pc", "1", 1)
    registry.put_provisioned("pc", "live", 2)  # the same qualifier again: a change
    assert registry.provisioned_targets("pc") == {"1": 2}


def test_a_weighted_alias_is_refused_as_on_lambda(registry: Registry) -> None:
    published(registry, "pc")
    registry.create_alias("pc", "canary", "1", routing=(("2", 0.5),))

    with pytest.raises(InvalidParameterValue, match="Alias with weights"):
        registry.put_provisioned("pc", "canary", 2)


def test_an_alias_given_weights_later_splits_its_workers(registry: Registry) -> None:
    published(registry, "pc")
    registry.create_alias("pc", "live", "1")
    registry.put_provisioned("pc", "live", 4)

    registry.update_alias("pc", "live", AliasChange(routing=(("2", 0.25),)), None)

    assert registry.provisioned_targets("pc") == {"1": 3, "2": 1}


def test_all_of_a_functions_provisioned_workers_fit_its_reservation(registry: Registry) -> None:
    published(registry, "pc")
    registry.put_concurrency("pc", 4)
    registry.put_provisioned("pc", "$LATEST", 2)
    registry.put_provisioned("pc", "1", 2)

    with pytest.raises(InvalidParameterValue, match="cannot be larger than ReservedConcurrent"):
        registry.put_provisioned("pc", "2", 1)
    registry.delete_provisioned("pc", "1")
    assert registry.put_provisioned("pc", "2", 2).requested == 2


def test_deleting_a_version_or_an_alias_deletes_its_configuration(
    registry: Registry, engine: Engine, tmp_path: Path
) -> None:
    published(registry, "pc")
    registry.create_alias("pc", "live", "2")
    registry.put_provisioned("pc", "1", 1)
    registry.put_provisioned("pc", "live", 1)

    registry.delete("pc", "1")
    registry.delete_alias("pc", "live")

    assert registry.provisioned_targets("pc") == {}
    assert registry.list_provisioned("pc") == ()
    assert open_registry(engine, tmp_path / "code").provisioned_functions() == []


# -- change listeners ------------------------------------------------------------------------


def test_every_committed_change_is_announced_after_retirement(registry: Registry) -> None:
    events: list[str] = []
    registry.add_retire_listener(lambda key: events.append("retire"))
    registry.add_change_listener(lambda name: events.append(f"change {name}"))

    registry.create("fn", code_zip(), HANDLER)
    registry.update_code("fn", code_zip("return 1"))
    registry.update_config("fn", ConfigChange(memory_mb=256))
    registry.put_concurrency("fn", 5)
    registry.delete_concurrency("fn")
    registry.delete("fn")

    # The retired pool goes first, so a listener sees only the function's current version.
    assert events == [
        "change fn",
        "retire",
        "change fn",
        "retire",
        "change fn",
        "change fn",
        "change fn",
        "retire",
        "change fn",
    ]


def test_a_refused_change_is_not_announced(registry: Registry, changed: list[str]) -> None:
    registry.create("fn", code_zip(), HANDLER)

    with pytest.raises(InvalidParameterValue):
        registry.update_config("fn", ConfigChange(memory_mb=1))
    with pytest.raises(InvalidParameterValue):
        registry.put_provisioned("fn", "$LATEST", 0)

    assert changed == ["fn"]


def test_a_failing_change_listener_does_not_undo_the_change(registry: Registry) -> None:
    def broken(_name: str) -> None:
        raise RuntimeError("listener bug")

    registry.add_change_listener(broken)

    registry.create("fn", code_zip(), HANDLER)

    assert registry.put_provisioned("fn", "$LATEST", 1).requested == 1
