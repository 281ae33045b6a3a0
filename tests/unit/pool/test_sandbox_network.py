"""SandboxPlanner's network part, with a layer that records what it is asked: what each
FaasNetwork means, the plan a worker gets, the API endpoint, allowlists, shared slots and the
honest report when there is no layer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from faas.config import SandboxSettings
from faas.domain import NetworkDestination, WorkerSpec
from faas.errors import ServiceError
from faas.pool.network import SlotKind
from faas.pool.sandbox import (
    CLONE_NEWNET,
    CLONE_NEWUSER,
    HostSandbox,
    SandboxPlanner,
    isolation_tag,
    layers,
)
from tests.helpers.specs import worker_spec


@dataclasses.dataclass
class FakeSlot:
    kind: SlotKind
    number: int


class FakeLayer:
    supports_allowlist = True
    description = "fake"
    api_endpoint = "http://100.64.0.1:9000"

    def __init__(self, *, user: bool = False, allowlists: bool = True) -> None:
        self.user = user
        self.supports_allowlist = allowlists
        self.resolv_conf: Path | None = None
        self.acquired: list[tuple[SlotKind, tuple[NetworkDestination, ...], bool]] = []
        self.released: list[FakeSlot] = []
        self.torn_down = False

    def setup(self, state_dir: Path) -> None:
        self.resolv_conf = state_dir / "resolv.conf"

    def teardown(self) -> None:
        self.torn_down = True

    def publish_api(self, port: int) -> None:
        pass

    def has_idle(self, kind: SlotKind) -> bool:
        return True

    def acquire(
        self, kind: SlotKind, allowed: Sequence[NetworkDestination] = (), *, api: bool = False
    ) -> FakeSlot:
        self.acquired.append((kind, tuple(allowed), api))
        return FakeSlot(kind, len(self.acquired))

    def join_plan(self, slot: FakeSlot) -> dict[str, str]:
        plan = {"netns": f"/run/netns/slot{slot.number}"}
        if self.user:
            plan["userns"] = f"/proc/{slot.number}/ns/user"
        return plan

    def release(self, slot: FakeSlot) -> None:
        self.released.append(slot)


def host(*, root: bool = True, network_why: str = "") -> HostSandbox:
    return HostSandbox(
        root=root,
        cgroup=None,
        cgroup_why="not probed",
        mount_namespace_why="",
        net_namespace_why="",
        landlock_abi=0,
        seccomp=False,
        scratch_why="not probed",
        network_why=network_why,
    )


def spec(network: str = "default", allow: tuple[str, ...] = ()) -> WorkerSpec:
    return worker_spec(
        network=network,
        network_allow=tuple(NetworkDestination.parse(entry) for entry in allow),
    )


def planner(
    tmp_path: Path, layer: FakeLayer | None, *, root: bool = True, **settings: Any
) -> SandboxPlanner:
    made = SandboxPlanner(
        host(root=root, network_why="" if layer else "no layer here"),
        SandboxSettings(prepared_tmp_slots=0, **settings),
        tmp_path / "data",
        network=layer,
    )
    made.setup()
    return made


def test_default_means_egress_with_a_layer_and_the_host_without(tmp_path: Path) -> None:
    with_layer = planner(tmp_path, FakeLayer())
    without = planner(tmp_path, None)
    assert with_layer.network_mode("default") == "egress"
    assert without.network_mode("default") == "host"  # fell back, and says so below
    assert without.network_mode("none") == "none"
    assert planner(tmp_path, FakeLayer(), default_network="none").network_mode("default") == "none"
    assert "netns-egress" in with_layer.isolation("default")
    assert "net-host-unsafe" in without.isolation("default")
    assert "net-host-unsafe" in with_layer.isolation("host")
    assert isolation_tag(host(), "none").endswith(" netns")
    network = {layer.name: layer for layer in layers(without.host)}["network"]
    assert not network.active and "no layer here" in network.detail
    assert network.meaning.startswith("UNSAFE")


def test_an_egress_worker_joins_a_slot_and_gets_the_platforms_resolver(tmp_path: Path) -> None:
    layer = FakeLayer()
    made = planner(tmp_path, layer)
    prepared = made.prepare(spec())
    assert prepared.plan["netns"] == "/run/netns/slot1"
    assert prepared.plan["resolv_conf"] == str(tmp_path / "data" / "net" / "resolv.conf")
    assert not prepared.plan["namespaces"] & CLONE_NEWNET  # its slot is its network
    assert layer.acquired == [(SlotKind.EGRESS, (), False)]
    assert "AWS_ENDPOINT_URL_LAMBDA" not in prepared.env
    made.release(prepared)
    assert layer.released == [FakeSlot(SlotKind.EGRESS, 1)]
    made.teardown()
    assert layer.torn_down


def test_a_worker_with_credentials_gets_an_api_slot_and_its_endpoint(tmp_path: Path) -> None:
    layer = FakeLayer()
    prepared = planner(tmp_path, layer).prepare(spec("egress"), api_access=True)
    assert [kind for kind, _, _ in layer.acquired] == [SlotKind.API]
    assert prepared.env["AWS_ENDPOINT_URL_LAMBDA"] == "http://100.64.0.1:9000"


def test_host_and_none_take_no_slot(tmp_path: Path) -> None:
    layer = FakeLayer()
    made = planner(tmp_path, layer)
    on_host = made.prepare(spec("host"))
    cut_off = made.prepare(spec("none"))
    assert "netns" not in on_host.plan and not on_host.plan["namespaces"] & CLONE_NEWNET
    assert cut_off.plan["namespaces"] & CLONE_NEWNET
    assert layer.acquired == []


def test_an_allowlist_is_given_to_its_slot_or_refused(tmp_path: Path) -> None:
    layer = FakeLayer()
    planner(tmp_path, layer).prepare(spec("allowlist", ("10.0.0.5/32:5432",)), api_access=True)
    kind, allowed, api = layer.acquired[0]
    assert kind is SlotKind.ALLOWLIST and api
    assert allowed == (NetworkDestination.parse("10.0.0.5/32:5432"),)
    for refusing in (planner(tmp_path, None), planner(tmp_path, FakeLayer(allowlists=False))):
        with pytest.raises(ServiceError, match="cannot enforce one"):
            refusing.prepare(spec("allowlist", ("10.0.0.5/32",)))


def test_without_root_a_worker_joins_its_slots_user_namespace(tmp_path: Path) -> None:
    layer = FakeLayer(user=True)
    prepared = planner(tmp_path, layer, root=False).prepare(spec())
    assert prepared.plan["userns"] == "/proc/1/ns/user"
    assert not prepared.plan["namespaces"] & CLONE_NEWUSER  # it has one: its slot's
    cut_off = planner(tmp_path, layer, root=False).prepare(spec("none"))
    assert cut_off.plan["namespaces"] & CLONE_NEWUSER


def test_snapshot_clones_share_the_templates_slot_until_the_last_is_gone(tmp_path: Path) -> None:
    layer = FakeLayer()
    made = planner(tmp_path, layer)
    template = made.prepare(spec())
    clones = [made.prepare_clone(spec(), template) for _ in range(2)]
    made.release(template)
    made.release(clones[0])
    assert layer.released == []
    made.release(clones[1])
    assert layer.released == [FakeSlot(SlotKind.EGRESS, 1)]
    made.release(clones[1])  # released twice: nothing more
    late = made.prepare_clone(spec(), template)  # the template's lease is gone
    assert late.net is None and len(layer.released) == 1
