"""A systemd unit file read as systemd reads it: sections, keys that may repeat, comments,
line continuations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Unit:
    # "Section.Key" -> every value assigned, in order
    options: dict[str, list[str]]

    @classmethod
    def read(cls, path: Path) -> Unit:
        options: dict[str, list[str]] = {}
        section = ""
        pending = ""
        for raw in path.read_text().splitlines():
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            key, _, value = line.partition("=")
            options.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
        return cls(options)

    def get(self, key: str) -> str | None:
        """The last value of "Section.Key" (the one systemd uses), or None."""
        values = self.options.get(key)
        return values[-1] if values else None

    def one(self, key: str) -> str:
        value = self.get(key)
        assert value is not None, f"the unit sets no {key}"
        return value
