"""SandboxPlanner and a function's layers: its merged tree bound read-only at /opt, Landlock
allowing it, and a refusal where the host cannot make mount namespaces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from faas.config import SandboxSettings
from faas.errors import ServiceError
from faas.pool.environment import worker_environment
from faas.pool.sandbox import HostSandbox, SandboxPlanner
from tests.helpers.specs import worker_spec


def host(*, root: bool = True, mount_namespace_why: str = "") -> HostSandbox:
    return HostSandbox(
        root=root,
        cgroup=None,
        cgroup_why="not probed",
        mount_namespace_why=mount_namespace_why,
        net_namespace_why="",
        landlock_abi=3,
        seccomp=False,
        scratch_why="not probed",
    )


SPEC = worker_spec(network="host", sandbox_uid=7, opt_dir="/srv/layers/opt/abc")


def planner(tmp_path: Path, sandbox: HostSandbox) -> SandboxPlanner:
    settings = SandboxSettings(first_uid=300000, prepared_tmp_slots=0, network_layer="off")
    return SandboxPlanner(sandbox, settings, tmp_path / "data")


@pytest.mark.parametrize("root", [True, False])
def test_the_tree_is_bound_at_opt_and_landlock_allows_it(tmp_path: Path, root: bool) -> None:
    if not Path("/opt").is_dir():
        pytest.skip("this host has no /opt to bind layers on")
    prepared = planner(tmp_path, host(root=root)).prepare(SPEC)
    assert prepared.plan["opt"] == {"source": "/srv/layers/opt/abc", "target": "/opt"}
    rules = prepared.plan["landlock"]["rules"]
    assert ["/opt", "rx"] in rules
    assert not [rule for rule in rules if rule[0].startswith("/srv/layers")]


def test_without_layers_nothing_of_opt_is_planned(tmp_path: Path) -> None:
    prepared = planner(tmp_path, host()).prepare(dataclasses.replace(SPEC, opt_dir=""))
    assert "opt" not in prepared.plan
    assert ["/opt", "rx"] not in prepared.plan["landlock"]["rules"]


def test_a_host_without_mount_namespaces_refuses_layers_saying_why(tmp_path: Path) -> None:
    made = planner(tmp_path, host(root=False, mount_namespace_why="user namespaces are off"))
    with pytest.raises(ServiceError, match=r"uses layers.*user namespaces are off"):
        made.prepare(SPEC)


def test_with_layers_the_path_and_library_path_name_opt() -> None:
    env = worker_environment(SPEC, "/runtime", "stream")
    assert env["PATH"].split(":")[-1] == "/opt/bin"
    assert env["LD_LIBRARY_PATH"] == "/opt/lib"
    mine = dataclasses.replace(SPEC, environment={"LD_LIBRARY_PATH": "/var/task/lib"})
    assert worker_environment(mine, "/runtime", "stream")["LD_LIBRARY_PATH"] == "/var/task/lib"
    without = worker_environment(dataclasses.replace(SPEC, opt_dir=""), "/runtime", "stream")
    assert "/opt/bin" not in without["PATH"] and "LD_LIBRARY_PATH" not in without
