"""Host directories bound under /mnt in real workers: what a function can read, write and
reach there, who owns what it writes, and how a missing directory fails the start.

As root, with the host's whole sandbox (mount namespace, per-function uid, Landlock, seccomp).
The buckets live outside /tmp (the worker's own /tmp replaces it), in world-readable
directories, so that only Landlock keeps a function out of their neighbours.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import os
import shutil
import sys
import tempfile
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from faas.config import PoolSettings, SandboxSettings
from faas.domain import Mount, WorkerSpec
from faas.pool.launcher import ZygoteLauncher, runtime_dir
from faas.pool.manager import PoolManager
from faas.pool.sandbox import HostSandbox, SandboxPlanner, probe_host
from faas.pool.worker import InitFailed

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
FIRST_UID = 200000
BUCKET_GID = 199_977  # the gid the platform would give a writable bucket's directory
OUTSIDE_TMP = ("/var/tmp", "/srv", "/opt")
WORLD_READABLE_DIR = 0o755
WORLD_READABLE_FILE = 0o644
SHARED_WITH_GROUP_DIR = 0o2775  # setgid: what is made inside keeps the bucket's group


def why_skip(host: HostSandbox) -> str:
    if not host.root:
        return "needs root (a per-function uid and the full sandbox)"
    if not host.mount_namespace:
        return f"no mount namespace here: {host.mount_namespace_why}"
    return ""


@pytest.fixture(scope="module")
def host() -> HostSandbox:
    probed = probe_host(sys.executable, runtime_dir() / "python")
    reason = why_skip(probed)
    if reason:
        print(f"\nskipping mounts: {reason}")
        pytest.skip(reason)
    return probed


@pytest.fixture(scope="module")
def outside_tmp() -> Iterator[Path]:
    """A world-readable directory outside /tmp, holding the buckets and their neighbours."""
    parent = next((p for p in OUTSIDE_TMP if os.access(p, os.W_OK | os.X_OK)), None)
    if parent is None:
        pytest.skip(f"none of {OUTSIDE_TMP} is writable")
    directory = Path(tempfile.mkdtemp(prefix="faas-mounts-", dir=parent))
    directory.chmod(WORLD_READABLE_DIR)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# Workers forked for their function, and spares that were forked before they knew it.
@pytest.fixture(params=[0, 2], ids=["forked", "spares"])
async def manager(
    request: pytest.FixtureRequest, host: HostSandbox, tmp_path: Path
) -> AsyncIterator[PoolManager]:
    planner = SandboxPlanner(
        host,
        SandboxSettings(first_uid=FIRST_UID, prepared_tmp_slots=0, network_layer="off"),
        tmp_path / "data",
    )
    await asyncio.to_thread(planner.setup)
    pool = PoolManager(
        PoolSettings(idle_ttl_s=60, reap_interval_s=60, init_timeout_s=10, max_log_bytes=8192),
        ZygoteLauncher({RUNTIME: sys.executable}, planner, spares=int(request.param)),
    )
    pool.start()
    yield pool
    await pool.stop()
    await asyncio.to_thread(planner.teardown)


def bucket(parent: Path, name: str, files: dict[str, str] | None = None) -> Path:
    directory = parent / f"{name}-{uuid.uuid4().hex[:8]}"
    directory.mkdir(mode=WORLD_READABLE_DIR)
    directory.chmod(WORLD_READABLE_DIR)
    for file_name, text in (files or {}).items():
        (directory / file_name).write_text(text)
        (directory / file_name).chmod(WORLD_READABLE_FILE)
    return directory


def writable_bucket(parent: Path, name: str) -> Path:
    """As the platform prepares a writable bucket: its directory belongs to the bucket's gid,
    group-writable and setgid; workers that mount it get that gid."""
    directory = bucket(parent, name)
    os.chown(directory, 0, BUCKET_GID)
    directory.chmod(SHARED_WITH_GROUP_DIR)
    return directory


def make_spec(code_parent: Path, source: str, mounts: tuple[Mount, ...]) -> WorkerSpec:
    name = f"fn-{uuid.uuid4().hex[:8]}"
    code_dir = code_parent / name
    code_dir.mkdir(parents=True)
    (code_dir / "app.py").write_text(textwrap.dedent(source))
    return WorkerSpec(
        key=f"{name}:1",
        function_name=name,
        version="$LATEST",
        runtime=RUNTIME,
        handler="app.handler",
        memory_mb=128,
        timeout_s=10,
        ephemeral_storage_mb=512,
        environment={},
        code_dir=str(code_dir),
        function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        region="us-east-1",
        mounts=mounts,
    )


async def call(manager: PoolManager, spec: WorkerSpec, event: object = None) -> Any:
    worker = await manager.acquire(spec)
    try:
        result = await worker.invoke(
            uuid.uuid4().hex, json.dumps(event or {}).encode(), spec.function_arn, None
        )
    finally:
        manager.release(worker)
    assert result.error_type is None, result.payload
    return json.loads(result.payload)


# Each step is tried on its own and reported as the data it gave or -errno.
TRY = """
    import os

    def attempt(step, *args):
        try:
            return step(*args)
        except OSError as exc:
            return -exc.errno

    def read(path):
        with open(path) as opened:
            return opened.read()

    def write(path, text):
        with open(path, "w") as opened:
            opened.write(text)
        return len(text)

    def stat(path):
        found = os.stat(path)
        return {"uid": found.st_uid, "gid": found.st_gid}

    STEPS = {
        "list": lambda path: sorted(os.listdir(path)),
        "read": read,
        "write": write,
        "append": lambda path: write(path, "more"),
        "remove": os.remove,
        "mkdir": os.mkdir,
        "rmdir": os.rmdir,
        "rename": os.rename,
        "truncate": lambda path: os.truncate(path, 0),
        "stat": stat,
        "exists": os.path.exists,
        "options": lambda path: mount_options(path),
    }

    def mount_options(path):
        # The per-mount options of the mount at `path` (the last one there wins).
        options = None
        with open("/proc/self/mountinfo") as mountinfo:
            for line in mountinfo:
                fields = line.split()
                if fields[4] == path:
                    options = sorted(fields[5].split(","))
        return options

    def handler(event, context):
        results = [attempt(STEPS[name], *args) for name, *args in event["steps"]]
        return {"uid": os.getuid(), "groups": sorted(os.getgroups()), "results": results}
