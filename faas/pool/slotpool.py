"""Slots of a kind kept ready ahead of demand: the network layers' namespaces (root and
pasta alike). A background thread tops each kind up to its target after a slot is taken;
a slot given back is kept for the next worker, up to a limit per kind."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Slot = TypeVar("Slot")
Kind = TypeVar("Kind")

MAX_IDLE_PER_KIND = 8
REFILL_DELAY_S = 0.02  # let the cold start that took a slot finish first


class SlotPool(Generic[Kind, Slot]):
    """Thread-safe; take() and give_back() never block on making a slot."""

    def __init__(
        self,
        *,
        target: int,
        make: Callable[[Kind], Slot],
        kinds: Callable[[], Iterable[Kind]],
        name: str,
    ) -> None:
        self._target = target
        self._make = make
        self._kinds = kinds  # which kinds to keep ready (it may change: asked anew each time)
        self._name = name
        self._lock = threading.Lock()
        self._idle: dict[Kind, list[Slot]] = {}
        self._wanted = threading.Event()
        self._stopping = False
        self._refiller: threading.Thread | None = None

    def start(self) -> None:
        """Blocking: the first slots, then the thread that keeps them topped up."""
        self._top_up()
        self._refiller = threading.Thread(target=self._refill_forever, name=self._name)
        self._refiller.start()

    def wake(self) -> None:
        """Top up soon (a slot was taken, or the kinds to keep changed)."""
        self._wanted.set()

    def has_idle(self, kind: Kind) -> bool:
        with self._lock:
            return bool(self._idle.get(kind))

    def take(self, kind: Kind) -> Slot | None:
        with self._lock:
            idle = self._idle.get(kind)
            slot = idle.pop() if idle else None
        self._wanted.set()
        return slot

    def give_back(self, kind: Kind, slot: Slot) -> bool:
        """Kept for the next worker; False when there is no room (or it is stopping)."""
        with self._lock:
            idle = self._idle.setdefault(kind, [])
            if len(idle) < MAX_IDLE_PER_KIND and not self._stopping:
                idle.append(slot)
                return True
        return False

    def stop(self) -> list[Slot]:
        """Stop topping up; the idle slots, for the caller to destroy."""
        self._stopping = True
        self._wanted.set()
        if self._refiller is not None:
            self._refiller.join()
            self._refiller = None
        with self._lock:
            slots = [slot for idle in self._idle.values() for slot in idle]
            self._idle.clear()
        return slots

    def _top_up(self) -> None:
        for kind in self._kinds():
            while not self._stopping:
                with self._lock:
                    if len(self._idle.get(kind, ())) >= self._target:
                        break
                slot = self._make(kind)
                with self._lock:
                    self._idle.setdefault(kind, []).append(slot)

    def _refill_forever(self) -> None:
        while not self._stopping:
            self._wanted.wait()
            time.sleep(REFILL_DELAY_S)
            self._wanted.clear()
            try:
                self._top_up()
            except (OSError, subprocess.SubprocessError):
                log.exception(
                    "could not prepare a %s slot; retrying on the next demand", self._name
                )
