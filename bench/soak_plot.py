"""The soak's samples as one PNG: a panel per measure, over time, the kills marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# (title, y label, sample keys drawn in that panel)
PANELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Throughput", "invocations/s", ("rps",)),
    ("Sync invoke latency (interval)", "ms", ("p50_ms", "p99_ms")),
    ("Server RSS", "MB", ("rss_mb",)),
    ("Server open file descriptors", "fds", ("fds",)),
    ("Records journal", "MB on disk / segments", ("journal_mb", "journal_segments")),
    ("Database size", "MB", ("db_mb", "wal_mb")),
    ("Queued events", "events", ("queued_events",)),
    ("Errors (cumulative)", "count", ("errors",)),
)


def render(samples: Sequence[Mapping[str, Any]], kill_times: Sequence[float], path: Path) -> None:
    """Write the PNG (matplotlib's Agg backend: no display needed)."""
    import matplotlib  # noqa: PLC0415 (only the soak needs it: an optional dependency)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    times = [float(s["t_s"]) for s in samples]
    figure, axes = plt.subplots(4, 2, figsize=(11, 10), sharex=True)
    for axis, (title, unit, keys) in zip(axes.flat, PANELS, strict=True):
        for key in keys:
            axis.plot(times, [s[key] for s in samples], label=key, linewidth=1)
        for moment in kill_times:
            axis.axvline(moment, color="red", alpha=0.12, linewidth=0.6)
        axis.set_title(title, fontsize=10)
        axis.set_ylabel(unit, fontsize=8)
        axis.tick_params(labelsize=8)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        if len(keys) > 1:
            axis.legend(fontsize=7, loc="upper left")
    for axis in axes[-1]:
        axis.set_xlabel("seconds (red lines: a worker SIGKILLed)", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=72)
    plt.close(figure)
