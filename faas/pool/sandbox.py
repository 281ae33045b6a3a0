"""The sandbox: which isolation layers this host supports, and the plan for each worker.

At startup `probe_host()` finds out what works here (cgroups, namespaces, Landlock, seccomp,
loop-mounted /tmp, root for per-function uids, a /proc of each worker's own); `layers()`
turns that into the honest table `faas doctor`, `/health` and the startup log show.
`SandboxPlanner.prepare()` turns a WorkerSpec into the plan runtimes/python/sandbox.py
applies in the forked worker, plus the per-worker resources (cgroups, /tmp slot) the
platform owns and releases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faas.config import PoolSettings, SandboxSettings
from faas.domain import MB, MOUNT_TARGET_RE, Mount, WorkerSpec
from faas.errors import ServiceError
from faas.pool.cgroups import (
    CGROUP_ROOT,
    CONTROLLERS,
    CgroupLayout,
    CgroupManager,
    CgroupSetupFailed,
    ProcCgroup,
    WorkerCgroup,
)
from faas.pool.cgroups_v1 import CgroupV1Layout
from faas.pool.cgroups_v2 import CgroupV2Layout
from faas.pool.network import NetworkLayer, SlotKind, WorkerNetwork, network_supported
from faas.pool.scratch import ScratchPool, ScratchSlot, scratch_supported
from faas.pool.sdk import RuntimeSdks
from faas.pool.usernet import UserNetworkLayer, usernet_supported

log = logging.getLogger(__name__)

TASK_ROOT = "/var/task"
RUNTIME_ROOT = "/var/runtime"
# Where Lambda's Node.js runtimes keep the SDK (on their NODE_PATH): inside faas's runtime
# files, whose node_modules directory is the mount point.
NODE_SDK_TARGET = f"{RUNTIME_ROOT}/node_modules"
MOUNT_ROOT = "/mnt"  # a function's mounts (FileSystemConfigs LocalMountPath) live here
OPT_ROOT = "/opt"  # a function's layers, merged, as on Lambda
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
OPEN_FILES = 1024  # Lambda's file descriptor limit
# Specs made outside the registry (which gives each function a uid) get uids from here up, far
# above the registry's, so the two never meet.
UNREGISTERED_UID_OFFSET = 50_000


@dataclass(frozen=True, slots=True)
class HostSandbox:
    """What this host supports; an empty `*_why` means the layer works."""

    root: bool
    cgroup: CgroupLayout | None
    cgroup_why: str
    mount_namespace_why: str
    net_namespace_why: str
    landlock_abi: int
    seccomp: bool
    scratch_why: str
    # Why workers cannot get a network namespace with egress of their own (the network
    # layer: faas/pool/network.py); '' when they can.
    network_why: str = "not probed"
    # A procfs with hidepid=invisible in each worker's mount namespace (root hosts only).
    proc_view_why: str = "not probed"
    # Idle workers frozen through their cgroup (pool.freeze_after_ms).
    freezer_why: str = "not probed"

    @property
    def freezer(self) -> bool:
        return not self.freezer_why

    @property
    def proc_view(self) -> bool:
        return not self.proc_view_why

    @property
    def mount_namespace(self) -> bool:
        return not self.mount_namespace_why

    @property
    def cgroup_version(self) -> int:
        """1 or 2: the cgroup version faas drives; 0 without cgroups."""
        return self.cgroup.version if self.cgroup is not None else 0


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    active: bool
    detail: str
    meaning: str

    def as_dict(self) -> dict[str, object]:
        return {
            "layer": self.name,
            "active": self.active,
            "detail": self.detail,
            "meaning": self.meaning,
        }


@dataclass(eq=False)
class PreparedSandbox:
    """One worker's plan and the platform-side resources it holds."""

    plan: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    cgroup: WorkerCgroup | None = None
    slot: ScratchSlot | None = None
    memory_limit_bytes: int = 0  # enforced by polling when there is no cgroup
    tmp_dir: Path | None = None  # a plain directory /tmp when nothing better exists
    # Read from the cgroup when the worker exited, before the cgroup is released.
    oom_killed: bool = False
    # The network namespace it joined (shared by a snapshot template with its clones).
    net: NetLease | None = None


@dataclass(eq=False)
class NetLease:
    """A network slot and how many workers are in it: it goes back to the layer (and to
    another function) only when the last of them is gone."""

    slot: Any  # the layer's own
    holders: int = 1


