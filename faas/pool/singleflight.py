"""Start a shared thing at most once at a time: concurrent callers wait for the same start."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


async def single_flight(
    starting: dict[Hashable, asyncio.Future[T]],
    key: Hashable,
    start: Callable[[], Awaitable[T]],
) -> T:
    """Run `start()` for `key` unless a start for it is already under way; then share its
    outcome (the value, or the same exception) with every caller that came meanwhile."""
    pending = starting.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    starting[key] = future
    try:
        value = await start()
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: the waiters re-raise it themselves
        raise
    finally:
        del starting[key]
    future.set_result(value)
    return value