"""


async def run_steps(manager: PoolManager, spec: WorkerSpec, *steps: list[Any]) -> Any:
    return await call(manager, spec, {"steps": [list(step) for step in steps]})


REFUSED = (-errno.EROFS, -errno.EACCES)


async def test_a_read_only_mount_can_be_listed_and_read_but_not_changed(
    manager: PoolManager, outside_tmp: Path, tmp_path: Path
) -> None:
    source = bucket(outside_tmp, "photos", {"a.txt": "alpha", "b.txt": "beta"})
    (source / "sub").mkdir(mode=WORLD_READABLE_DIR)
    spec = make_spec(tmp_path, TRY, (Mount(str(source), "/mnt/photos"),))
    answer = await run_steps(
        manager,
        spec,
        ["list", "/mnt/photos"],
        ["read", "/mnt/photos/a.txt"],
        ["write", "/mnt/photos/new.txt", "x"],
        ["append", "/mnt/photos/a.txt"],
        ["truncate", "/mnt/photos/b.txt"],
        ["remove", "/mnt/photos/a.txt"],
        ["mkdir", "/mnt/photos/dir"],
        ["rmdir", "/mnt/photos/sub"],
        ["rename", "/mnt/photos/a.txt", "/mnt/photos/c.txt"],
        ["options", "/mnt/photos"],
        ["options", "/mnt"],
    )
    listed, read, *changes, bucket_options, mnt_options = answer["results"]
    # Read-only in the mount itself, not only by Landlock.
    assert {"ro", "nosuid", "nodev"} <= set(bucket_options), bucket_options
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(mnt_options), mnt_options
    assert listed == ["a.txt", "b.txt", "sub"]
    assert read == "alpha"
    for refused in changes:
        assert refused in REFUSED, answer
    assert sorted(p.name for p in source.iterdir()) == ["a.txt", "b.txt", "sub"]
    assert (source / "a.txt").read_text() == "alpha" and (source / "b.txt").read_text() == "beta"
    assert answer["groups"] == []  # no mount names a group


async def test_mnt_shows_only_the_functions_mounts_and_their_neighbours_stay_out_of_reach(
    manager: PoolManager, outside_tmp: Path, tmp_path: Path
) -> None:
    source = bucket(outside_tmp, "docs", {"readme": "hello"})
    sibling = bucket(outside_tmp, "other", {"secret": "not for functions"})
    spec = make_spec(tmp_path, TRY, (Mount(str(source), "/mnt/docs"),))
    answer = await run_steps(
        manager,
        spec,
        ["list", "/mnt"],
        ["exists", str(outside_tmp)],
        ["list", str(outside_tmp)],
        ["read", str(sibling / "secret")],
        ["list", "/mnt/docs/.."],
        ["mkdir", "/mnt/elsewhere"],
        ["list", str(source)],
        ["write", str(source / "readme"), "changed"],
    )
    mnt, parent_exists, parent, secret, up, made, same_directory, written = answer["results"]
    assert mnt == ["docs"]  # not the host's /mnt
    # The host's permissions would allow all of these (world-readable): Landlock refuses.
    assert parent_exists is True
    assert parent == -errno.EACCES
    assert secret == -errno.EACCES
    assert up == ["docs"]  # .. of a mount is /mnt, the worker's own
    assert made in REFUSED
    # Landlock's rules follow directories, not paths: at its host path the source is the same
    # directory with the same rights (read-only here), and nothing more.
    assert same_directory == ["readme"]
    assert written == -errno.EACCES
    assert (source / "readme").read_text() == "hello"


async def test_a_writable_mount_takes_every_change_and_the_host_sees_the_functions_uid(
    manager: PoolManager, outside_tmp: Path, tmp_path: Path
) -> None:
    source = writable_bucket(outside_tmp, "uploads")
    spec = make_spec(tmp_path, TRY, (Mount(str(source), "/mnt/uploads", True, BUCKET_GID),))
    answer = await run_steps(
        manager,
        spec,
        ["write", "/mnt/uploads/draft.txt", "first"],
        ["append", "/mnt/uploads/draft.txt"],
        ["truncate", "/mnt/uploads/draft.txt"],
        ["write", "/mnt/uploads/draft.txt", "final"],
        ["rename", "/mnt/uploads/draft.txt", "/mnt/uploads/final.txt"],
        ["mkdir", "/mnt/uploads/dir"],
        ["write", "/mnt/uploads/dir/nested.txt", "nested"],
        ["rename", "/mnt/uploads/dir/nested.txt", "/mnt/uploads/moved.txt"],
        ["rmdir", "/mnt/uploads/dir"],
        ["write", "/mnt/uploads/scratch.txt", "gone soon"],
        ["remove", "/mnt/uploads/scratch.txt"],
        ["list", "/mnt/uploads"],
        ["read", "/mnt/uploads/final.txt"],
        ["options", "/mnt/uploads"],
    )
    uid = answer["uid"]
    assert uid >= FIRST_UID, answer  # its own uid, not the platform's
    assert answer["groups"] == [BUCKET_GID]
    *changes, listed, read, options = answer["results"]
    assert {"rw", "nosuid", "nodev"} <= set(options), options
    refused = [result for result in changes if isinstance(result, int) and result < 0]
    assert refused == [], answer
    assert listed == ["final.txt", "moved.txt"]
    assert read == "final"
    written = (source / "final.txt").stat()
    assert (written.st_uid, written.st_gid) == (uid, BUCKET_GID)  # who wrote it, and the bucket's
    assert (source / "moved.txt").read_text() == "nested"


async def test_two_mounts_at_once_each_with_its_own_rights(
    manager: PoolManager, outside_tmp: Path, tmp_path: Path
) -> None:
    models = bucket(outside_tmp, "models", {"weights.bin": "0101"})
    out = writable_bucket(outside_tmp, "out")
    spec = make_spec(
        tmp_path,
        TRY,
        (Mount(str(models), "/mnt/models"), Mount(str(out), "/mnt/out", True, BUCKET_GID)),
    )
    answer = await run_steps(
        manager,
        spec,
        ["list", "/mnt"],
        ["read", "/mnt/models/weights.bin"],
        ["write", "/mnt/out/result.txt", "done"],
        ["write", "/mnt/models/result.txt", "nope"],
        ["rename", "/mnt/out/result.txt", "/mnt/models/result.txt"],
    )
    listed, weights, written, refused, across = answer["results"]
    assert listed == ["models", "out"]
    assert weights == "0101" and written == 4
    assert refused in REFUSED
    assert across in (*REFUSED, -errno.EXDEV)
    assert (out / "result.txt").read_text() == "done"
    assert not (models / "result.txt").exists()


async def test_a_mount_under_tmp_or_the_data_directory_is_still_bound(
    manager: PoolManager, tmp_path: Path
) -> None:
    """/tmp is replaced by the worker's own and the data directory is hidden: a source there
    is held open before either happens."""
    under_tmp = bucket(Path(tempfile.mkdtemp(prefix="faas-mounts-")), "tmp-bucket", {"f": "t"})
    under_tmp.parent.chmod(WORLD_READABLE_DIR)
    data_dir = tmp_path / "data"
    under_data = bucket(data_dir, "data-bucket", {"f": "d"})
    try:
        spec = make_spec(
            tmp_path,
            TRY,
            (Mount(str(under_tmp), "/mnt/t"), Mount(str(under_data), "/mnt/d")),
        )
        answer = await run_steps(manager, spec, ["read", "/mnt/t/f"], ["read", "/mnt/d/f"])
        assert answer["results"] == ["t", "d"]
    finally:
        shutil.rmtree(under_tmp.parent, ignore_errors=True)


async def test_a_missing_source_fails_the_start_naming_it(
    manager: PoolManager, outside_tmp: Path, tmp_path: Path
) -> None:
    missing = outside_tmp / f"gone-{uuid.uuid4().hex[:8]}"
    spec = make_spec(tmp_path, TRY, (Mount(str(missing), "/mnt/gone"),))
    with pytest.raises(InitFailed) as failed:
        await asyncio.wait_for(manager.acquire(spec), 15)
    document = json.loads(failed.value.failure.document)
    assert failed.value.failure.error_type == "Runtime.ExitError"
    assert document["errorType"] == "Runtime.ExitError"
    assert str(missing) in document["errorMessage"] and "/mnt/gone" in document["errorMessage"]
    assert "No such file or directory" in document["errorMessage"]


async def test_snapshot_clones_inherit_the_templates_mounts(
    manager: PoolManager, outside_tmp: Path, tmp_path: Path
) -> None:
    source = bucket(outside_tmp, "snap", {"f": "from the template"})
    spec = dataclasses.replace(
        make_spec(tmp_path, TRY, (Mount(str(source), "/mnt/snap"),)), snap_start=True
    )
    for _ in range(2):
        answer = await run_steps(manager, spec, ["read", "/mnt/snap/f"], ["list", "/mnt"])
        assert answer["results"] == ["from the template", ["snap"]]


async def test_other_mounts_for_the_same_version_get_new_workers(
    manager: PoolManager, outside_tmp: Path, tmp_path: Path
) -> None:
    first = bucket(outside_tmp, "first", {"f": "1"})
    second = bucket(outside_tmp, "second", {"f": "2"})
    spec = make_spec(tmp_path, TRY, (Mount(str(first), "/mnt/b"),))
    moved = dataclasses.replace(spec, mounts=(Mount(str(second), "/mnt/b"),))
    assert (await run_steps(manager, spec, ["read", "/mnt/b/f"]))["results"] == ["1"]
    assert (await run_steps(manager, moved, ["read", "/mnt/b/f"]))["results"] == ["2"]
    assert manager.stats().idle == 1  # the first worker was retired, not kept beside
