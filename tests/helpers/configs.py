"""A function's configuration for tests that need one without a server."""

from __future__ import annotations

import dataclasses
from typing import Any

from faas.domain import FunctionConfig


def function_config(name: str = "fn", **changes: Any) -> FunctionConfig:
    """A small valid configuration; `changes` replace fields."""
    base = FunctionConfig(
        name=name,
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/lambda",
        memory_mb=128,
        timeout_s=3,
        ephemeral_storage_mb=512,
        environment={},
        description="",
        code_sha256="0" * 64,
        code_size=10,
        revision_id="rev-1",
        last_modified="2024-01-01T00:00:00.000+0000",
    )
    return dataclasses.replace(base, **changes)
