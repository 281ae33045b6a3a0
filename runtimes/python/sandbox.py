"""Applies a sandbox plan inside a freshly forked worker, before any user code runs.

Standard library only (ctypes for the system calls Python does not wrap). The platform
decides WHAT to apply (faas/pool/sandbox.py probes the host and writes the plan); this
module carries it out in a fixed order and fails loudly: a worker whose sandbox could not be
applied never runs user code (the zygote child exits and the invocation fails).

Order (each step needs the privileges the next ones drop):
  join cgroups -> open /proc/self/clear_refs -> Landlock rules for the system paths ->
  rlimits -> new mount/IPC/UTS(/net) namespaces -> private mounts -> loopback up (custom
  runtimes) -> mount sources (and the layers' tree) held open -> code at /var/task
  (read-only) -> layers at /opt (read-only) -> /tmp -> the interpreter's prefix made
  reachable -> faas's runtime files (custom runtimes) -> the AWS SDK at /var/runtime (Python)
  or /var/runtime/node_modules (Node.js) -> mounts under /mnt -> hide paths -> a
  /proc of its own -> drop to the function's uid and its mounts' groups (dumpable again) ->
  no_new_privs -> Landlock rules for code, /opt, /tmp, /proc and /mnt, enforced -> seccomp
A spare carries out the first three steps when it is forked (they do not depend on the
function), the rest when it is given a function.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import resource
import socket
import struct
import sys
from typing import Any

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEW_ANY = (
    CLONE_NEWNS
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWCGROUP
)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
# Per-mount flags of a bind's source that a bind must keep: a read-only or noexec host mount
# stays so (a user namespace could not clear them anyway: the kernel locks them).
KEPT_SOURCE_FLAGS = os.ST_RDONLY | os.ST_NOEXEC  # the same bits as MS_RDONLY, MS_NOEXEC

# Where a function's mounts (FileSystemConfigs LocalMountPath) appear.
MOUNT_ROOT = "/mnt"
# Where a function's layers appear (merged, read-only), as on Lambda.
OPT_ROOT = "/opt"

# Syscall numbers by machine: the ones a function never needs and an escape would.
SYSCALLS = {
    "x86_64": {
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "ptrace": 101,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "unshare": 272,
        "setns": 308,
        "bpf": 321,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "kexec_load": 246,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "open_by_handle_at": 304,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "clone": 56,
        "clone3": 435,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
    },
    "aarch64": {
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "ptrace": 117,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "unshare": 97,
        "setns": 268,
        "bpf": 280,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "kexec_load": 104,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "swapon": 224,
        "swapoff": 225,
        "reboot": 142,
        "open_by_handle_at": 265,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "clone": 220,
        "clone3": 435,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
    },
}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
DENIED = (
    "ptrace",
    "mount",
    "umount2",
    "pivot_root",
    "unshare",
    "setns",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "swapon",
    "swapoff",
    "reboot",
    "open_by_handle_at",
    "process_vm_readv",
    "process_vm_writev",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)

# Landlock access rights (ABI 1..3 for files).
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1, 2, 4, 8
LL_REMOVE_DIR, LL_REMOVE_FILE, LL_MAKE_CHAR, LL_MAKE_DIR = 16, 32, 64, 128
LL_MAKE_REG, LL_MAKE_SOCK, LL_MAKE_FIFO, LL_MAKE_BLOCK, LL_MAKE_SYM = 256, 512, 1024, 2048, 4096
LL_REFER, LL_TRUNCATE = 8192, 16384
LL_SCOPE_ABSTRACT_UNIX_SOCKET, LL_SCOPE_SIGNAL = 1, 2
LL_READ = LL_READ_FILE | LL_READ_DIR
LL_READ_EXEC = LL_READ | LL_EXECUTE
LL_WRITE = (
    LL_WRITE_FILE
    | LL_REMOVE_DIR
    | LL_REMOVE_FILE
    | LL_MAKE_DIR
    | LL_MAKE_REG
    | LL_MAKE_SOCK
    | LL_MAKE_FIFO
    | LL_MAKE_SYM
)


# What a worker's own /proc is mounted with (and the probe tries): see mount_proc().
PROC_OPTIONS = "hidepid=invisible"


class SandboxError(Exception):
    """A layer the plan asked for could not be applied."""


_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"{what} failed: {os.strerror(errno)} (errno {errno})")
    return result


def machine() -> str:
    name = platform.machine()
    return "aarch64" if name in {"arm64", "aarch64"} else name


# -- layers ------------------------------------------------------------------------------


def join_cgroups(procs_files: list[str]) -> None:
    pid = str(os.getpid())
    for path in procs_files:
        with open(path, "w") as procs:
            procs.write(pid)


def open_clear_refs() -> int | None:
    """This process's /proc/self/clear_refs, open for writing: the runtime resets its memory
    high-water mark through it before each invocation. It must be opened now: once the uid
    changes the process is no longer dumpable, so its /proc files belong to root, and Landlock
    leaves /proc read-only. A descriptor opened before keeps working. None on a kernel
    without the file."""
    try:
        return os.open("/proc/self/clear_refs", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return None


def set_rlimits(limits: dict[str, list[int]]) -> None:
    for name, (soft, hard) in limits.items():
        kind = getattr(resource, f"RLIMIT_{name}")
        resource.setrlimit(kind, (soft, hard))


def unshare(flags: int) -> None:
    uid, gid = os.geteuid(), os.getegid()
    _check(_LIBC.unshare(flags), "unshare")
    if flags & CLONE_NEWUSER:
        map_identity(uid, gid)


def join_network(path: str, user_path: str | None = None) -> None:
    """Enter the network namespace the platform prepared for this worker (its slot: veth,
    routes and firewall rules, or pasta, already in place). Before unshare(): a later network
    namespace would replace it. Without root the slot lives in a user namespace of the
    platform's (mapping only its uid), joined first: it gives the rights in it that
    unshare() of the mount namespace needs next."""
    for namespace, kind in ((user_path, CLONE_NEWUSER), (path, CLONE_NEWNET)):
        if namespace is None:
            continue
        fd = os.open(namespace, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_LIBC.setns(fd, kind), f"setns {namespace}")
        finally:
            os.close(fd)


def bind_resolv_conf(source: str) -> None:
    """The platform's resolver on the slot's gateway, in place of the host's (unreachable
    from the namespace), in this worker's mount namespace only."""
    if os.path.exists("/etc/resolv.conf"):
        mount(source, "/etc/resolv.conf", None, MS_BIND, None)
        mount("none", "/etc/resolv.conf", None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)


