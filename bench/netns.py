"""The benchmark's own network: on a root host, the whole run (servers, their network
layers, the load generator) moves into a new network namespace with only loopback, so the
servers' veth pairs, nftables tables and forwarding never touch the host's network, and no
traffic can leave the machine."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

CLONE_NEWNET = 0x40000000


def enter_private_network() -> str:
    """Before any thread or server starts. Returns where the run's network is."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "the host's (not root: the servers' network layer is off anyway)"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"the host's (unshare failed: {os.strerror(ctypes.get_errno())})"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    return "a network namespace of the run's own (loopback only)"
