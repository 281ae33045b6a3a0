from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from faas.domain import ConfigChange, Limits, LoggingConfig
from faas.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from faas.registry.codestore import CodeStore
from faas.registry.functions import Registry
from faas.store.engine import make_engine
from faas.store.repos import FunctionRepo
from faas.store.schema import migrate
from faas.store.sealing import Sealer
from tests.helpers.sealing import TEST_SEALER

REGION = "eu-west-1"
ACCOUNT = "123456789012"
RUNTIMES = {"python3.11": "/usr/bin/python3.11", "python3.12": "/usr/bin/python3.12"}
HANDLER = ConfigChange(handler="app.handler")


def code_zip(body: str = "return event") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    {body}\n")
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(root: Path) -> list[str]:
    return sorted(os.listdir(root)) if root.exists() else []


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/faas.db")
    migrate(engine, sealer=TEST_SEALER)
    yield engine
    engine.dispose()


def new_registry(
    engine: Engine, code_root: Path, sealer: Sealer = TEST_SEALER, **options: Any
) -> Registry:
    """A registry over `engine` and a code store at `code_root`, loaded; `options` are the
    Registry's own (concurrency, draw, ...)."""
    registry = Registry(
        FunctionRepo(engine, sealer),
        CodeStore(code_root, Limits()),
        limits=Limits(),
        runtimes=RUNTIMES,
        region=REGION,
        account_id=ACCOUNT,
        **options,
    )
    registry.load()
    return registry


@pytest.fixture
def code_root(tmp_path: Path) -> Path:
    return tmp_path / "code"


@pytest.fixture
def registry(engine: Engine, code_root: Path) -> Registry:
    return new_registry(engine, code_root)


@pytest.fixture
def retired(registry: Registry) -> list[str]:
    keys: list[str] = []
    registry.add_retire_listener(keys.append)
    return keys