def map_identity(uid: int, gid: int) -> None:
    """In a new user namespace, keep being who we were (files keep their owner)."""
    with open("/proc/self/setgroups", "w") as setgroups:
        setgroups.write("deny")
    with open("/proc/self/uid_map", "w") as uid_map:
        uid_map.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as gid_map:
        gid_map.write(f"{gid} {gid} 1")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        _LIBC.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def bind_read_only(source: str, target: str) -> None:
    mount(source, target, None, MS_BIND | MS_REC, None)
    mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def expose_runtime(prefix: str, covered: str, staging: str) -> None:
    """Make the interpreter's prefix reachable for the function's uid at its own path.

    `covered` is the first ancestor of `prefix` that others may not enter (such as /root):
    it is covered with an empty read-only tmpfs holding only a read-only bind of the prefix,
    so paths (and the zygote's imported modules) stay valid and nothing else there shows.
    """
    bind_read_only(prefix, staging)
    mount("tmpfs", covered, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    os.makedirs(prefix, mode=0o755, exist_ok=True)
    path = prefix
    while path != covered:  # makedirs' mode is filtered by the umask: set it outright
        os.chmod(path, 0o755)
        path = os.path.dirname(path)
    bind_read_only(staging, prefix)
    mount("none", covered, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
IFREQ = struct.Struct("16sh22x")  # struct ifreq: the name, then ifr_flags in the union


def bring_up_loopback() -> None:
    """A new network namespace's loopback starts down: a custom runtime's Runtime API listens
    on it (with the rights the namespace's creator still has)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            request = IFREQ.pack(b"lo", 0)
            flags = IFREQ.unpack(fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(sock, SIOCSIFFLAGS, IFREQ.pack(b"lo", flags | IFF_UP))
        except OSError as exc:
            raise SandboxError(f"bringing up the loopback failed: {exc.strerror}") from exc


def mount_tmp(tmp: dict[str, Any]) -> None:
    """The worker's own /tmp. Paths under the old /tmp that must stay (`keep`: the code, when
    it lives there) are held open, then bound back at the same place on the new /tmp."""
    kept = [(path, os.open(path, os.O_PATH | os.O_CLOEXEC)) for path in tmp.get("keep", [])]
    if tmp.get("bind"):
        mount(tmp["bind"], "/tmp", None, MS_BIND, None)
    else:
        size = f"size={int(tmp['size_mb'])}m,mode=1777"
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size)
    for path, fd in kept:
        os.makedirs(path, mode=0o755, exist_ok=True)
        bind_read_only(f"/proc/self/fd/{fd}", path)
        os.close(fd)


def open_held(source: str, what: str) -> int:
    """`source` (a directory) held open as O_PATH, never through a link put where it was;
    SandboxError naming `what` when it cannot be."""
    try:
        return os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxError(f"{what} cannot be used: {exc.strerror}") from exc


def bind_held(fd: int, target: str, writable: bool = False) -> None:
    """Bind the directory held open as `fd` at `target` (not recursively): read-only unless
    `writable`, never suid or device files, and keeping the source's own read-only and noexec
    (a user namespace could not clear them: the kernel locks them)."""
    flags = MS_NOSUID | MS_NODEV | (os.fstatvfs(fd).f_flag & KEPT_SOURCE_FLAGS)
    if not writable:
        flags |= MS_RDONLY
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND, None)
    mount("none", target, None, MS_BIND | MS_REMOUNT | flags, None)


def open_mount_sources(mounts: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Each mount's source directory, held open (O_PATH) as soon as the mount namespace is
    ours: a later step may cover where it lives (/tmp replaced, a closed home directory or the
    data directory hidden), and a missing source fails the worker here, naming it."""
    held: list[tuple[dict[str, Any], int]] = []
    try:
        for entry in mounts:
            source, target = str(entry["source"]), str(entry["target"])
            held.append((entry, open_held(source, f"mount source {source} for {target}")))
    except BaseException:
        for _, fd in held:
            os.close(fd)
        raise
    return held


def mount_under_mnt(held: list[tuple[dict[str, Any], int]]) -> None:
    """A small read-only tmpfs on /mnt (nothing of the host's /mnt shows) holding one bind of
    each source: read-only unless writable, never suid or device files. Not recursive: host
    mounts below a source (another worker's /tmp, say) stay out, and none escapes the
    read-only remount."""
    mount("tmpfs", MOUNT_ROOT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755")
    try:
        for entry, fd in held:
            target = str(entry["target"])
            os.mkdir(target, 0o755)
            try:
                bind_held(fd, target, bool(entry.get("writable")))
            except SandboxError as exc:  # say which: the kernel's EINVAL names nothing
                raise SandboxError(
                    f"mount source {entry['source']} for {target} cannot be bound: {exc}"
                ) from exc
    finally:
        for _, fd in held:
            os.close(fd)
    mount("none", MOUNT_ROOT, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None)


def hide(paths: list[str]) -> None:
    """Cover platform directories with an empty read-only tmpfs."""
    for path in paths:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")


def mount_proc(options: str) -> None:
    """A procfs of this mount namespace's own on /proc. With `hidepid=invisible` it lists only
    the processes the reader may ptrace: its own uid's, where they are dumpable and, under
    Landlock, in its own domain. Kernels before 5.8 do not know "invisible" (EINVAL): there
    every procfs mount of a pid namespace shares one superblock, so hidepid would change the
    host's /proc too, and no older spelling is tried."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)


def drop_privileges(uid: int, gid: int, groups: list[int] | None = None) -> None:
    """To the function's uid; its only supplementary groups are those of its mounts (so it
    may write a writable bucket whose directory belongs to that group)."""
    os.setgroups(groups or [])
    os.setgid(gid)
    os.setuid(uid)


def set_dumpable() -> None:
    """Changing the uid made this process non-dumpable, and the children it forks inherit
    that: under hidepid they would be hidden from it, and the runtime could not measure their
    memory. Dumpable again, its entries open up to its own uid within its own Landlock domain
    only (ptrace itself stays denied by seccomp)."""
    _check(_LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(SET_DUMPABLE)")


def set_no_new_privs() -> None:
    _check(_LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def landlock_ruleset(rules: list[list[Any]], abi: int) -> int:
    """A Landlock ruleset allowing the listed paths (read, read+execute, or read+write);
    more rules may be added until landlock_restrict() enforces it.

    Rules attach to the files themselves, not to paths: a ruleset built before the worker's
    mounts change still means the same system directories afterwards."""
    numbers = SYSCALLS[machine()]
    handled = _landlock_handled(abi)
    # ABI 6+: also scope signals and abstract unix sockets to this sandbox, so even a
    # function sharing the platform's uid (non-root hosts) cannot signal the platform.
    scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", handled, 0, scoped)
    size = 24 if scoped else 8
    ruleset = _check(
        _LIBC.syscall(numbers["landlock_create_ruleset"], attr, ctypes.c_size_t(size), 0),
        "landlock_create_ruleset",
    )
    try:
        landlock_allow(ruleset, rules, abi)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def landlock_allow(ruleset: int, rules: list[list[Any]], abi: int) -> None:
    numbers = SYSCALLS[machine()]
    handled = _landlock_handled(abi)
    for path, mode in rules:
        _landlock_allow(ruleset, path, _landlock_rights(mode) & handled, numbers)


def landlock_restrict(ruleset: int) -> None:
    """Enforce the ruleset on this process (and everything it starts) from now on."""
    try:
        _check(
            _LIBC.syscall(SYSCALLS[machine()]["landlock_restrict_self"], ruleset, 0),
            "landlock_restrict_self",
        )
    finally:
        os.close(ruleset)


def _landlock_handled(abi: int) -> int:
    rights = LL_READ_EXEC | LL_WRITE | LL_MAKE_CHAR | LL_MAKE_BLOCK
    if abi >= 2:
        rights |= LL_REFER
    if abi >= 3:
        rights |= LL_TRUNCATE
    return rights


def _landlock_rights(mode: str) -> int:
    rights = {"r": LL_READ, "rx": LL_READ_EXEC, "rw": LL_READ | LL_WRITE | LL_REFER | LL_TRUNCATE}
    return rights[mode]


def _landlock_allow(ruleset: int, path: str, rights: int, numbers: dict[str, int]) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this host does not have
    try:
        if not os.path.isdir(path):
            rights &= LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE
        beneath = struct.pack("=Qi", rights, fd)
        _check(
            _LIBC.syscall(numbers["landlock_add_rule"], ruleset, 1, beneath, 0),
            f"landlock_add_rule {path}",
        )
    finally:
        os.close(fd)


def seccomp() -> None:
    """Deny the escape-and-spy system calls with EPERM; everything else is allowed."""
    program = _SECCOMP_PROGRAM or _seccomp_program(machine())
    filters = (ctypes.c_ubyte * len(program)).from_buffer_copy(program)
    fprog = struct.pack("HxxxxxxQ", len(program) // 8, ctypes.addressof(filters))
    _check(_LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0), "seccomp")


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _seccomp_program(arch: str) -> bytes:
    ld_w_abs, jeq_k, jset_k, ret_k = 0x20, 0x15, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    errno_eperm, errno_enosys = 0x00050000 | 1, 0x00050000 | 38
    numbers = SYSCALLS[arch]
    program = [
        _bpf(ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        _bpf(jeq_k, 1, 0, AUDIT_ARCH[arch]),
        _bpf(ret_k, 0, 0, kill),
        _bpf(ld_w_abs, 0, 0, 0),  # seccomp_data.nr
    ]
    if arch == "x86_64":  # x32 system calls alias the real ones: refuse them all
        program += [_bpf(0x35, 0, 1, 0x40000000), _bpf(ret_k, 0, 0, errno_eperm)]
    for name in DENIED:
        program += [_bpf(jeq_k, 0, 1, numbers[name]), _bpf(ret_k, 0, 0, errno_eperm)]
    # clone3 hides its flags in memory a filter cannot read: ENOSYS makes libc use clone.
    program += [_bpf(jeq_k, 0, 1, numbers["clone3"]), _bpf(ret_k, 0, 0, errno_enosys)]
    # clone with any CLONE_NEW* flag (arg 0 on x86_64 and aarch64): EPERM.
    program += [
        _bpf(jeq_k, 0, 3, numbers["clone"]),
        _bpf(ld_w_abs, 0, 0, 16),  # low 32 bits of args[0]
        _bpf(jset_k, 0, 1, CLONE_NEW_ANY),
        _bpf(ret_k, 0, 0, errno_eperm),
        _bpf(ret_k, 0, 0, allow),
    ]
    return b"".join(program)


# Built once when the zygote imports this module, so each worker only loads it.
_SECCOMP_PROGRAM = _seccomp_program(machine()) if machine() in SYSCALLS else b""


# -- the plan ----------------------------------------------------------------------------


def apply(plan: dict[str, Any], opened: dict[str, int] | None = None) -> dict[str, int]:
    """Apply every layer the plan names, in the order that keeps each step possible.

    A spare applies the part that does not depend on the function when it is forked, and the
    rest when it is given one: `opened` carries what the first part left open. Returns the
    descriptors the runtime keeps using ("clear_refs_fd": see open_clear_refs) or a later
    part needs ("landlock_fd": a ruleset being built)."""
    opened = dict(opened or {})
    join_cgroups(plan.get("cgroup_procs") or [])
    if "clear_refs_fd" not in opened:
        clear_refs = open_clear_refs()
        if clear_refs is not None:
            opened["clear_refs_fd"] = clear_refs
    if plan.get("landlock_base"):
        base = plan["landlock_base"]
        opened["landlock_fd"] = landlock_ruleset(base["rules"], int(base["abi"]))
    set_rlimits(plan.get("rlimits") or {})
    _isolate_mounts(plan)
    if plan.get("uid") is not None:
        groups = [int(group) for group in plan.get("groups") or []]
        drop_privileges(int(plan["uid"]), int(plan["gid"]), groups)
    if plan.get("dumpable"):
        set_dumpable()
    if plan.get("no_new_privs"):
        set_no_new_privs()
    if plan.get("landlock"):
        _enforce_landlock(plan["landlock"], opened.pop("landlock_fd", None))
    if plan.get("no_new_privs") and "landlock_fd" in opened:
        os.close(opened.pop("landlock_fd"))  # the last part: user code gets no leftovers
    if plan.get("seccomp"):
        seccomp()
    return opened


def _enter_namespaces(plan: dict[str, Any]) -> None:
    if plan.get("netns"):  # first: a network namespace unshared next would replace it
        join_network(plan["netns"], plan.get("userns"))
    if plan.get("namespaces"):
        unshare(int(plan["namespaces"]))
        mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    if plan.get("loopback"):
        bring_up_loopback()


def _isolate_mounts(plan: dict[str, Any]) -> None:
    _enter_namespaces(plan)
    if plan.get("mounts") and not int(plan.get("namespaces") or 0) & CLONE_NEWNS:
        raise SandboxError("mounts need a mount namespace of the worker's own")
    # Held open in this namespace (a bind's source must be in it), before anything covers them.
    sources = open_mount_sources(plan.get("mounts") or [])
    layers = _hold_tree(plan.get("opt"), "the layers' tree")
    runtime_files = _hold_tree(plan.get("runtime_files"), "faas's runtime files")
    runtime_sdk = _hold_tree(plan.get("runtime_sdk"), "the AWS SDK")
    if plan.get("resolv_conf"):
        # First: its source is in the data dir, which /tmp may replace and `hide` covers.
        bind_resolv_conf(plan["resolv_conf"])
    _bind_code(plan, layers)
    if plan.get("tmp"):
        mount_tmp(plan["tmp"])
    # After every bind whose source is under the data dir: covering a closed directory (say
    # /root) for the runtime may hide the data dir too, when it lives there.
    if plan.get("runtime"):
        runtime = plan["runtime"]
        expose_runtime(runtime["prefix"], runtime["covered"], runtime["staging"])
    if runtime_files is not None:
        # Over the interpreter's staging mount at /var/runtime: nothing else uses that path.
        _bind_tree(runtime_files)
    if runtime_sdk is not None:
        # Over that staging mount too (Python), or inside the runtime files (Node.js).
        _bind_tree(runtime_sdk)
    # After /tmp and the runtime: a data dir under /mnt still had to serve their binds.
    if sources:
        mount_under_mnt(sources)
    hide(plan.get("hide") or [])
    if plan.get("proc_view"):
        mount_proc(PROC_OPTIONS)


def _hold_tree(entry: dict[str, Any] | None, what: str) -> tuple[int, str] | None:
    """A directory bound read-only later ({"source", "target"}: the layers' merged tree, faas's
    runtime files), held open now (it may live where later steps replace or cover), and
    where it goes."""
    if not entry:
        return None
    source = str(entry["source"])
    return open_held(source, f"{what} {source}"), str(entry["target"])


def _bind_tree(held: tuple[int, str]) -> None:
    fd, target = held
    try:
        bind_held(fd, target)
    finally:
        os.close(fd)


def _bind_code(plan: dict[str, Any], layers: tuple[int, str] | None) -> None:
    """The function's code at /var/task and its layers at /opt, read-only."""
    if plan.get("task_root"):
        bind_read_only(plan["code_dir"], plan["task_root"])
        os.chdir(plan["task_root"])
    if layers is not None:
        _bind_tree(layers)


def _enforce_landlock(part: dict[str, Any], ruleset: int | None) -> None:
    """Add the function's rules to the ruleset built ahead (or build it now), enforce it."""
    rules, abi = part["rules"], int(part["abi"])
    if ruleset is None:
        ruleset = landlock_ruleset(rules, abi)
    else:
        landlock_allow(ruleset, rules, abi)
    landlock_restrict(ruleset)


# -- probing (run by the platform as `python -I -S sandbox.py --probe`) ------------------


def _probe_in_child(flags: int, proc_options: str = "") -> str:
    """Try unshare(flags) (and a /proc mounted with `proc_options`) in a throwaway child; ''
    on success, else the reason."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            unshare(flags)
            if flags & CLONE_NEWNS:
                mount("none", "/", None, MS_REC | MS_PRIVATE, None)
                mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
            if proc_options:
                mount_proc(proc_options)
            os.write(write_end, b"ok")
        except (SandboxError, OSError) as exc:
            os.write(write_end, str(exc).encode()[:200])
        os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 256).decode(errors="replace")
    os.close(read_end)
    os.waitpid(pid, 0)
    return "" if answer == "ok" else answer or "probe child died"


def landlock_abi() -> int:
    create_version = 1
    try:
        number = SYSCALLS[machine()]["landlock_create_ruleset"]
    except KeyError:
        return 0
    result = _LIBC.syscall(number, None, ctypes.c_size_t(0), create_version)
    return max(int(result), 0)


def seccomp_available() -> bool:
    try:
        with open("/proc/self/status") as status:
            return any(line.startswith("Seccomp:") for line in status)
    except OSError:
        return False


def probe() -> dict[str, Any]:
    root = os.geteuid() == 0
    base = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
    userns = CLONE_NEWUSER if not root else 0
    return {
        "machine": machine(),
        "root": root,
        "mount_namespace": _probe_in_child(base | userns),
        "net_namespace": _probe_in_child(base | CLONE_NEWNET | userns),
        "proc_view": _probe_in_child(base | userns, PROC_OPTIONS),
        "landlock_abi": landlock_abi(),
        "seccomp": seccomp_available() and machine() in SYSCALLS,
    }


if __name__ == "__main__" and sys.argv[1:] == ["--probe"]:
    import json

    print(json.dumps(probe()))
