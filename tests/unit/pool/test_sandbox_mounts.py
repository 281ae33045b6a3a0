"""SandboxPlanner's mounts: what a worker's plan says about the host directories bound under
/mnt (the directories, their groups, the Landlock rules), root or not, and what it refuses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from faas.config import SandboxSettings
from faas.domain import Mount, WorkerSpec
from faas.errors import ServiceError
from faas.pool.sandbox import (
    CLONE_NEWNS,
    CLONE_NEWUSER,
    HostSandbox,
    PreparedSandbox,
    SandboxPlanner,
)
from tests.helpers.specs import worker_spec

FIRST_UID = 300000


def host(*, root: bool = True, mount_namespace_why: str = "", landlock_abi: int = 3) -> HostSandbox:
    return HostSandbox(
        root=root,
        cgroup=None,
        cgroup_why="not probed",
        mount_namespace_why=mount_namespace_why,
        net_namespace_why="",
        landlock_abi=landlock_abi,
        seccomp=False,
        scratch_why="not probed",
    )


def spec(*mounts: Mount) -> WorkerSpec:
    return worker_spec(network="host", sandbox_uid=7, mounts=mounts)


def planner(tmp_path: Path, sandbox: HostSandbox) -> SandboxPlanner:
    return SandboxPlanner(
        sandbox,
        SandboxSettings(first_uid=FIRST_UID, prepared_tmp_slots=0, network_layer="off"),
        tmp_path / "data",
    )


PHOTOS = Mount("/srv/buckets/photos", "/mnt/photos")
UPLOADS = Mount("/srv/buckets/uploads", "/mnt/uploads", writable=True, group=4001)
SHARED = Mount("/srv/buckets/shared", "/mnt/shared", writable=True, group=4001)
LOGS = Mount("/srv/buckets/logs", "/mnt/logs", group=4000)


def test_the_plan_names_each_mount_and_the_groups_of_the_functions_uid(tmp_path: Path) -> None:
    prepared = planner(tmp_path, host()).prepare(spec(PHOTOS, UPLOADS, SHARED, LOGS))
    assert prepared.plan["mounts"] == [
        {"source": "/srv/buckets/photos", "target": "/mnt/photos", "writable": False},
        {"source": "/srv/buckets/uploads", "target": "/mnt/uploads", "writable": True},
        {"source": "/srv/buckets/shared", "target": "/mnt/shared", "writable": True},
        {"source": "/srv/buckets/logs", "target": "/mnt/logs", "writable": False},
    ]
    assert prepared.plan["groups"] == [4000, 4001]  # each once
    assert prepared.plan["uid"] == prepared.plan["gid"] == FIRST_UID + 7
    assert prepared.plan["namespaces"] & CLONE_NEWNS


def test_landlock_allows_mnt_and_each_mount_with_its_rights(tmp_path: Path) -> None:
    rules = planner(tmp_path, host()).prepare(spec(PHOTOS, UPLOADS)).plan["landlock"]["rules"]
    assert ["/mnt", "r"] in rules
    assert ["/mnt/photos", "r"] in rules
    assert ["/mnt/uploads", "rw"] in rules
    assert not [rule for rule in rules if rule[0].startswith("/srv/buckets")]


def test_without_mounts_nothing_of_mnt_is_planned(tmp_path: Path) -> None:
    prepared = planner(tmp_path, host()).prepare(spec())
    assert "mounts" not in prepared.plan and "groups" not in prepared.plan
    assert not [rule for rule in prepared.plan["landlock"]["rules"] if rule[0].startswith("/mnt")]


def test_a_spare_completed_for_the_function_gets_its_mounts(tmp_path: Path) -> None:
    made = planner(tmp_path, host())
    prepared = made.prepare_spare()
    assert "mounts" not in prepared.plan and "landlock_base" in prepared.plan
    made.complete(prepared, spec(UPLOADS))
    assert prepared.plan["mounts"][0]["target"] == "/mnt/uploads"
    assert prepared.plan["groups"] == [4001]
    assert ["/mnt/uploads", "rw"] in prepared.plan["landlock"]["rules"]


def test_without_root_mounts_are_bound_in_a_user_namespace_and_no_group_is_given(
    tmp_path: Path,
) -> None:
    prepared = planner(tmp_path, host(root=False)).prepare(spec(PHOTOS, UPLOADS))
    assert prepared.plan["namespaces"] & (CLONE_NEWUSER | CLONE_NEWNS) == (
        CLONE_NEWUSER | CLONE_NEWNS
    )
    assert [m["target"] for m in prepared.plan["mounts"]] == ["/mnt/photos", "/mnt/uploads"]
    # The worker keeps the platform's uid, and a user namespace may not set groups.
    assert "uid" not in prepared.plan and "groups" not in prepared.plan
    assert ["/mnt/uploads", "rw"] in prepared.plan["landlock"]["rules"]


def test_a_host_without_mount_namespaces_refuses_mounts_saying_why(tmp_path: Path) -> None:
    made = planner(tmp_path, host(root=False, mount_namespace_why="unshare failed: EPERM"))
    with pytest.raises(ServiceError) as refused:
        made.prepare(spec(PHOTOS))
    message = str(refused.value)
    assert message.startswith("fn mounts /mnt/photos, but this host cannot make mount namespaces")
    assert message.endswith("unshare failed: EPERM")
    assert "mounts" not in made.prepare(spec()).plan  # functions without mounts still start


@pytest.mark.parametrize(
    ("mount", "why"),
    [
        (Mount("/srv/b", "/mnt/.."), "a mount path is /mnt/ and a name"),
        (Mount("/srv/b", "/mnt/."), "a mount path is /mnt/ and a name"),
        (Mount("/srv/b", "/mnt/a/b"), "a mount path is /mnt/ and a name"),
        (Mount("/srv/b", "/var/task"), "a mount path is /mnt/ and a name"),
        (Mount("/srv/b", "/mnt/"), "a mount path is /mnt/ and a name"),
        (Mount("srv/b", "/mnt/b"), "the source must be an absolute path"),
        (Mount("/", "/mnt/b"), "holds the platform's data directory"),
        (Mount("/srv/b", "/mnt/b", group=0), "its group must be a gid above 0"),
    ],
)
def test_a_mount_the_sandbox_cannot_carry_out_safely_is_refused(
    tmp_path: Path, mount: Mount, why: str
) -> None:
    with pytest.raises(ServiceError, match=why):
        planner(tmp_path, host()).prepare(spec(mount))


def test_two_directories_at_one_path_are_refused(tmp_path: Path) -> None:
    other = dataclasses.replace(PHOTOS, source="/srv/buckets/other")
    with pytest.raises(ServiceError, match="two directories at /mnt/photos"):
        planner(tmp_path, host()).prepare(spec(PHOTOS, other))


def test_a_source_inside_the_data_directory_is_allowed(tmp_path: Path) -> None:
    inside = Mount(str(tmp_path / "data" / "buckets" / "b"), "/mnt/b")
    prepared: PreparedSandbox = planner(tmp_path, host()).prepare(spec(inside))
    assert prepared.plan["mounts"][0]["source"] == inside.source
