"""Buckets and triggers (faas/registry/buckets.py): names, directories, what may be removed,
event types; a writable bucket's directory goes to the bucket group."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine

import faas
from faas.domain import Bucket, FileEventKind, FunctionConfig
from faas.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from faas.registry.buckets import BucketRegistry, parse_events
from faas.store import make_engine, migrate
from faas.store.buckets import BucketsRepo, TriggersRepo
from tests.helpers.sealing import TEST_SEALER

GID = 199999


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    made = make_engine(f"sqlite:///{tmp_path / 'faas.db'}")
    migrate(made, sealer=TEST_SEALER)
    return made


def function(name: str) -> FunctionConfig:
    if name != "fn":
        raise ResourceNotFound(f"Function not found: {name}")
    return FunctionConfig(
        "fn", "python3.11", "app.handler", "", 128, 3, 512, {}, "", "0", 0, "r", ""
    )


def registry(engine: Engine, tmp_path: Path, mounted: list[str] | None = None) -> BucketRegistry:
    made = BucketRegistry(
        BucketsRepo(engine),
        TriggersRepo(engine),
        configured={"conf": Bucket("conf", str(tmp_path / "conf"), origin="config")},
        data_dir=tmp_path / "data",
        bucket_gid=GID,
        function_lookup=function,
        mounted_by=lambda arn: list(mounted or []),
    )
    made.load()
    return made


@pytest.mark.parametrize("name", ["ab", "Photos", "-photos", "photos-", "a..b", "x" * 64, "a_b"])
def test_bucket_names_follow_s3s_rule(engine: Engine, tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid bucket name"):
        registry(engine, tmp_path).add_bucket(name, str(tmp_path), False)


def test_a_bucket_is_an_existing_directory_outside_the_platforms_data(
    engine: Engine, tmp_path: Path
) -> None:
    buckets = registry(engine, tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(InvalidParameterValue, match="absolute"):
        buckets.add_bucket("rel", "photos", False)
    with pytest.raises(InvalidParameterValue, match="not a directory"):
        buckets.add_bucket("gone", str(tmp_path / "gone"), False)
    with pytest.raises(InvalidParameterValue, match="contains the server's data"):
        buckets.add_bucket("above", str(tmp_path), False)
    with pytest.raises(InvalidParameterValue, match="contains the server's data"):
        buckets.add_bucket("root", "/", False)
    (tmp_path / "data" / "inner").mkdir()
    with pytest.raises(InvalidParameterValue, match="inside the server's data"):
        buckets.add_bucket("inner", str(tmp_path / "data" / "inner"), False)


def test_buckets_persist_and_refuse_removal_while_used(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    buckets = registry(engine, tmp_path)
    buckets.add_bucket("photos", str(tmp_path / "photos"), False)
    with pytest.raises(ResourceConflict, match="already exists"):
        buckets.add_bucket("photos", str(tmp_path / "photos"), False)
    trigger = buckets.add_trigger("fn", "photos", suffix=".jpg", events=["s3:ObjectRemoved:*"])
    again = registry(engine, tmp_path)
    assert [b.name for b in again.buckets()] == ["conf", "photos"]
    assert again.triggers() == [trigger]
    with pytest.raises(ResourceConflict, match="has triggers"):
        again.remove_bucket("photos")
    with pytest.raises(ResourceConflict, match=r"config\.toml"):
        again.remove_bucket("conf")
    again.remove_trigger(trigger.id)
    with pytest.raises(ResourceConflict, match="mounted by reader"):
        registry(engine, tmp_path, mounted=["reader"]).remove_bucket("photos")
    again.remove_bucket("photos")
    assert [b.name for b in registry(engine, tmp_path).buckets()] == ["conf"]


def test_triggers_name_an_existing_function_and_bucket(engine: Engine, tmp_path: Path) -> None:
    buckets = registry(engine, tmp_path)
    with pytest.raises(ResourceNotFound, match="ghost"):
        buckets.add_trigger("ghost", "conf")
    with pytest.raises(ResourceNotFound, match="Bucket not found"):
        buckets.add_trigger("fn", "nope")
    with pytest.raises(InvalidParameterValue, match="relative"):
        buckets.add_trigger("fn", "conf", prefix="/in")
    buckets.add_trigger("fn", "conf")
    buckets.remove_function_triggers("fn")
    assert buckets.triggers() == []


def test_event_types_in_s3s_words_or_short() -> None:
    assert parse_events(["s3:ObjectCreated:*", "removed", "ObjectCreated:Put"]) == (
        FileEventKind.CREATED,
        FileEventKind.REMOVED,
    )
    with pytest.raises(InvalidParameterValue, match="Unknown event type"):
        parse_events(["s3:ObjectRestore:*"])
    with pytest.raises(InvalidParameterValue, match="at least one"):
        parse_events([])


def test_a_writable_bucket_goes_to_the_bucket_group(engine: Engine, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a directory to another group")
    (tmp_path / "thumbs").mkdir(mode=0o755)
    bucket = registry(engine, tmp_path).add_bucket("thumbs", str(tmp_path / "thumbs"), True)
    assert bucket.group == GID
    info = (tmp_path / "thumbs").stat()
    assert info.st_gid == GID
    assert info.st_mode & stat.S_ISGID and info.st_mode & 0o070 == 0o070


def test_buckets_never_nest_nor_overlap_the_system_or_faas(engine: Engine, tmp_path: Path) -> None:
    buckets = registry(engine, tmp_path)
    zone = tmp_path / "zone"
    (zone / "outer" / "inner").mkdir(parents=True)
    buckets.add_bucket("outer", str(zone / "outer"), True)
    with pytest.raises(InvalidParameterValue, match="buckets cannot nest"):
        buckets.add_bucket("inner", str(zone / "outer" / "inner"), False)
    with pytest.raises(InvalidParameterValue, match="buckets cannot nest"):
        buckets.add_bucket("above", str(zone), False)
    for system in ("/etc", "/usr/share", "/proc"):
        with pytest.raises(InvalidParameterValue, match="belongs to the system or to faas"):
            buckets.add_bucket("system", system, False)
    package = Path(faas.__file__).resolve().parent
    with pytest.raises(InvalidParameterValue, match="belongs to the system or to faas"):
        buckets.add_bucket("code", str(package), False)


def test_a_bucket_directory_swapped_for_a_link_is_not_used(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    registry(engine, tmp_path).add_bucket("photos", str(tmp_path / "photos"), True)
    (tmp_path / "victim").mkdir(mode=0o755)
    (tmp_path / "photos").rmdir()
    os.symlink(tmp_path / "victim", tmp_path / "photos")
    assert [b.name for b in registry(engine, tmp_path).buckets()] == ["conf"]
    assert stat.S_IMODE((tmp_path / "victim").stat().st_mode) == 0o755
