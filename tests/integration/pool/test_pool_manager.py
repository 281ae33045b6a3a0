"""Real worker processes under the PoolManager: warm reuse, scale-out, failures, retiring."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from faas.config import PoolSettings, SandboxSettings
from faas.domain import WorkerSpec
from faas.pool.launcher import ZygoteLauncher, runtime_dir
from faas.pool.manager import PoolManager
from faas.pool.sandbox import HostSandbox, SandboxPlanner, probe_host
from faas.pool.worker import InitFailed, Worker

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def make_spec(
    code_dir: Path,
    source: str,
    *,
    key: str = "fn:1",
    timeout_s: int = 5,
    handler: str = "app.handler",
    env: dict[str, str] | None = None,
) -> WorkerSpec:
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / "app.py").write_text(textwrap.dedent(source))
    return WorkerSpec(
        key=key,
        function_name="fn",
        version="$LATEST",
        runtime=RUNTIME,
        handler=handler,
        memory_mb=128,
        timeout_s=timeout_s,
        ephemeral_storage_mb=512,
        environment=env or {},
        code_dir=str(code_dir),
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
        region="us-east-1",
    )


@pytest.fixture(scope="module")
def host() -> HostSandbox:
    return probe_host(sys.executable, runtime_dir() / "python")


@pytest.fixture
async def manager(host: HostSandbox, tmp_path: Path) -> AsyncIterator[PoolManager]:
    """A pool with the real sandbox of this host (every layer it supports)."""
    planner = SandboxPlanner(
        host, SandboxSettings(prepared_tmp_slots=0, network_layer="off"), tmp_path / "data"
    )
    await asyncio.to_thread(planner.setup)
    pool = PoolManager(
        PoolSettings(idle_ttl_s=60, reap_interval_s=60, init_timeout_s=10, max_log_bytes=4096),
        ZygoteLauncher({RUNTIME: sys.executable}, planner),
    )
    pool.start()
    yield pool
    await pool.stop()
    await asyncio.to_thread(planner.teardown)


def task_root(host: HostSandbox, spec: WorkerSpec) -> str:
    """Where the function sees its code: /var/task in a mount namespace, else in place."""
    return "/var/task" if host.root and host.mount_namespace else spec.code_dir


async def call(manager: PoolManager, spec: WorkerSpec, event: object = None) -> tuple[Worker, dict]:
    worker = await manager.acquire(spec)
    try:
        result = await worker.invoke(
            "req-1", json.dumps(event or {}).encode(), spec.function_arn, None
        )
    finally:
        manager.release(worker)
    return worker, {
        "error": result.error_type,
        "body": json.loads(result.payload),
        "logs": result.logs,
        "init": result.init_duration_ns,
        "duration": result.duration_ns,
    }


COUNTER = """
    import os
    count = 0
    def handler(event, context):
        global count
        count += 1
        return {"pid": os.getpid(), "count": count}
