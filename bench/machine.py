"""The machine a run happened on: results mean little without it."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import psutil


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe(generator: str) -> dict[str, str | int | float]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        # The cores are shared: anything else running skews every number in the run.
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "load_generator": generator,
    }