def probe_host(interpreter: str, runtime_dir: Path) -> HostSandbox:
    """Probe once at startup (about 30 ms: one short-lived interpreter)."""
    probe = _probe_runtime(interpreter, runtime_dir)
    layout, cgroup_why = detect_cgroups(_read("/proc/self/cgroup"), _read("/proc/self/mountinfo"))
    root = os.geteuid() == 0
    return HostSandbox(
        root=root,
        cgroup=layout,
        cgroup_why=cgroup_why,
        mount_namespace_why=str(probe.get("mount_namespace", "probe failed")),
        net_namespace_why=str(probe.get("net_namespace", "probe failed")),
        landlock_abi=int(probe.get("landlock_abi", 0)),
        seccomp=bool(probe.get("seccomp", False)),
        scratch_why=scratch_supported(),
        network_why=network_supported() if os.geteuid() == 0 else usernet_supported(),
        proc_view_why=proc_view_reason(root, probe),
        freezer_why=layout.freezer_why if layout is not None else f"no cgroups ({cgroup_why})",
    )


def proc_view_reason(root: bool, probe: dict[str, Any]) -> str:
    """'' when each worker can have a /proc listing only its own processes, else why not."""
    if not root:
        # hidepid hides other uids' processes, and every worker has the platform's uid here;
        # a procfs of the worker's own would need a pid namespace (and the worker as its init).
        return "not root: functions share the platform's uid, so hiding by uid hides nothing"
    mount_why = str(probe.get("mount_namespace", "probe failed"))
    if mount_why:
        return f"no mount namespace ({mount_why})"
    why = str(probe.get("proc_view", "probe failed"))
    if "Invalid argument" in why:
        return f"kernel before 5.8 (no hidepid=invisible): {why}"
    return why


