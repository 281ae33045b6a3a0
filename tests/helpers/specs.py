"""A WorkerSpec for tests of the pool and the sandbox, with only what a test cares about
given."""

from __future__ import annotations

from typing import Any

from faas.domain import WorkerSpec


def worker_spec(name: str = "fn", **given: Any) -> WorkerSpec:
    """Function `name`'s $LATEST: 128 MB, 3 s, 512 MB of /tmp, no environment; `given`
    replaces any field."""
    fields: dict[str, Any] = {
        "key": f"{name}:1",
        "function_name": name,
        "version": "$LATEST",
        "runtime": "python3.11",
        "handler": "app.handler",
        "memory_mb": 128,
        "timeout_s": 3,
        "ephemeral_storage_mb": 512,
        "environment": {},
        "code_dir": f"/srv/code/{name}",
        "function_arn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        "region": "us-east-1",
    }
    fields.update(given)
    return WorkerSpec(**fields)
