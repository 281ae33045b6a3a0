"""Applies a sandbox plan inside a freshly forked worker, before any user code runs.

Standard library only (ctypes for the system calls Python does not wrap). The platform
decides WHAT to apply (faas/pool/sandbox.py probes the host and writes the plan); this
module only carries it out, in a fixed order, and fails loudly: a worker whose sandbox
could not be applied never runs user code.

Plan keys (all optional):
  rlimits: {"NOFILE": [soft, hard], ...}   resource limits (names of resource.RLIMIT_*)
  no_new_privs: bool                       prctl(PR_SET_NO_NEW_PRIVS)
"""

from __future__ import annotations

import ctypes
import resource
from typing import Any

PR_SET_NO_NEW_PRIVS = 38


class SandboxError(Exception):
    """A layer the plan asked for could not be applied."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"{what} failed: errno {errno}")


def set_rlimits(limits: dict[str, list[int]]) -> None:
    for name, (soft, hard) in limits.items():
        kind = getattr(resource, f"RLIMIT_{name}")
        resource.setrlimit(kind, (soft, hard))


def set_no_new_privs() -> None:
    _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def apply(plan: dict[str, Any]) -> None:
    """Apply every layer the plan names, in the order that keeps each step possible."""
    if plan.get("rlimits"):
        set_rlimits(plan["rlimits"])
    if plan.get("no_new_privs"):
        set_no_new_privs()
