"""Schedule triggers: the cached list the scheduler reads, and its changes (persisted first).
The expressions are checked by the scheduler (faas/triggers/schedule.py) before they get here."""

from __future__ import annotations

import threading

from faas.domain import ScheduleTrigger
from faas.errors import ResourceNotFound
from faas.store.schedules import ScheduleRepo


class ScheduleBook:
    def __init__(self, repo: ScheduleRepo) -> None:
        self._repo = repo
        self._schedules: dict[str, ScheduleTrigger] = {}
        self._mutation = threading.Lock()

    def load(self) -> None:
        loaded = {s.id: s for s in self._repo.list()}
        with self._mutation:
            self._schedules = loaded

    def schedules(self) -> list[ScheduleTrigger]:
        return sorted(self._schedules.values(), key=lambda s: (s.created_ms, s.id))

    def get(self, schedule_id: str) -> ScheduleTrigger | None:
        return self._schedules.get(schedule_id)

    def add(self, schedule: ScheduleTrigger) -> None:
        with self._mutation:
            self._repo.add(schedule)
            self._schedules = {**self._schedules, schedule.id: schedule}

    def remove(self, schedule_id: str) -> ScheduleTrigger:
        with self._mutation:
            schedule = self._schedules.get(schedule_id)
            if schedule is None:
                raise ResourceNotFound(f"Trigger not found: {schedule_id}")
            self._repo.remove(schedule_id)
            schedules = dict(self._schedules)
            del schedules[schedule_id]
            self._schedules = schedules
        return schedule

    def remove_function_schedules(self, function_name: str) -> None:
        """The function was deleted: its schedules go with it (a delete listener)."""
        for schedule in [s for s in self._schedules.values() if s.function_name == function_name]:
            self.remove(schedule.id)