def test_create_applies_lambda_defaults(registry: Registry, engine: Engine) -> None:
    data = code_zip()
    cfg = registry.create("hello", data, HANDLER)

    assert cfg.name == "hello"
    assert cfg.handler == "app.handler"
    assert cfg.runtime == "python3.11"  # the first runtime: the host's own
    assert (cfg.memory_mb, cfg.timeout_s, cfg.ephemeral_storage_mb) == (128, 3, 512)
    assert cfg.environment == {}
    assert cfg.description == ""
    assert cfg.role == f"arn:aws:iam::{ACCOUNT}:role/faas-default"
    assert cfg.version == "$LATEST"
    assert cfg.code_sha256 == sha(data)
    assert cfg.code_size == len(data)
    assert uuid.UUID(cfg.revision_id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", cfg.last_modified)
    assert registry.get("hello") == cfg
    assert FunctionRepo(engine, TEST_SEALER).get("hello") == cfg
    assert registry.count == 1


def test_create_keeps_given_settings_and_a_private_environment(registry: Registry) -> None:
    environment = {"STAGE": "prod"}
    change = ConfigChange(
        handler="pkg.mod.run",
        runtime="python3.12",
        memory_mb=512,
        timeout_s=30,
        ephemeral_storage_mb=1024,
        environment=environment,
        description="says hello",
        role="arn:aws:iam::123456789012:role/custom",
    )
    cfg = registry.create("custom", code_zip(), change)
    environment["STAGE"] = "changed by the caller afterwards"

    assert registry.get("custom").environment == {"STAGE": "prod"}
    assert (cfg.runtime, cfg.handler, cfg.memory_mb) == ("python3.12", "pkg.mod.run", 512)
    assert (cfg.timeout_s, cfg.ephemeral_storage_mb) == (30, 1024)
    assert (cfg.description, cfg.role) == ("says hello", "arn:aws:iam::123456789012:role/custom")


REJECTED_CREATES: dict[str, tuple[bytes, ConfigChange, str]] = {
    "no handler": (code_zip(), ConfigChange(), "Handler"),
    "small memory": (code_zip(), ConfigChange(handler="app.handler", memory_mb=64), "memorySize"),
    "old runtime": (
        code_zip(),
        ConfigChange(handler="app.handler", runtime="python2.7"),
        "python2.7",
    ),
    "bad handler": (code_zip(), ConfigChange(handler="nodot"), "module.function"),
    "bad zip": (b"not a zip at all", HANDLER, "Could not unzip"),
}


@pytest.mark.parametrize("case", sorted(REJECTED_CREATES))
def test_rejected_create_leaves_database_and_code_unchanged(
    registry: Registry, engine: Engine, code_root: Path, case: str
) -> None:
    data, change, message = REJECTED_CREATES[case]
    registry.create("existing", code_zip("return 1"), HANDLER)
    before_rows = FunctionRepo(engine, TEST_SEALER).all()
    before_code = stored(code_root)

    with pytest.raises(InvalidParameterValue, match=message):
        registry.create("fresh", data, change)

    assert FunctionRepo(engine, TEST_SEALER).all() == before_rows
    assert stored(code_root) == before_code
    assert registry.count == 1


def test_create_rejects_bad_names(registry: Registry) -> None:
    with pytest.raises(InvalidParameterValue):
        registry.create("bad name", code_zip(), HANDLER)
    with pytest.raises(InvalidParameterValue, match="unqualified function ARN"):
        registry.create("hello:live", code_zip(), HANDLER)


def test_duplicate_create_conflicts(registry: Registry, code_root: Path) -> None:
    first = registry.create("twice", code_zip(), HANDLER)
    with pytest.raises(ResourceConflict, match="Function already exist: twice"):
        registry.create("twice", code_zip("return 2"), HANDLER)
    assert registry.get("twice") == first
    assert stored(code_root) == sorted([first.code_sha256, f"{first.code_sha256}.zip"])


def test_code_is_cleaned_up_when_the_database_refuses(engine: Engine, tmp_path: Path) -> None:
    # Two nodes on one database: node B's cache has not seen node A's function yet.
    node_a = new_registry(engine, tmp_path / "code-a")
    node_b = new_registry(engine, tmp_path / "code-b")
    node_a.create("raced", code_zip(), HANDLER)

    with pytest.raises(ResourceConflict):
        node_b.create("raced", code_zip("return 'b'"), HANDLER)

    assert stored(tmp_path / "code-b") == []
    assert node_b.count == 0


def test_resolve_accepts_names_and_arns(registry: Registry) -> None:
    cfg = registry.create("target", code_zip(), HANDLER)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:target"

    assert registry.resolve("target", None) is cfg
    assert registry.resolve("target", "$LATEST") is cfg
    assert registry.resolve("target:$LATEST", None) is cfg
    assert registry.resolve(arn, None) is cfg
    assert registry.resolve(f"{arn}:$LATEST", "$LATEST") is cfg
    assert registry.resolve(f"{ACCOUNT}:function:target", None) is cfg
    assert registry.function_arn("target") == arn


def test_resolve_failures(registry: Registry) -> None:
    registry.create("target", code_zip(), HANDLER)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"

    with pytest.raises(ResourceNotFound, match=f"^Function not found: {arn}:missing$"):
        registry.resolve("missing", None)
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {arn}:target:7$"):
        registry.resolve("target", "7")
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {arn}:target:live$"):
        registry.resolve("target:live", None)
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {arn}:missing:7$"):
        registry.resolve("missing", "7")
    with pytest.raises(InvalidParameterValue, match="does not match the specified qualifier"):
        registry.resolve("target:$LATEST", "7")
    with pytest.raises(InvalidParameterValue):
        registry.resolve("not a name", None)


def test_list_pages_follow_the_marker(registry: Registry) -> None:
    for name in ("charlie", "alpha", "bravo"):
        registry.create(name, code_zip(), HANDLER)

    first = registry.list(None, 2)
    assert [cfg.name for cfg in first.functions] == ["alpha", "bravo"]
    assert first.next_marker is not None

    second = registry.list(first.next_marker, 2)
    assert [cfg.name for cfg in second.functions] == ["charlie"]
    assert second.next_marker is None

    everything = registry.list(None, None)
    assert [cfg.name for cfg in everything.functions] == ["alpha", "bravo", "charlie"]
    assert everything.next_marker is None


def test_list_marker_survives_deletion_of_the_last_seen_function(registry: Registry) -> None:
    for name in ("a1", "a2", "a3"):
        registry.create(name, code_zip(), HANDLER)
    first = registry.list(None, 2)
    registry.delete("a2")
    assert [cfg.name for cfg in registry.list(first.next_marker, 2).functions] == ["a3"]


@pytest.mark.parametrize(
    ("marker", "max_items", "message"),
    [
        ("!!not-base64!!", 10, "marker"),
        ("Li4vZXRj", 10, "marker"),  # base64 of "../etc": decodes, but is no function name
        (None, 0, "greater than or equal to 1"),
        (None, 10_001, "less than or equal to 10000"),
    ],
)
def test_list_rejects_bad_parameters(
    registry: Registry, marker: str | None, max_items: int, message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        registry.list(marker, max_items)


def test_update_code_replaces_code_and_retires_old_workers(
    registry: Registry, retired: list[str], code_root: Path
) -> None:
    old = registry.create("fn", code_zip("return 1"), HANDLER)
    old_spec = registry.worker_spec(old)
    new_data = code_zip("return 2")

    new = registry.update_code("fn", new_data)

    assert new.code_sha256 == sha(new_data) != old.code_sha256
    assert new.revision_id != old.revision_id
    assert registry.get("fn") == new
    assert retired == [old_spec.key] == [f"fn:$LATEST:{old.revision_id}"]
    # Old workers may still run from the old bundle: it stays while one of them is alive...
    assert registry.sweep_unused_code({old_spec.code_dir}) == 0
    assert f"{old.code_sha256}.zip" in stored(code_root)
    # ...and goes once nothing uses it any more.
    assert registry.sweep_unused_code(set()) == 1
    assert stored(code_root) == sorted([new.code_sha256, f"{new.code_sha256}.zip"])
    new_spec = registry.worker_spec(new)
    assert new_spec.key != old_spec.key
    assert (Path(new_spec.code_dir) / "app.py").read_text().endswith("return 2\n")


def test_update_code_keeps_code_another_function_uses(registry: Registry, code_root: Path) -> None:
    shared = code_zip("return 'shared'")
    registry.create("one", shared, HANDLER)
    registry.create("two", shared, HANDLER)

    registry.update_code("one", code_zip("return 'own'"))
    registry.sweep_unused_code(set())

    assert f"{sha(shared)}.zip" in stored(code_root)
    assert (Path(registry.worker_spec(registry.get("two")).code_dir) / "app.py").exists()


def test_update_with_stale_revision_fails_and_changes_nothing(
    registry: Registry, retired: list[str], engine: Engine
) -> None:
    cfg = registry.create("fn", code_zip(), HANDLER)
    stale = cfg.revision_id
    registry.update_config("fn", ConfigChange(description="first"), revision_id=stale)
    current = registry.get("fn")

    with pytest.raises(PreconditionFailed, match="Revision Id"):
        registry.update_config("fn", ConfigChange(description="second"), revision_id=stale)
    with pytest.raises(PreconditionFailed):
        registry.update_code("fn", code_zip("return 3"), revision_id=stale)

    assert registry.get("fn") == current
    assert FunctionRepo(engine, TEST_SEALER).get("fn") == current
    assert retired == [f"fn:$LATEST:{stale}"]


def test_update_config_changes_only_given_fields(
    registry: Registry, retired: list[str], engine: Engine
) -> None:
    old = registry.create("fn", code_zip(), ConfigChange(handler="app.handler", timeout_s=10))

    new = registry.update_config("fn", ConfigChange(memory_mb=1024, environment={"K": "v"}))

    assert (new.memory_mb, new.environment, new.timeout_s) == (1024, {"K": "v"}, 10)
    assert new.code_sha256 == old.code_sha256
    assert new.revision_id != old.revision_id
    assert FunctionRepo(engine, TEST_SEALER).get("fn") == new
    assert retired == [f"fn:$LATEST:{old.revision_id}"]
    assert registry.worker_spec(new).memory_mb == 1024


def test_update_config_validates(registry: Registry) -> None:
    registry.create("fn", code_zip(), HANDLER)
    with pytest.raises(InvalidParameterValue, match="reserved keys"):
        registry.update_config("fn", ConfigChange(environment={"AWS_REGION": "x"}))
    assert registry.get("fn").environment == {}


def test_updates_of_missing_functions_are_not_found(registry: Registry) -> None:
    with pytest.raises(ResourceNotFound, match="function:ghost"):
        registry.update_code("ghost", code_zip())
    with pytest.raises(ResourceNotFound):
        registry.update_config("ghost", ConfigChange(memory_mb=256))
    with pytest.raises(ResourceNotFound):
        registry.delete("ghost")


def test_delete_removes_function_code_and_workers(
    registry: Registry, retired: list[str], engine: Engine, code_root: Path
) -> None:
    cfg = registry.create("doomed", code_zip(), HANDLER)
    kept = registry.create("kept", code_zip("return 'kept'"), HANDLER)

    registry.delete("doomed")
    assert registry.sweep_unused_code(set()) == 1

    with pytest.raises(ResourceNotFound):
        registry.get("doomed")
    assert FunctionRepo(engine, TEST_SEALER).get("doomed") is None
    assert retired == [f"doomed:$LATEST:{cfg.revision_id}"]
    assert stored(code_root) == sorted([kept.code_sha256, f"{kept.code_sha256}.zip"])
    assert registry.count == 1


def test_a_fresh_registry_sees_stored_functions(
    registry: Registry, engine: Engine, tmp_path: Path, code_root: Path
) -> None:
    created = [registry.create(name, code_zip(name), HANDLER) for name in ("f1", "f2")]
    registry.update_config("f2", ConfigChange(description="updated"))

    restarted = new_registry(engine, code_root)

    assert restarted.count == 2
    assert restarted.get("f1") == created[0]
    assert restarted.get("f2").description == "updated"
    spec = restarted.worker_spec(restarted.get("f1"))
    assert (Path(spec.code_dir) / "app.py").exists()


def test_worker_spec_describes_the_function(registry: Registry) -> None:
    cfg = registry.create(
        "spec", code_zip(), ConfigChange(handler="app.handler", environment={"A": "1"})
    )
    spec = registry.worker_spec(cfg)

    assert spec.key == f"spec:$LATEST:{cfg.revision_id}"
    assert (spec.function_name, spec.version, spec.handler) == ("spec", "$LATEST", "app.handler")
    assert (spec.runtime, spec.memory_mb, spec.timeout_s) == ("python3.11", 128, 3)
    assert spec.environment == {"A": "1"}
    assert spec.function_arn == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:spec"
    assert spec.region == REGION
    assert Path(spec.code_dir).name == cfg.code_sha256
    assert registry.worker_spec(cfg) is spec


def test_a_logging_change_gives_fresh_workers_that_log_as_it_says(
    registry: Registry, retired: list[str], engine: Engine
) -> None:
    old = registry.create("fn", code_zip(), HANDLER)
    old_spec = registry.worker_spec(old)
    assert (old_spec.log_format, old_spec.log_level, old_spec.log_group) == (
        "Text",
        None,
        "/aws/lambda/fn",
    )
    logging = LoggingConfig("JSON", system_log_level="WARN", log_group="/team/fn")

    new = registry.update_config("fn", ConfigChange(logging=logging))

    assert new.logging == logging
    assert FunctionRepo(engine, TEST_SEALER).get("fn") == new
    assert retired == [old_spec.key]
    new_spec = registry.worker_spec(new)
    assert new_spec.key != old_spec.key
    # No ApplicationLogLevel given: JSON's default.
    assert (new_spec.log_format, new_spec.log_level, new_spec.log_group) == (
        "JSON",
        "INFO",
        "/team/fn",
    )


def test_a_logging_config_lambda_refuses_changes_nothing(
    registry: Registry, retired: list[str]
) -> None:
    cfg = registry.create(
        "fn", code_zip(), ConfigChange(handler="app.handler", logging=LoggingConfig("JSON"))
    )
    with pytest.raises(InvalidParameterValue, match='LogFormat is set to "Text"'):
        registry.update_config("fn", ConfigChange(logging=LoggingConfig(system_log_level="WARN")))
    with pytest.raises(InvalidParameterValue, match=r"loggingConfig\.logGroup"):
        registry.create(
            "other", code_zip(), ConfigChange(handler="a.b", logging=LoggingConfig(log_group="?"))
        )
    assert registry.get("fn") == cfg
    assert retired == []
    assert registry.count == 1


def test_a_failing_listener_does_not_undo_the_change(registry: Registry) -> None:
    def broken(key: str) -> None:
        raise RuntimeError(key)

    registry.add_retire_listener(broken)
    registry.create("fn", code_zip(), HANDLER)
    updated = registry.update_config("fn", ConfigChange(timeout_s=9))
    assert registry.get("fn") == updated


def test_functions_created_at_once_get_distinct_uids_that_survive_a_restart(
    engine: Engine, tmp_path: Path
) -> None:
    registry = new_registry(engine, tmp_path / "code")
    names = [f"fn-{i}" for i in range(16)]
    with ThreadPoolExecutor(8) as threads:
        created = list(threads.map(lambda n: registry.create(n, code_zip(), HANDLER), names))

    uids = [cfg.sandbox_uid for cfg in created]
    assert sorted(uids) == list(range(16))  # type: ignore[type-var]
    assert {registry.worker_spec(cfg).sandbox_uid for cfg in created} == set(range(16))
    registry.update_code("fn-3", code_zip("return 3"))
    registry.update_config("fn-3", ConfigChange(memory_mb=256))
    restarted = new_registry(engine, tmp_path / "code")
    restarted.load()
    assert {n: restarted.get(n).sandbox_uid for n in names} == {
        cfg.name: cfg.sandbox_uid for cfg in created
    }
    highest = next(cfg.name for cfg in created if cfg.sandbox_uid == 15)
    restarted.delete(highest)  # a deleted function's uid may be given again: none has it now
    assert restarted.create("later", code_zip(), HANDLER).sandbox_uid == 15
