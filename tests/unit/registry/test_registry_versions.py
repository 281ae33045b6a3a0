"""Registry: PublishVersion, version qualifiers, aliases (weighted too), and how deleting a
function or a version treats them; all through a real SQLite store."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, func, select

from faas.auth.masterkey import MasterKey
from faas.domain import AliasChange, ConfigChange
from faas.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ValidationError,
)
from faas.registry.functions import UNQUALIFIED_ONLY, Registry
from faas.store.engine import make_engine
from faas.store.reseal import reseal_secrets
from faas.store.schema import migrate
from faas.store.sealing import Sealer
from faas.store.tables import function_aliases, function_versions
from tests.helpers.sealing import TEST_SEALER
from tests.unit.registry.test_registry_functions import (
    ACCOUNT,
    HANDLER,
    REGION,
    code_zip,
    new_registry,
)

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
OTHER_SEALER = MasterKey(bytes(range(1, 33)))


class CyclingDraw:
    """A 'random' source that hands out the given numbers in turn."""

    def __init__(self, *values: float) -> None:
        self._values = itertools.cycle(values)
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return next(self._values)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/faas.db")
    migrate(engine, sealer=TEST_SEALER)
    yield engine
    engine.dispose()


@pytest.fixture
def draw() -> CyclingDraw:
    return CyclingDraw(0.9)


def open_registry(
    engine: Engine, code_root: Path, draw: CyclingDraw, sealer: Sealer = TEST_SEALER
) -> Registry:
    return new_registry(engine, code_root, sealer, draw=draw)


@pytest.fixture
def code_root(tmp_path: Path) -> Path:
    return tmp_path / "code"


@pytest.fixture
def registry(engine: Engine, code_root: Path, draw: CyclingDraw) -> Registry:
    return open_registry(engine, code_root, draw)


@pytest.fixture
def retired(registry: Registry) -> list[str]:
    keys: list[str] = []
    registry.add_retire_listener(keys.append)
    return keys


def two_versions(registry: Registry, name: str = "fn") -> None:
    """`name` with version 1 (returns 1) and version 2 (returns 2); $LATEST is version 2."""
    registry.create(name, code_zip("return 1"), HANDLER)
    registry.publish_version(name)
    registry.update_code(name, code_zip("return 2"))
    registry.publish_version(name)


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


# -- PublishVersion ---------------------------------------------------------------------------


def test_a_version_is_a_numbered_copy_of_latest(registry: Registry) -> None:
    latest = registry.create("fn", code_zip(), ConfigChange(handler="app.handler", description="d"))
    first = registry.publish_version("fn")

    assert first.version == "1"
    assert (first.code_sha256, first.handler, first.environment, first.description) == (
        latest.code_sha256, latest.handler, latest.environment, "d",
    )  # fmt: skip
    assert first.revision_id != latest.revision_id
    assert registry.resolve("fn", "1") is first
    assert registry.resolve("fn:1", None) is first
    assert registry.resolve(f"{ARN}:fn:1", "1") is first
    assert registry.resolve("fn", None) is latest  # $LATEST is untouched


def test_publishing_an_unchanged_latest_answers_the_newest_version(registry: Registry) -> None:
    registry.create("fn", code_zip(), HANDLER)
    first = registry.publish_version("fn", description="one")
    assert registry.publish_version("fn", description="ignored") is first
    registry.update_config("fn", ConfigChange(timeout_s=9))
    second = registry.publish_version("fn")
    assert (second.version, second.timeout_s, second.description) == ("2", 9, "")
    assert registry.publish_version("fn") is second


def test_version_numbers_are_never_given_twice(
    registry: Registry, engine: Engine, tmp_path: Path, draw: CyclingDraw
) -> None:
    two_versions(registry)
    registry.delete("fn", "2")
    registry.update_config("fn", ConfigChange(memory_mb=256))
    assert registry.publish_version("fn").version == "3"

    reopened = open_registry(engine, tmp_path / "code", draw)
    reopened.update_config("fn", ConfigChange(memory_mb=512))
    assert reopened.publish_version("fn").version == "4"
    assert [cfg.version for cfg in reopened.list_versions("fn", None, None).functions] == [
        "$LATEST", "1", "3", "4",
    ]  # fmt: skip


def test_an_unchanged_latest_after_its_version_was_deleted_is_published_again(
    registry: Registry,
) -> None:
    registry.create("fn", code_zip(), HANDLER)
    registry.publish_version("fn")
    registry.delete("fn", "1")
    assert registry.publish_version("fn").version == "2"


def test_preconditions_of_publish(registry: Registry) -> None:
    latest = registry.create("fn", code_zip(), HANDLER)
    encoded = base64.b64encode(bytes.fromhex(latest.code_sha256)).decode()
    with pytest.raises(PreconditionFailed, match="does not match the latest Revision Id"):
        registry.publish_version("fn", revision_id="stale")
    with pytest.raises(InvalidParameterValue) as raised:
        registry.publish_version("fn", code_sha256="bogus")
    assert raised.value.message == (
        f"CodeSHA256 (bogus) is different from current CodeSHA256 in $LATEST ({encoded}). "
        "Please try again with the CodeSHA256 in $LATEST."
    )
    assert registry.list_versions("fn", None, None).functions == (latest,)
    published = registry.publish_version(
        "fn", code_sha256=encoded, revision_id=latest.revision_id, description="pinned"
    )
    assert (published.version, published.description) == ("1", "pinned")
    with pytest.raises(ValidationError, match="less than or equal to 256"):
        registry.publish_version("fn", description="x" * 257)
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {ARN}:ghost$"):
        registry.publish_version("ghost")


def test_a_version_keeps_its_code_when_latest_moves_on(registry: Registry, code_root: Path) -> None:
    two_versions(registry)
    first, second = registry.resolve("fn", "1"), registry.resolve("fn", "2")
    assert first.code_sha256 != second.code_sha256
    registry.update_code("fn", code_zip("return 3"))
    # The first code is no function's $LATEST any more, but version 1 still runs it.
    registry.sweep_unused_code(set())
    assert (code_root / first.code_sha256).is_dir()
    assert registry.resolve("fn", "1").code_sha256 == first.code_sha256


def test_a_version_has_a_pool_and_an_arn_of_its_own(registry: Registry) -> None:
    two_versions(registry)
    latest, first = registry.get("fn"), registry.resolve("fn", "1")
    latest_spec, first_spec = registry.worker_spec(latest), registry.worker_spec(first)
    assert latest_spec.key != first_spec.key
    assert first_spec.key == f"fn:1:{first.revision_id}"
    assert (first_spec.version, first_spec.function_arn) == ("1", f"{ARN}:fn:1")
    assert latest_spec.function_arn == f"{ARN}:fn"
    assert registry.cached_worker_spec(first) is first_spec


def test_deleting_a_version_retires_its_pool_and_frees_its_code(
    registry: Registry, retired: list[str], code_root: Path
) -> None:
    two_versions(registry)
    first = registry.resolve("fn", "1")
    key = registry.worker_spec(first).key
    retired.clear()  # what the update of $LATEST retired
    registry.delete("fn:1", None)
    assert retired == [key]
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {ARN}:fn:1$"):
        registry.resolve("fn", "1")
    assert registry.sweep_unused_code(set()) == 1
    assert not (code_root / first.code_sha256).exists()


def test_deleting_by_qualifier(registry: Registry) -> None:
    two_versions(registry)
    with pytest.raises(InvalidParameterValue) as raised:
        registry.delete("fn", "$LATEST")
    assert (
        raised.value.message == "$LATEST version cannot be deleted without deleting the function."
    )
    with pytest.raises(InvalidParameterValue, match="does not match the specified qualifier"):
        registry.delete("fn:1", "2")
    registry.delete("fn", "99")  # as on Lambda: no such version is no error
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {ARN}:ghost$"):
        registry.delete("ghost", "1")
    registry.create_alias("fn", "live", "1")
    with pytest.raises(InvalidParameterValue, match="Deletion of aliases"):
        registry.delete("fn", "live")
    assert registry.resolve("fn", "live").version == "1"


def test_a_version_an_alias_uses_is_not_deleted(registry: Registry) -> None:
    two_versions(registry)
    registry.create_alias("fn", "live", "1")
    registry.create_alias("fn", "canary", "2", routing=(("1", 0.1),))
    with pytest.raises(ResourceConflict) as raised:
        registry.delete("fn", "1")
    assert raised.value.message == (
        "Unable to delete version because the following aliases reference it: [canary, live]"
    )
    registry.delete_alias("fn", "canary")
    registry.delete_alias("fn", "live")
    registry.delete("fn", "1")
    assert [cfg.version for cfg in registry.list_versions("fn", None, None).functions] == [
        "$LATEST", "2",
    ]  # fmt: skip


def test_deleting_the_function_deletes_its_versions_and_aliases(
    registry: Registry, engine: Engine, retired: list[str]
) -> None:
    two_versions(registry)
    registry.create_alias("fn", "live", "2")
    keys = {registry.worker_spec(registry.resolve("fn", v)).key for v in ("$LATEST", "1", "2")}
    retired.clear()
    registry.delete("fn")
    assert set(retired) == keys
    assert count(engine, function_versions) == count(engine, function_aliases) == 0
    registry.create("fn", code_zip(), HANDLER)  # a new function of the same name starts over
    assert registry.publish_version("fn").version == "1"
    assert registry.list_aliases("fn", None, None, None).aliases == ()


def test_versions_and_aliases_survive_a_restart_with_their_environment(
    engine: Engine, tmp_path: Path, draw: CyclingDraw
) -> None:
    registry = open_registry(engine, tmp_path / "code", draw)
    registry.create(
        "fn", code_zip(), ConfigChange(handler="app.handler", environment={"K": "plain-text-value"})
    )
    first = registry.publish_version("fn")
    alias = registry.create_alias("fn", "live", "1", description="prod")

    reopened = open_registry(engine, tmp_path / "code", draw)
    assert reopened.resolve("fn", "1") == first
    assert reopened.get_alias("fn", "live") == alias
    with engine.connect() as connection:
        stored = connection.execute(select(function_versions.c.environment)).scalar_one()
    assert stored.startswith("sealed:") and "plain-text-value" not in stored


def test_a_master_key_rotation_reseals_versions(
    engine: Engine, tmp_path: Path, draw: CyclingDraw
) -> None:
    registry = open_registry(engine, tmp_path / "code", draw)
    registry.create("fn", code_zip(), ConfigChange(handler="app.handler", environment={"K": "v"}))
    registry.publish_version("fn")
    assert reseal_secrets(engine, TEST_SEALER, OTHER_SEALER) == 2
    reopened = open_registry(engine, tmp_path / "code", draw, sealer=OTHER_SEALER)
    assert reopened.resolve("fn", "1").environment == {"K": "v"}


# -- ListVersionsByFunction -------------------------------------------------------------------


def test_versions_are_listed_latest_first_a_page_at_a_time(registry: Registry) -> None:
    registry.create("fn", code_zip(), HANDLER)
    for timeout in range(2, 6):
        registry.update_config("fn", ConfigChange(timeout_s=timeout))
        registry.publish_version("fn")
    seen: list[str] = []
    marker = None
    while True:
        page = registry.list_versions("fn", marker, 2)
        seen += [cfg.version for cfg in page.functions]
        marker = page.next_marker
        if marker is None:
            break
    assert seen == ["$LATEST", "1", "2", "3", "4"]
    assert len(registry.list_versions("fn:1", None, 10_000).functions) == 5
    with pytest.raises(InvalidParameterValue, match="marker"):
        registry.list_versions("fn", "!!", None)
    with pytest.raises(InvalidParameterValue, match="greater than or equal to 1"):
        registry.list_versions("fn", None, 0)
    with pytest.raises(ResourceNotFound):
        registry.list_versions("ghost", None, None)


# -- aliases ----------------------------------------------------------------------------------


def test_an_alias_names_a_version(registry: Registry) -> None:
    two_versions(registry)
    alias = registry.create_alias("fn", "live", "1", description="production")
    assert (alias.function_version, alias.description, alias.additional_version) == (
        "1", "production", None,
    )  # fmt: skip
    assert registry.alias_arn(alias) == f"{ARN}:fn:live"
    assert registry.get_alias("fn", "live") == alias
    assert registry.resolve("fn", "live") is registry.resolve("fn", "1")
    assert registry.resolve_named("fn:live", None) == (registry.resolve("fn", "1"), "live")
    assert registry.resolve_invocation(f"{ARN}:fn:live", None) == (
        registry.resolve("fn", "1"), "live",
    )  # fmt: skip


def test_an_alias_of_latest_follows_it(registry: Registry) -> None:
    registry.create("fn", code_zip(), HANDLER)
    registry.create_alias("fn", "dev", "$LATEST")
    updated = registry.update_code("fn", code_zip("return 'new'"))
    assert registry.resolve("fn", "dev") is updated


def test_a_weighted_alias_draws_once_per_invocation(registry: Registry, draw: CyclingDraw) -> None:
    two_versions(registry)
    registry.create_alias("fn", "canary", "1", routing=(("2", 0.25),))
    draw_values = CyclingDraw(0.1, 0.5, 0.24, 0.25)
    registry._draw = draw_values  # the source the registry was built with, swapped for the test
    chosen = [registry.resolve_invocation("fn", "canary")[0].version for _ in range(4)]
    assert chosen == ["2", "1", "2", "1"]
    assert draw_values.calls == 4
    # Reads that are no invocation name the alias's own version and draw nothing.
    assert registry.resolve("fn", "canary").version == "1"
    assert draw_values.calls == 4


def test_an_unqualified_invocation_draws_nothing(registry: Registry, draw: CyclingDraw) -> None:
    two_versions(registry)
    assert registry.resolve_invocation("fn", None) == (registry.get("fn"), None)
    assert draw.calls == 0


def test_alias_errors_are_lambdas(registry: Registry) -> None:
    two_versions(registry)
    registry.create_alias("fn", "live", "1")
    with pytest.raises(ResourceConflict, match=f"^Alias already exists: {ARN}:fn:live$"):
        registry.create_alias("fn", "live", "2")
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {ARN}:fn:10$"):
        registry.create_alias("fn", "other", "10")
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {ARN}:fn:10$"):
        registry.create_alias("fn", "other", "1", routing=(("10", 0.5),))
    with pytest.raises(InvalidParameterValue, match=r"^\$LATEST is not supported"):
        registry.create_alias("fn", "other", "$LATEST", routing=(("2", 0.5),))
    with pytest.raises(InvalidParameterValue, match="cannot be greater than 1"):
        registry.create_alias("fn", "other", "1", routing=(("2", 0.5), ("1", 0.1)))
    with pytest.raises(ValidationError, match="'name'"):
        registry.create_alias("fn", "123", "1")
    with pytest.raises(ResourceNotFound, match=f"^Cannot find alias arn: {ARN}:fn:nope$"):
        registry.get_alias("fn", "nope")
    with pytest.raises(ResourceNotFound, match=f"^Alias not found: {ARN}:fn:nope$"):
        registry.update_alias("fn", "nope", AliasChange(function_version="2"))
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {ARN}:fn:nope$"):
        registry.resolve("fn", "nope")
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {ARN}:ghost$"):
        registry.create_alias("ghost", "live", "1")
    registry.delete_alias("fn", "nope")  # as on Lambda: deleting no alias is no error


def test_update_alias_changes_what_it_is_given(registry: Registry) -> None:
    two_versions(registry)
    created = registry.create_alias("fn", "live", "1", description="d", routing=(("2", 0.1),))
    moved = registry.update_alias("fn", "live", AliasChange(function_version="1"))
    assert (moved.additional_version, moved.additional_weight, moved.description) == ("2", 0.1, "d")
    assert moved.revision_id != created.revision_id
    with pytest.raises(PreconditionFailed):
        registry.update_alias("fn", "live", AliasChange(description="x"), created.revision_id)
    cleared = registry.update_alias("fn", "live", AliasChange(routing=()), moved.revision_id)
    assert cleared.additional_version is None
    with pytest.raises(InvalidParameterValue, match="already included in routing"):
        registry.update_alias(
            "fn", "live", AliasChange(function_version="2", routing=(("2", 0.5),))
        )
    registry.update_alias("fn", "live", AliasChange(routing=(("2", 0.5),)))
    with pytest.raises(InvalidParameterValue, match="already included in routing"):
        registry.update_alias("fn", "live", AliasChange(function_version="2"))
    with pytest.raises(InvalidParameterValue, match=r"^\$LATEST is not supported"):
        registry.update_alias("fn", "live", AliasChange(function_version="$LATEST"))
    assert registry.get_alias("fn", "live").function_version == "1"


def test_aliases_are_listed_by_name_a_page_at_a_time(registry: Registry) -> None:
    two_versions(registry)
    for name, version in (("c", "1"), ("a", "2"), ("d", "$LATEST"), ("b", "1")):
        registry.create_alias("fn", name, version)
    first = registry.list_aliases("fn", None, None, 3)
    assert [alias.name for alias in first.aliases] == ["a", "b", "c"]
    rest = registry.list_aliases("fn", None, first.next_marker, 3)
    assert ([alias.name for alias in rest.aliases], rest.next_marker) == (["d"], None)
    only_1 = registry.list_aliases("fn", "1", None, None)
    assert [alias.name for alias in only_1.aliases] == ["b", "c"]
    with pytest.raises(ValidationError):
        registry.list_aliases("fn", "live", None, None)


# -- operations on the function itself ---------------------------------------------------------


def test_operations_on_the_function_itself_refuse_a_qualifier(registry: Registry) -> None:
    two_versions(registry)
    refused = [
        lambda: registry.update_code("fn:1", code_zip()),
        lambda: registry.update_config("fn:1", ConfigChange(timeout_s=5)),
        lambda: registry.publish_version("fn:1"),
        lambda: registry.create_alias("fn:1", "live", "1"),
        lambda: registry.list_aliases(f"{ARN}:fn:1", None, None, None),
        lambda: registry.put_concurrency("fn:live", 1),
        lambda: registry.get("fn:1"),
    ]
    for call in refused:
        with pytest.raises(InvalidParameterValue) as raised:
            call()
        assert raised.value.message == UNQUALIFIED_ONLY


def test_provisioned_concurrency_of_a_version_is_not_published_with_it(
    registry: Registry,
) -> None:
    two_versions(registry)
    registry.put_provisioned("fn", "1", 1)
    # A version's provisioned concurrency is a setting beside it, not part of the snapshot.
    assert registry.resolve("fn", "1").provisioned_concurrency is None
    assert registry.provisioned_targets("fn") == {"1": 1}


def test_account_usage_counts_the_code_of_versions(registry: Registry) -> None:
    two_versions(registry)
    versions = registry.list_versions("fn", None, None).functions
    assert registry.account_usage().total_code_size == sum(cfg.code_size for cfg in versions)