"""


async def test_warm_worker_is_reused_and_keeps_module_state(
    manager: PoolManager, tmp_path: Path
) -> None:
    spec = make_spec(tmp_path / "code", COUNTER)
    _, first = await call(manager, spec)
    _, second = await call(manager, spec)
    assert first["body"]["pid"] == second["body"]["pid"]
    assert [first["body"]["count"], second["body"]["count"]] == [1, 2]
    assert first["init"] is not None and first["init"] > 0
    assert second["init"] is None
    assert manager.stats().idle == 1


async def test_concurrent_invocations_get_more_workers(
    manager: PoolManager, tmp_path: Path
) -> None:
    spec = make_spec(
        tmp_path / "code",
        """
        import os, time
        def handler(event, context):
            time.sleep(0.3)
            return os.getpid()
    """,
    )
    results = await asyncio.gather(*(call(manager, spec) for _ in range(3)))
    pids = {r[1]["body"] for r in results}
    assert len(pids) == 3
    assert manager.stats().idle == 3


async def test_environment_is_exactly_the_functions_plus_lambdas(
    manager: PoolManager, host: HostSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAAS_SECRET_TOKEN", "platform-only")
    spec = make_spec(
        tmp_path / "code",
        """
        import os
        def handler(event, context):
            return dict(os.environ)
    """,
        env={"GREETING": "hi"},
    )
    _, result = await call(manager, spec)
    env = result["body"]
    assert env["GREETING"] == "hi"
    assert "FAAS_SECRET_TOKEN" not in env
    assert not any(k.startswith("FAAS_") for k in env)
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == task_root(host, spec)
    assert env["_HANDLER"] == "app.handler"
    assert env["TZ"] == ":UTC"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fn"
    assert "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "Text"
    assert "AWS_LAMBDA_LOG_LEVEL" not in env  # set only with LogFormat JSON
    allowed = {
        "GREETING",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "LAMBDA_TASK_ROOT",
        "TMPDIR",
        "LAMBDA_RUNTIME_DIR",
        "_HANDLER",
        "TZ",
        "LANG",
        "PATH",
        "LC_CTYPE",
    }
    assert set(env) <= allowed


async def test_platform_packages_are_not_importable(
    manager: PoolManager, host: HostSandbox, tmp_path: Path
) -> None:
    spec = make_spec(
        tmp_path / "code",
        """
        import importlib.util, sys
        def handler(event, context):
            names = ["faas", "sqlalchemy", "aiohttp", "orjson", "psutil", "boto3"]
            return {"found": [n for n in names if importlib.util.find_spec(n)],
                    "path": sys.path, "cwd": __import__("os").getcwd()}
    """,
    )
    _, result = await call(manager, spec)
    body = result["body"]
    assert body["found"] == []
    assert body["path"][0] == task_root(host, spec)
    assert not any("site-packages" in entry for entry in body["path"])
    assert body["cwd"] == task_root(host, spec)


async def test_standard_library_submodules_import_inside_the_sandbox(
    manager: PoolManager, tmp_path: Path
) -> None:
    spec = make_spec(
        tmp_path / "code",
        """
        import logging.handlers, urllib.request, email.mime.multipart, json.tool
        def handler(event, context):
            import xml.dom.minidom, concurrent.futures.thread
            return "imported"
    """,
    )
    _, result = await call(manager, spec)
    assert result["error"] is None
    assert result["body"] == "imported"


async def test_context_object(manager: PoolManager, tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path / "code",
        """
        def handler(event, context):
            return {
                "id": context.aws_request_id, "name": context.function_name,
                "version": context.function_version, "memory": context.memory_limit_in_mb,
                "arn": context.invoked_function_arn, "group": context.log_group_name,
                "stream": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
            }
    """,
        timeout_s=7,
    )
    worker, result = await call(manager, spec)
    body = result["body"]
    assert body["id"] == "req-1"
    assert (body["name"], body["version"], body["memory"]) == ("fn", "$LATEST", "128")
    assert body["arn"] == spec.function_arn
    assert body["group"] == "/aws/lambda/fn"
    assert body["stream"] == worker.log_stream
    assert 6000 < body["remaining"] <= 7000


async def test_handler_exception_is_an_unhandled_result(
    manager: PoolManager, tmp_path: Path
) -> None:
    spec = make_spec(
        tmp_path / "code",
        """
        def handler(event, context):
            print("about to fail")
            raise ValueError("bad input")
    """,
    )
    _, result = await call(manager, spec)
    assert result["error"] == "ValueError"
    assert result["body"]["errorMessage"] == "bad input"
    assert result["body"]["requestId"] == "req-1"
    assert any("raise ValueError" in line for line in result["body"]["stackTrace"])
    assert b"about to fail" in result["logs"]
    _, again = await call(manager, spec)  # the worker survives a handler exception
    assert again["error"] == "ValueError"
    assert manager.stats().idle == 1


@pytest.mark.parametrize(
    ("source", "handler", "error_type"),
    [
        ("x = 1\n", "nomodule.handler", "Runtime.ImportModuleError"),
        ("x = 1\n", "app.missing", "Runtime.HandlerNotFound"),
        ("def handler(:\n", "app.handler", "Runtime.UserCodeSyntaxError"),
        ("raise KeyError('boom')\n", "app.handler", "KeyError"),
        ("import sys\nsys.exit(3)\n", "app.handler", "Runtime.ExitError"),
    ],
)
async def test_init_failures_report_lambdas_error_types(
    manager: PoolManager, tmp_path: Path, source: str, handler: str, error_type: str
) -> None:
    spec = make_spec(tmp_path / "code", source, handler=handler)
    with pytest.raises(InitFailed) as failed:
        await manager.acquire(spec)
    assert failed.value.failure.error_type == error_type
    document = json.loads(failed.value.failure.document)
    assert document["errorType"] == error_type
    assert manager.stats().warm == 0


async def test_a_worker_that_dies_fails_its_invocation_and_is_replaced(
    manager: PoolManager, tmp_path: Path
) -> None:
    spec = make_spec(
        tmp_path / "code",
        """
        import os
        def handler(event, context):
            if event.get("die"):
                os._exit(7)
            return os.getpid()
    """,
    )
    worker, first = await call(manager, spec)
    _, died = await call(manager, spec, {"die": True})
    assert died["error"] == "Runtime.ExitError"
    assert "exit status 7" in died["body"]["errorMessage"]
    _, after = await call(manager, spec)
    assert after["error"] is None
    assert after["body"] != first["body"]  # a new worker
    assert not psutil.pid_exists(worker.pid) or psutil.Process(worker.pid).status() == "zombie"


async def test_timeout_kills_the_worker_and_its_children(
    manager: PoolManager, tmp_path: Path
) -> None:
    spec = make_spec(
        tmp_path / "code",
        """
        import subprocess, time
        def handler(event, context):
            child = subprocess.Popen(["sleep", "60"])
            print("child", child.pid, flush=True)
            time.sleep(30)
    """,
        timeout_s=1,
    )
    worker, result = await call(manager, spec)
    assert result["error"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result["body"]["errorMessage"]
    assert 1.0 <= result["duration"] / 1e9 < 1.5
    child_pid = int(result["logs"].split()[1])
    await asyncio.sleep(0.2)
    for pid in (worker.pid, child_pid):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


async def test_retire_stops_idle_workers_now_and_busy_ones_after_their_call(
    manager: PoolManager, tmp_path: Path
) -> None:
    spec = make_spec(
        tmp_path / "code",
        """
        import os, time
        def handler(event, context):
            time.sleep(event.get("sleep", 0))
            return os.getpid()
    """,
    )
    idle_worker, _ = await call(manager, spec)
    busy_worker = await manager.acquire(spec)
    second = await manager.acquire(spec)
    running = asyncio.ensure_future(second.invoke("r", b'{"sleep": 0.3}', spec.function_arn, None))
    manager.release(busy_worker)
    await asyncio.sleep(0.05)
    manager.retire(spec.key)
    result = await running  # the in-flight call finishes normally
    manager.release(second)
    assert result.error_type is None
    await asyncio.sleep(0.2)
    for worker in (idle_worker, busy_worker, second):
        assert not worker.alive
    assert manager.stats().warm == 0


async def test_idle_workers_are_reaped_after_the_ttl(manager: PoolManager, tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "code", COUNTER)
    worker, _ = await call(manager, spec)
    loop = asyncio.get_running_loop()
    assert manager.reap_idle(loop.time()) == 0
    assert manager.reap_idle(loop.time() + 61) == 1
    await asyncio.sleep(0.2)
    assert not worker.alive
    assert manager.stats().warm == 0


async def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    pool = PoolManager(PoolSettings(), ZygoteLauncher({RUNTIME: sys.executable}))
    pool.start()
    spec = make_spec(tmp_path / "code", COUNTER)
    workers = await asyncio.gather(*(pool.acquire(spec) for _ in range(3)))
    pids = [w.pid for w in workers]
    await pool.stop()
    for pid in pids:
        assert not psutil.pid_exists(pid)
    me = psutil.Process(os.getpid())
    assert not [c for c in me.children(recursive=True) if c.pid in pids]
