"""Invocation records for store tests."""

from __future__ import annotations

import dataclasses

from faas.domain import InvocationStatus, Record


def record(request_id: str, function_name: str = "hello", **changes: object) -> Record:
    """A successful invocation's record; `changes` replace fields."""
    base = Record(
        request_id=request_id,
        function_name=function_name,
        function_version="$LATEST",
        started_at_ms=1_700_000_000_000,
        duration_ms=12.5,
        billed_ms=13,
        memory_mb=128,
        max_memory_used_mb=40,
        init_duration_ms=None,
        status=InvocationStatus.SUCCESS,
        error_type=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