def detect_cgroups(
    proc_cgroup: str, mountinfo: str, v1_root: Path = CGROUP_ROOT
) -> tuple[CgroupLayout | None, str]:
    """v1 when its memory, pids and cpu hierarchies are writable (hybrid hosts), else v2 when
    the platform's own unified cgroup offers them, else (None, why). The reason given is
    v1's on hosts that bind any of those controllers to v1, else v2's. Read-only: setup,
    which may still fail, is SandboxPlanner.setup()."""
    v1, v1_why = CgroupV1Layout.detect(proc_cgroup, v1_root)
    if v1 is not None:
        return v1, ""
    v2, v2_why = CgroupV2Layout.detect(proc_cgroup, mountinfo)
    if v2 is not None:
        return v2, ""
    uses_v1 = any(c in ProcCgroup.parse(proc_cgroup).v1 for c in CONTROLLERS)
    return None, v1_why if uses_v1 else v2_why


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _probe_runtime(interpreter: str, runtime_dir: Path) -> dict[str, Any]:
    try:
        completed = subprocess.run(
            [interpreter, "-I", "-S", str(runtime_dir / "sandbox.py"), "--probe"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        return dict(json.loads(completed.stdout))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.warning("sandbox probe failed: %s", exc)
        return {}


def layers(host: HostSandbox) -> list[Layer]:
    """The table of protections, active or not, and what each means for security."""
    memory = {
        1: "cgroup v1 memory limit (OOM kill at MemorySize)",
        2: "cgroup v2 memory.max (OOM kill of the whole worker at MemorySize)",
    }.get(host.cgroup_version, f"RLIMIT_AS + RSS polling ({host.cgroup_why})")
    processes = {
        1: "cgroup v1 pids.max + tree kill",
        2: "cgroup v2 pids.max + tree kill",
    }.get(host.cgroup_version, "process group kill only")
    tmp = (
        "ext4 image per worker, bound on /tmp (exact cap, disk not memory)"
        if not host.scratch_why and host.mount_namespace
        else "tmpfs on /tmp, size-capped (counts as memory)"
        if host.mount_namespace
        else "per-worker TMPDIR directory, RLIMIT_FSIZE + usage polling"
    )
    mount_detail = (
        "own mounts, IPC and hostname; code at /var/task read-only; data dir hidden"
        if host.root
        else "own mounts, IPC and hostname (in a user namespace); /tmp private"
    )
    return [
        Layer(
            "memory",
            host.cgroup is not None,
            memory,
            "a function cannot take more memory than configured"
            if host.cgroup
            else "weaker: child processes and shared memory escape the limit",
        ),
        Layer(
            "processes",
            host.cgroup is not None,
            processes,
            "fork bombs and daemons are contained and die with the worker"
            if host.cgroup
            else "a daemon that calls setsid() can outlive its worker",
        ),
        Layer(
            "/tmp",
            host.mount_namespace,
            tmp,
            "each worker sees only its own /tmp, capped at EphemeralStorage"
            if host.mount_namespace
            else "weaker: a TMPDIR directory; code writing to /tmp itself is only held back "
            "by Landlock",
        ),
        Layer(
            "mount namespace",
            host.mount_namespace,
            host.mount_namespace_why or mount_detail,
            "the platform's files are not even visible"
            if host.root
            else "mounts are private; the platform's files are guarded by Landlock",
        ),
        Layer(
            "per-function uid",
            host.root,
            "uid 200000+ per function" if host.root else "not root",
            "functions cannot signal, ptrace or read each other or the platform"
            if host.root
            else "all functions share the platform's uid",
        ),
        _process_view_layer(host),
        Layer(
            "landlock",
            host.landlock_abi > 0,
            f"ABI {host.landlock_abi}" if host.landlock_abi else "not available in this kernel",
            "file access limited to code, runtime, /tmp and system libraries",
        ),
        Layer(
            "seccomp",
            host.seccomp,
            "ptrace, mount, unshare, setns, bpf, keyctl, perf_event_open, ... denied"
            if host.seccomp
            else "not available",
            "kernel attack surface reduced",
        ),
        Layer(
            "no_new_privs",
            True,
            "prctl(PR_SET_NO_NEW_PRIVS)",
            "setuid binaries cannot raise privileges",
        ),
        _network_layer(host),
        Layer(
            "network namespace",
            not host.net_namespace_why,
            host.net_namespace_why or "an empty one with FaasNetwork=none",
            "a function can be cut off from the network",
        ),
        Layer(
            "freezer",
            host.freezer,
            host.freezer_why or f"cgroup v{host.cgroup_version} freezer after pool.freeze_after_ms",
            "an idle worker runs nothing (background threads included) until its next "
            "invocation, as on Lambda"
            if host.freezer
            else "idle workers' background threads and processes keep running between invocations",
        ),
    ]


def _network_layer(host: HostSandbox) -> Layer:
    if host.network_why:
        return Layer(
            "network",
            False,
            f"FaasNetwork=egress falls back to the host's network: {host.network_why}",
            "UNSAFE: functions reach every service on the host's loopback and the platform's port",
        )
    if host.root:
        return Layer(
            "network",
            True,
            "a network namespace per worker (veth, nftables): egress through NAT, DNS by the "
            "platform, no route to the host",
            "a function reaches the world beyond the host, never the host's loopback, its "
            "addresses or the platform (but through its API endpoint, signed)",
        )
    return Layer(
        "network",
        True,
        "a network namespace per worker, pasta user-mode networking: egress through the "
        "platform's sockets, DNS forwarded, no route to the host's loopback",
        "weaker than as root: other addresses of the host than its main one are reachable, and "
        "FaasNetwork=allowlist is refused (no firewall without root)",
    )


def _process_view_layer(host: HostSandbox) -> Layer:
    if host.proc_view:
        return Layer(
            "process view",
            True,
            "own /proc per worker, hidepid=invisible",
            "a function lists only its own processes: not the platform's, the host's or "
            "another function's",
        )
    if host.root:
        meaning = "weaker: /proc lists every process of the host (their details stay private)"
    elif host.landlock_abi > 0:
        meaning = "weaker: Landlock keeps /proc to the worker's own entries: it cannot be listed"
    else:
        meaning = "weaker: /proc lists every process of the host, the platform's readable"
    return Layer("process view", False, host.proc_view_why, meaning)


def isolation_tag(host: HostSandbox, network: str) -> str:
    """The layers a worker of this host gets, in a few words, for every invocation record:
    e.g. "cgroup-v1 mountns tmp-ext4 uid procview landlock-7 seccomp nnp netns-egress"
    ("netns" with FaasNetwork=none, "net-host-unsafe" on the host's network). The same facts
    as layers(), which explains each."""
    words = [f"cgroup-v{host.cgroup_version}" if host.cgroup is not None else "rlimit-memory"]
    if host.mount_namespace:
        words.append("mountns")
        words.append("tmp-ext4" if not host.scratch_why else "tmp-tmpfs")
    else:
        words.append("tmp-dir")
    if host.root:
        words.append("uid")
    if host.proc_view:
        words.append("procview")
    if host.landlock_abi > 0:
        words.append(f"landlock-{host.landlock_abi}")
    if host.seccomp:
        words.append("seccomp")
    words.append("nnp")
    words.append(_network_word(host, network))
    return " ".join(w for w in words if w)


def _network_word(host: HostSandbox, network: str) -> str:
    """How a worker with this (resolved) FaasNetwork is networked on this host."""
    if network == "none":
        return "netns" if not host.net_namespace_why else ""
    if network in ("egress", "allowlist") and not host.network_why:
        return f"netns-{network}"
    return "net-host-unsafe"


def isolation_summary(host: HostSandbox) -> str:
    """'' when untrusted code is contained; else a loud warning for `faas serve`."""
    if host.landlock_abi == 0 and not host.root:
        return (
            "no Landlock and not root: functions run with the platform's own uid and can "
            "read its database and every function's code. Do not run untrusted code."
        )
    return ""


class SandboxPlanner:
    """Builds each worker's plan and owns its cgroups and /tmp."""

    def __init__(
        self,
        host: HostSandbox,
        settings: SandboxSettings,
        data_dir: Path,
        *,
        network: WorkerNetwork | None = None,
        freeze_after_ms: int = PoolSettings().freeze_after_ms,
    ) -> None:
        """`network`: a layer made by the caller (tests); else setup() picks this host's."""
        self.host = host
        self._freeze_after_ms = freeze_after_ms
        self._settings = settings
        self._data_dir = data_dir
        self._cgroups: CgroupManager | None = host.cgroup.manager() if host.cgroup else None
        use_scratch = not host.scratch_why and host.mount_namespace
        self._scratch = ScratchPool(data_dir / "scratch") if use_scratch else None
        self._uids: dict[str, int] = {}
        self._uids_lock = threading.Lock()
        self._network: WorkerNetwork | None = None
        self._given_network = network
        self._net_lock = threading.Lock()  # NetLease.holders
        self._runtime_exposure = _runtime_exposure(sys.base_prefix)
        # The AWS SDKs workers get (faas.pool.sdk): set by the composition root once made.
        self.sdks = RuntimeSdks()

    @property
    def network(self) -> WorkerNetwork | None:
        """The workers' network layer, when set up (the server publishes its API and DNS on
        the layer's gateway)."""
        return self._network

    def setup(self) -> None:
        """Blocking: cgroup parents, /tmp slots, mount points, the network layer."""
        self._setup_cgroups()
        self._setup_network()
        self._report_freezer()
        if self._scratch is not None:
            self._scratch.setup()
            self._scratch.prepare(512, self._settings.prepared_tmp_slots)
        if self.host.mount_namespace and self.host.root:
            for mount_point in (TASK_ROOT, RUNTIME_ROOT, MOUNT_ROOT, OPT_ROOT):
                Path(mount_point).mkdir(mode=0o755, parents=True, exist_ok=True)

    def _setup_cgroups(self) -> None:
        """Cgroups that fail to set up never stop the platform: it runs without them (memory
        by RLIMIT_AS + RSS polling), and `host` changes to say so, so /health and `faas
        doctor` show what is really active. Only the startup log's table, written before
        this, is corrected by the warning below."""
        if self._cgroups is None or self.host.cgroup is None:
            return
        version = self.host.cgroup.version
        try:
            self._cgroups.setup()
        except (CgroupSetupFailed, OSError) as exc:
            why = (
                exc.reason
                if isinstance(exc, CgroupSetupFailed)
                else f"cgroup v{version} setup failed: {exc}"
            )
            log.warning(
                "sandbox cgroups unavailable, memory falls back to RLIMIT_AS + RSS polling: %s", why
            )
            with contextlib.suppress(OSError):
                self._cgroups.teardown()  # whatever part of the setup was done
            self._cgroups = None
            self.host = dataclasses.replace(self.host, cgroup=None, cgroup_why=why)

    def _setup_network(self) -> None:
        """Like cgroups: a network layer that cannot be set up leaves the platform running,
        with egress on the host's network, and `host` saying so."""
        if self._settings.network_layer == "off":
            self.host = dataclasses.replace(
                self.host, network_why="turned off (sandbox.network_layer = off)"
            )
            return
        if self.host.network_why:
            return
        layer: WorkerNetwork = self._given_network or (
            NetworkLayer(prepared_per_kind=self._settings.prepared_net_slots)
            if self.host.root
            else UserNetworkLayer(prepared_per_kind=self._settings.prepared_net_slots)
        )
        try:
            layer.setup(self._data_dir / "net")
        except (OSError, subprocess.SubprocessError) as exc:
            detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else ""
            why = f"network setup failed: {exc} {detail}".strip()
            log.warning("%s", why)
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                layer.teardown()
            self.host = dataclasses.replace(self.host, network_why=why)
            return
        self._network = layer

    def _report_freezer(self) -> None:
        """What the pool's freezing of idle workers really does here, as set up."""
        if self._cgroups is None:
            why = f"no cgroups ({self.host.cgroup_why})"
        elif self._freeze_after_ms <= 0:
            why = "off: pool.freeze_after_ms is 0"
        else:
            why = self._cgroups.freezer_why
        self.host = dataclasses.replace(self.host, freezer_why=why)

    def teardown(self) -> None:
        if self._network is not None:
            self._network.teardown()
            self._network = None
        if self._scratch is not None:
            self._scratch.teardown()
        if self._cgroups is not None:
            self._cgroups.teardown()

    def prepare(self, spec: WorkerSpec, *, api_access: bool = False) -> PreparedSandbox:
        """Blocking (may format a /tmp image): call from a thread."""
        prepared = self.prepare_spare()
        self.complete(prepared, spec, api_access=api_access)
        return prepared

    def prepare_spare(self) -> PreparedSandbox:
        """The part that does not depend on the function: the cgroup a new worker joins as
        soon as it is forked (joining costs ~10 ms of kernel time, so spares join early)."""
        prepared = PreparedSandbox(plan={})
        if self._cgroups is not None:
            prepared.cgroup = self._cgroups.create()
            prepared.plan["cgroup_procs"] = prepared.cgroup.procs_files
        if self.host.landlock_abi > 0:
            # The same for every function: a spare builds this part of its ruleset ahead.
            prepared.plan["landlock_base"] = {
                "abi": self.host.landlock_abi,
                "rules": self._landlock_system_rules(),
            }
        return prepared

    def network_mode(self, requested: str) -> str:
        """What a FaasNetwork means on this server: "default" is sandbox.default_network, and
        egress without a network layer is the host's network (the startup log, /health and
        the isolation tag say so)."""
        mode = self._settings.default_network if requested == "default" else requested
        return "host" if mode == "egress" and self._network is None else mode

    def isolation(self, network: str) -> str:
        """The isolation_tag of a worker with this FaasNetwork (the host's layers as set up)."""
        return isolation_tag(self.host, self.network_mode(network))

    def completes_quickly(self, spec: WorkerSpec, *, api_access: bool = False) -> bool:
        """True when complete() needs no disk work (a formatted /tmp image is waiting) and
        no `ip` or `nft` run (a network slot of its kind is waiting), so it may run on the
        event loop instead of a thread (a cold start saves the hop)."""
        if self._scratch is not None and not self._scratch.has_idle(spec.ephemeral_storage_mb):
            return False
        mode = self.network_mode(spec.network)
        if mode == "allowlist":
            return False
        if mode == "egress" and self._network is not None:
            return self._network.has_idle(SlotKind.API if api_access else SlotKind.EGRESS)
        return True

    def prepare_clone(
        self, spec: WorkerSpec, template: PreparedSandbox | None = None
    ) -> PreparedSandbox:
        """A snapshot clone's own cgroup (it inherits the rest from its template, whose
        network namespace it shares)."""
        prepared = self.prepare_spare()
        if prepared.cgroup is not None:
            prepared.cgroup.limit_memory(spec.memory_mb)
        if template is not None:
            with self._net_lock:  # the template may be releasing its lease right now
                if template.net is not None:
                    template.net.holders += 1
                    prepared.net = template.net
        return prepared

    def adopt(self, prepared: PreparedSandbox, pid: int) -> None:
        """Blocking: move a forked clone into its cgroup (kernel time ~10 ms; off the path)."""
        if prepared.cgroup is None:
            return
        for procs in prepared.cgroup.procs_files:
            try:
                Path(procs).write_text(str(pid))
            except ProcessLookupError:
                return  # it already ended

    def complete(
        self, prepared: PreparedSandbox, spec: WorkerSpec, *, api_access: bool = False
    ) -> None:
        """Blocking: the function's part of the plan. On failure the caller releases.
        `api_access`: the worker has execution credentials, so it may reach the API."""
        uid = self._uid_for(spec) if self.host.root else None
        prepared.plan.update(rlimits=_rlimits(self.host), no_new_privs=True)
        try:
            self._plan_memory(prepared, spec)
            self._plan_network(prepared, spec, api_access)
            self._plan_namespaces(prepared, spec, uid)
            self._plan_layers(prepared, spec)
            self._plan_mounts(prepared, spec, uid)
            self._plan_proc_view(prepared)
            self._plan_tmp(prepared, spec, uid)
            if uid is not None:
                prepared.plan.update(uid=uid, gid=uid)
            if self.host.landlock_abi > 0:
                prepared.plan["landlock"] = {
                    "abi": self.host.landlock_abi,
                    "rules": self._landlock_function_rules(prepared, spec),
                }
            if self.host.seccomp:
                prepared.plan["seccomp"] = True
        except BaseException:
            self.release(prepared)
            raise

    def release(self, prepared: PreparedSandbox) -> None:
        """Blocking: kill what is left in the worker's cgroup, wipe and return its /tmp."""
        if prepared.cgroup is not None and self._cgroups is not None:
            self._cgroups.release(prepared.cgroup)
            prepared.cgroup = None
        if prepared.slot is not None and self._scratch is not None:
            self._scratch.release(prepared.slot)
            prepared.slot = None
        if prepared.tmp_dir is not None:
            _remove_tree(prepared.tmp_dir)
            prepared.tmp_dir = None
        self._release_network(prepared)

    def expose_runtime_files(self, prepared: PreparedSandbox, source: str) -> str:
        """faas's runtimes directory, read-only, for a custom runtime whose bootstrap ships
        with faas (faas.runtimes): bound at /var/runtime in the worker's mount namespace
        (Lambda's LAMBDA_RUNTIME_DIR), else at its own path; Landlock lets the worker read and
        run it. Returns the path the worker sees."""
        seen = source
        if "task_root" in prepared.plan:
            prepared.plan["runtime_files"] = {"source": source, "target": RUNTIME_ROOT}
            seen = RUNTIME_ROOT
        landlock = prepared.plan.get("landlock")
        if landlock is not None:
            landlock["rules"].append([seen, "rx"])
        return seen

    def expose_sdk(self, prepared: PreparedSandbox, source: str, target: str) -> str:
        """An SDK tree (faas.pool.sdk), read-only: bound at `target` in the worker's mount
        namespace (after faas's runtime files, which may hold `target`'s mount point), else
        seen at its own path; Landlock lets the worker read it. Returns the path the worker
        sees."""
        seen = source
        if "task_root" in prepared.plan:
            prepared.plan["runtime_sdk"] = {"source": source, "target": target}
            seen = target
        landlock = prepared.plan.get("landlock")
        if landlock is not None:
            landlock["rules"].append([seen, "rx"])
        return seen

    def _release_network(self, prepared: PreparedSandbox) -> None:
        """After the cgroup's processes are gone: the last holder returns the slot."""
        with self._net_lock:
            lease, prepared.net = prepared.net, None
            if lease is None:
                return
            lease.holders -= 1
            last = lease.holders == 0
        if last and self._network is not None:
            self._network.release(lease.slot)

    def _plan_network(self, prepared: PreparedSandbox, spec: WorkerSpec, api_access: bool) -> None:
        mode = self.network_mode(spec.network)
        if mode not in ("egress", "allowlist"):
            return  # host: nothing to do; none: an empty namespace (_plan_namespaces)
        if self._network is None or (mode == "allowlist" and not self._network.supports_allowlist):
            why = self.host.network_why or "allowlists need root (nftables)"
            raise ServiceError(
                f"{spec.function_name} asks for FaasNetwork=allowlist, but this host cannot "
                f"enforce one: {why}"
            )
        if mode == "allowlist":
            slot = self._network.acquire(SlotKind.ALLOWLIST, spec.network_allow, api=api_access)
        else:
            slot = self._network.acquire(SlotKind.API if api_access else SlotKind.EGRESS)
        prepared.net = NetLease(slot)
        prepared.plan.update(self._network.join_plan(slot))
        if self._network.resolv_conf is not None and self.host.mount_namespace:
            prepared.plan["resolv_conf"] = str(self._network.resolv_conf)
        if api_access:
            # After the credentials' own endpoint (the host's address, unreachable here).
            prepared.env["AWS_ENDPOINT_URL_LAMBDA"] = self._network.api_endpoint

    def _plan_memory(self, prepared: PreparedSandbox, spec: WorkerSpec) -> None:
        if prepared.cgroup is not None:
            prepared.cgroup.limit_memory(spec.memory_mb)
            return
        limit = spec.memory_mb * MB
        prepared.memory_limit_bytes = limit
        address_space = 2 * limit + 256 * MB  # virtual, not resident: generous on purpose
        prepared.plan["rlimits"]["AS"] = [address_space, address_space]

    def _plan_namespaces(
        self, prepared: PreparedSandbox, spec: WorkerSpec, uid: int | None
    ) -> None:
        none = self.network_mode(spec.network) == "none"
        if none and self.host.net_namespace_why:
            raise ServiceError(
                f"{spec.function_name} asks for FaasNetwork=none, but this host cannot make "
                f"network namespaces: {self.host.net_namespace_why}"
            )
        flags = CLONE_NEWNET if none else 0
        if self.host.mount_namespace:
            flags |= CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
        if not flags:
            return
        if not self.host.root and "userns" not in prepared.plan:
            flags |= CLONE_NEWUSER  # else it joins its network slot's user namespace
        prepared.plan["namespaces"] = flags
        if self.host.root and self.host.mount_namespace:
            prepared.plan.update(
                task_root=TASK_ROOT, code_dir=spec.code_dir, hide=[str(self._data_dir)]
            )
            if self._runtime_exposure is not None:
                prepared.plan["runtime"] = self._runtime_exposure
            prepared.env["LAMBDA_TASK_ROOT"] = TASK_ROOT

    def _plan_layers(self, prepared: PreparedSandbox, spec: WorkerSpec) -> None:
        """The function's layers (their merged tree) bound read-only at /opt in its mount
        namespace, root or not. A host without mount namespaces cannot put them there, and a
        function whose code imports from /opt would not run right elsewhere: refused."""
        if not spec.opt_dir:
            return
        if not self.host.mount_namespace:
            raise ServiceError(
                f"{spec.function_name} uses layers, which faas binds at {OPT_ROOT}, but this host "
                f"cannot make mount namespaces: {self.host.mount_namespace_why}"
            )
        if not Path(OPT_ROOT).is_dir():
            raise ServiceError(
                f"{spec.function_name} uses layers, which faas binds at {OPT_ROOT}, but this host "
                f"has no {OPT_ROOT} directory to bind them on (create it, or run faas as root)"
            )
        prepared.plan["opt"] = {"source": spec.opt_dir, "target": OPT_ROOT}

    def _plan_mounts(self, prepared: PreparedSandbox, spec: WorkerSpec, uid: int | None) -> None:
        """The function's host directories, bound under /mnt in its mount namespace (root or
        not: a user namespace may bind what its uid can reach). With a uid of its own, the
        worker also gets each mount's group, so that uid may write a writable one."""
        if not spec.mounts:
            return
        if not self.host.mount_namespace:
            raise ServiceError(
                f"{spec.function_name} mounts {', '.join(m.target for m in spec.mounts)}, but "
                f"this host cannot make mount namespaces: {self.host.mount_namespace_why}"
            )
        problem = _mounts_problem(spec.mounts, self._data_dir)
        if problem:
            raise ServiceError(f"{spec.function_name} cannot mount {problem}")
        prepared.plan["mounts"] = [
            {"source": m.source, "target": m.target, "writable": m.writable} for m in spec.mounts
        ]
        groups = sorted({m.group for m in spec.mounts if m.group is not None})
        if uid is not None and groups:
            prepared.plan["groups"] = groups

    def _plan_proc_view(self, prepared: PreparedSandbox) -> None:
        """A /proc of the worker's own (in the mount namespace of a per-function uid). The
        worker is made dumpable again after the uid change, else it could not see the
        processes it forks (nor measure their memory); Landlock keeps other workers of the
        same uid out of its entries, so dumpable only where Landlock is enforced."""
        if self.host.proc_view and "task_root" in prepared.plan:
            prepared.plan["proc_view"] = True
            if self.host.landlock_abi > 0:
                prepared.plan["dumpable"] = True

    def _plan_tmp(self, prepared: PreparedSandbox, spec: WorkerSpec, uid: int | None) -> None:
        size = spec.ephemeral_storage_mb
        # Code that lives under /tmp (a data dir there) must survive /tmp being replaced.
        keep = (
            [] if "task_root" in prepared.plan or not _under_tmp(spec.code_dir) else [spec.code_dir]
        )
        if self._scratch is not None:
            prepared.slot = self._scratch.acquire(size, uid)
            prepared.plan["tmp"] = {"bind": str(prepared.slot.directory), "keep": keep}
        elif self.host.mount_namespace:
            prepared.plan["tmp"] = {"size_mb": size, "keep": keep}
        else:
            tmp_dir = self._data_dir / "tmp" / f"{os.getpid()}-{id(prepared)}"
            tmp_dir.mkdir(parents=True, mode=0o700)
            prepared.tmp_dir = tmp_dir
            prepared.env["TMPDIR"] = str(tmp_dir)
            # Per file only: the polling in the worker watch enforces the total.
            prepared.plan["rlimits"]["FSIZE"] = [size * MB, size * MB]

    def _landlock_function_rules(
        self, prepared: PreparedSandbox, spec: WorkerSpec
    ) -> list[list[str]]:
        """The function's code and its /tmp: added once they are mounted in its namespace."""
        in_namespace = "task_root" in prepared.plan
        code = TASK_ROOT if in_namespace else spec.code_dir
        tmp = str(prepared.tmp_dir) if prepared.tmp_dir else "/tmp"
        rules = [[code, "rx"], [tmp, "rw"]]
        if "opt" in prepared.plan:
            rules.append([OPT_ROOT, "rx"])
        if prepared.plan.get("proc_view"):
            # The worker's own procfs: not the one the system rules (built before the mounts
            # changed) name.
            rules.append(["/proc", "r"])
        rules += _landlock_mount_rules(prepared.plan.get("mounts") or [])
        return rules

    def _landlock_system_rules(self) -> list[list[str]]:
        """What every function may use: system libraries and tools, the interpreter, /etc,
        /proc and the harmless devices."""
        rules = [[p, "rx"] for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")]
        rules += [[sys.base_prefix, "rx"], ["/etc", "r"]]
        if self.host.root:
            # Other processes' private /proc files are guarded by their uid (ptrace checks),
            # so all of /proc is readable: a function's subprocesses and snapshot clones read
            # their own /proc/self, whose path differs from the worker's. (With a /proc of the
            # worker's own, the function rules name that one.)
            rules.append(["/proc", "r"])
        else:
            # Same uid as the platform: only this process's own entries.
            rules += [
                [p, "r"] for p in ("/proc/self", "/proc/meminfo", "/proc/cpuinfo", "/proc/stat")
            ]
        rules += [[f"/dev/{d}", "rw"] for d in ("null", "zero", "full", "random", "urandom")]
        return rules

    def _uid_for(self, spec: WorkerSpec) -> int:
        """The registry's uid for the function; a spec without one (made outside the registry)
        gets one of the pool's own."""
        if spec.sandbox_uid is not None:
            return self._settings.first_uid + spec.sandbox_uid
        with self._uids_lock:  # complete() runs in several threads at once
            uid = self._uids.get(spec.function_name)
            if uid is None:
                uid = self._settings.first_uid + UNREGISTERED_UID_OFFSET + len(self._uids)
                self._uids[spec.function_name] = uid
            return uid


def _rlimits(host: HostSandbox) -> dict[str, list[int]]:
    limits = {"NOFILE": [OPEN_FILES, OPEN_FILES], "CORE": [0, 0]}
    if not host.cgroup:
        # Without a pids cgroup, NPROC is the only brake on a fork bomb (per uid; ignored
        # for root).
        limits["NPROC"] = [1024, 1024]
    return limits


def own_network_namespace(plan: dict[str, Any]) -> bool:
    """Whether a worker with this plan gets a network namespace of its own (a slot's, or an
    empty one): its loopback is then its own too."""
    return bool(plan.get("netns")) or bool(int(plan.get("namespaces") or 0) & CLONE_NEWNET)


def _runtime_exposure(prefix: str) -> dict[str, str] | None:
    """How a function's uid reaches the interpreter: None when every directory above the
    prefix is open to others, else the first one that is not (covered in the worker)."""
    path = Path(prefix)
    for ancestor in [*reversed(path.parents), path]:
        try:
            if not ancestor.stat().st_mode & stat.S_IXOTH:
                return {"prefix": prefix, "covered": str(ancestor), "staging": RUNTIME_ROOT}
        except OSError:
            return None
    return None


def _mounts_problem(mounts: tuple[Mount, ...], data_dir: Path) -> str:
    """'' when every mount is one the sandbox can carry out safely, else what is wrong (the
    API checks these first; the pool does not trust it to)."""
    targets: set[str] = set()
    for mount in mounts:
        name = mount.target.removeprefix(f"{MOUNT_ROOT}/")
        if not MOUNT_TARGET_RE.match(mount.target) or name in (".", ".."):
            return f"at {mount.target!r}: a mount path is /mnt/ and a name of A-Z a-z 0-9 _ . -"
        if mount.target in targets:
            return f"two directories at {mount.target}"
        targets.add(mount.target)
        if not Path(mount.source).is_absolute():
            return f"{mount.source!r} at {mount.target}: the source must be an absolute path"
        if data_dir.resolve().is_relative_to(Path(mount.source).resolve()):
            return f"{mount.source} at {mount.target}: it holds the platform's data directory"
        if mount.group is not None and mount.group <= 0:
            return f"{mount.source} at {mount.target}: its group must be a gid above 0 (root)"
    return ""


def _landlock_mount_rules(mounts: list[dict[str, Any]]) -> list[list[str]]:
    """/mnt itself may be listed (it holds only the function's mounts); each mount may be
    read, and a writable one changed: files and directories made, written, truncated, renamed
    within and removed (the "rw" rights of the runtime's Landlock ruleset)."""
    if not mounts:
        return []
    rules = [[MOUNT_ROOT, "r"]]
    rules += [[str(m["target"]), "rw" if m["writable"] else "r"] for m in mounts]
    return rules


def _under_tmp(path: str) -> bool:
    return Path(path).resolve().is_relative_to("/tmp")


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
