"""The environment a worker sees: exactly the function's variables plus Lambda's own.

Nothing of the platform's environment leaks in (no FAAS_*, no credentials, no PATH games):
the worker is started with this mapping and nothing else.
"""

from __future__ import annotations

import time
import uuid

from faas.domain import WorkerSpec
from faas.runtimes import WORKER_PATH, custom_runtime

DEFAULT_PATH = WORKER_PATH
# With layers, as on Lambda: their programs in /opt/bin, their libraries in /opt/lib (the
# dynamic loader reads LD_LIBRARY_PATH when a process starts, so it serves the programs the
# function runs, not libraries the already running interpreter loads).
LAYERS_PATH = f"{DEFAULT_PATH}:/opt/bin"
LAYERS_LIBRARY_PATH = "/opt/lib"


def log_stream_name(version: str, now_s: float | None = None) -> str:
    """Lambda's stream name shape: 2024/01/31/[$LATEST]<32 hex>."""
    day = time.strftime("%Y/%m/%d", time.gmtime(now_s))
    return f"{day}/[{version}]{uuid.uuid4().hex}"


def worker_environment(spec: WorkerSpec, runtime_dir: str, stream_name: str) -> dict[str, str]:
    env = dict(spec.environment)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream_name,
            # The runtime's log format (and, with JSON, the least level of `logging` records
            # it writes): as on Lambda, the level is set only with JSON.
            "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "LAMBDA_TASK_ROOT": spec.code_dir,
            "LAMBDA_RUNTIME_DIR": runtime_dir,
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": DEFAULT_PATH,
        }
    )
    custom = custom_runtime(spec.runtime)
    if custom is None or not custom.os_only:
        # Lambda leaves it undefined for its OS-only runtimes (provided.*).
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{spec.runtime}"
    if spec.log_level is not None:
        env["AWS_LAMBDA_LOG_LEVEL"] = spec.log_level
    if spec.opt_dir:
        env["PATH"] = LAYERS_PATH
        # The function's own value, when it sets one, stands (Lambda lets it be changed).
        env.setdefault("LD_LIBRARY_PATH", LAYERS_LIBRARY_PATH)
    return env
