"""Handler sources shared by the baseline and the deployed functions.

Both sides run the very same text: the baseline exec()s it in-process, faas gets it zipped as
`app.py`. Only the stdlib is importable inside a worker, so the handlers use nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

HELLO = """\
def handler(event, context):
    return {"hello": "world"}
"""

# Imports a module set a real function might pull in; its cold start shows what imports cost.
HEAVY_MODULES = (
    "asyncio, email.mime.multipart, http.server, xml.dom.minidom, unittest, decimal, "
    "logging.handlers, csv, statistics, argparse, tarfile, zipfile, sqlite3, ssl"
)
HEAVY = f"import {HEAVY_MODULES}\n\n" + HELLO

CPU_TEMPLATE = """\
def handler(event, context):
    total = 0
    for i in range({iterations}):
        total += i * i
    return {{"total": total}}
"""

CPU_TARGET_MS = 5.0
CALIBRATION_ROUNDS = 5

Handler = Callable[[Any, Any], Any]


def cpu_source(iterations: int) -> str:
    return CPU_TEMPLATE.format(iterations=iterations)


def load_handler(source: str) -> Handler:
    """The `handler` defined by `source`, compiled in this process."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "app.py", "exec"), namespace)
    handler: Handler = namespace["handler"]
    return handler


def calibrate_cpu_iterations(target_ms: float = CPU_TARGET_MS) -> int:
    """Loop iterations that take about `target_ms` in this interpreter (best of a few runs)."""
    probe_iterations = 200_000
    handler = load_handler(cpu_source(probe_iterations))
    best_ns = min(_time_ns(handler) for _ in range(CALIBRATION_ROUNDS))
    return max(1, int(probe_iterations * target_ms * 1e6 / best_ns))


def _time_ns(handler: Handler) -> int:
    start = time.perf_counter_ns()
    handler({}, None)
    return time.perf_counter_ns() - start
