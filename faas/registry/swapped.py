"""Copy-on-write dictionaries of dictionaries, as the registries keep their caches: a writer
builds a new outer dictionary and swaps it in, so readers on the event loop never lock and
never see half a change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

Inner = TypeVar("Inner", bound=Mapping[Any, Any])


def swapped(outer: Mapping[str, Inner], key: str, inner: Inner) -> dict[str, Inner]:
    """A copy of `outer` with `inner` under `key`, or without `key` when `inner` is empty."""
    updated = dict(outer)
    if inner:
        updated[key] = inner
    else:
        updated.pop(key, None)
    return updated
