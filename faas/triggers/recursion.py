"""Stopping recursive loops through buckets, as Lambda stops them after 16 rounds.

How a chain is tracked: with a uid per function (the server runs as root), a file's owner
says which function wrote it. A file written by a function belongs to the round after the
newest bucket event delivered to that function; a file written by anyone else starts a
chain (round 1). An event of round 17 or later for a function whose RecursiveLoop is
Terminate (the default) is not invoked: the version is recorded in the ledger, the stop is
logged and counted on the trigger. Without per-function uids (a server not run as root)
writers cannot be told apart, and loops are not detected (docs/buckets.md).
"""

from __future__ import annotations

from collections.abc import Callable

from faas.domain import MAX_RECURSION_DEPTH, RECURSIVE_LOOP_ALLOW


class RecursionGuard:
    def __init__(
        self,
        function_for_uid: Callable[[int], str | None],
        recursive_loop_of: Callable[[str], str],
        *,
        max_depth: int = MAX_RECURSION_DEPTH,
    ) -> None:
        self._function_for_uid = function_for_uid
        self._recursive_loop_of = recursive_loop_of
        self._max_depth = max_depth
        # The round of the newest bucket event delivered to each function.
        self._rounds: dict[str, int] = {}

    def writer(self, uid: int) -> str | None:
        """The function that owns files of `uid`, if any."""
        return self._function_for_uid(uid)

    def depth_for(self, writer: str | None) -> int:
        """The round of an event for a file `writer` wrote (None: not a function)."""
        if writer is None:
            return 1
        return self._rounds.get(writer, 0) + 1

    def stops(self, function_name: str, depth: int) -> bool:
        if depth <= self._max_depth:
            return False
        try:
            return self._recursive_loop_of(function_name) != RECURSIVE_LOOP_ALLOW
        except Exception:
            return True  # the function is gone: nothing to invoke either way

    def delivered(self, function_name: str, depth: int) -> None:
        self._rounds[function_name] = depth
