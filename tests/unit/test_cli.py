"""The `faas` CLI against a small real HTTP server that plays the Lambda API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import socket
import stat
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from faas.cli import main
from faas.cli.deploy import ConfigOptions, zip_directory
from faas.cli.functions import describe_function
from faas.errors import FaasError

FUNCTIONS = "/2015-03-31/functions"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeLambda:
    """Just enough of the Lambda API for the CLI, remembering every request it got."""

    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    page_size: int = 2
    records: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._remember])
        app.router.add_get(FUNCTIONS, self.list_functions)
        app.router.add_post(FUNCTIONS, self.create_function)
        app.router.add_get(FUNCTIONS + "/{name}", self.get_function)
        app.router.add_delete(FUNCTIONS + "/{name}", self.delete_function)
        app.router.add_put(FUNCTIONS + "/{name}/code", self.update_code)
        app.router.add_put(FUNCTIONS + "/{name}/configuration", self.update_configuration)
        app.router.add_post(FUNCTIONS + "/{name}/invocations", self.invoke)
        app.router.add_get("/faas/v1/invocations", self.list_records)
        return app

    def requests(self, method: str) -> list[Received]:
        return [r for r in self.received if r.method == method]

    def add(self, name: str, **fields: Any) -> None:
        self.functions[name] = {
            "FunctionName": name,
            "Runtime": "python3.11",
            "Handler": "app.handler",
            "MemorySize": 128,
            "Timeout": 3,
            "LastModified": "2024-01-01T00:00:00.000+0000",
            "CodeSha256": "AAAAAAAAAAAAAAAA",
            "CodeSize": 1,
            **fields,
        }

    @web.middleware
    async def _remember(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.received.append(
            Received(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        response: web.StreamResponse = await handler(request)
        return response

    async def list_functions(self, request: web.Request) -> web.Response:
        names = sorted(self.functions)
        start = int(request.query.get("Marker", "0"))
        page: dict[str, Any] = {
            "Functions": [self.functions[n] for n in names[start : start + self.page_size]]
        }
        if start + self.page_size < len(names):
            page["NextMarker"] = str(start + self.page_size)
        return web.json_response(page)

    async def get_function(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.functions:
            return not_found(name)
        return web.json_response({"Configuration": self.functions[name]})

    async def create_function(self, request: web.Request) -> web.Response:
        document = await request.json()
        zip_bytes = base64.b64decode(document["Code"]["ZipFile"])
        self.add(document["FunctionName"], **code_fields(zip_bytes))
        cfg = self.functions[document["FunctionName"]]
        cfg.update({k: v for k, v in document.items() if k in ("Handler", "MemorySize")})
        return web.json_response(cfg, status=201)

    async def update_code(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        zip_bytes = base64.b64decode((await request.json())["ZipFile"])
        self.functions[name].update(code_fields(zip_bytes))
        return web.json_response(self.functions[name])

    async def update_configuration(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.functions[name].update(await request.json())
        return web.json_response(self.functions[name])

    async def delete_function(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.functions.pop(name, None) is None:
            return not_found(name)
        return web.Response(status=204)

    async def invoke(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if request.headers.get("X-Amz-Invocation-Type") == "Event":
            return web.Response(status=202, headers={"x-amzn-RequestId": "req-async-1"})
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(b"START\nhello from the log\n").decode()
        if name == "boom":
            headers["X-Amz-Function-Error"] = "Unhandled"
            error = {"errorType": "ZeroDivisionError", "errorMessage": "division by zero"}
            return web.json_response(error, headers=headers)
        # The echo function returns the payload it was given.
        return web.Response(body=await request.read(), headers=headers)

    async def list_records(self, request: web.Request) -> web.Response:
        return web.json_response({"Invocations": self.records})


def not_found(name: str) -> web.Response:
    return web.json_response(
        {"Type": "User", "Message": f"Function not found: {name}"},
        status=404,
        headers={"X-Amzn-ErrorType": "ResourceNotFoundException"},
    )


def code_fields(zip_bytes: bytes) -> dict[str, Any]:
    sha = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    return {"CodeSha256": sha, "CodeSize": len(zip_bytes)}


@pytest.fixture
def fake() -> FakeLambda:
    return FakeLambda()


@pytest.fixture
def url(fake: FakeLambda) -> Iterator[str]:
    """The fake served on 127.0.0.1 from a background thread (the CLI is synchronous)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def run(url: str, *args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["--url", url, *args], input=stdin, catch_exceptions=False)


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "app.py").write_text("def handler(event, context):\n    return event\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    (root / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"junk")
    (root / "stale.pyc").write_bytes(b"junk")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    return root


# --- directory zipping -------------------------------------------------------------------


def test_zipping_a_directory_is_deterministic_and_keeps_the_code(code_dir: Path) -> None:
    first = zip_directory(code_dir)
    os.utime(code_dir / "app.py", (1_700_000_000, 1_700_000_000))  # mtimes must not matter
    second = zip_directory(code_dir)

    assert first == second
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert archive.namelist() == ["app.py", "pkg/__init__.py", "pkg/util.py", "run.sh"]
    assert archive.read("app.py").startswith(b"def handler")
    run_mode = archive.getinfo("run.sh").external_attr >> 16
    app_mode = archive.getinfo("app.py").external_attr >> 16
    assert run_mode & stat.S_IXUSR
    assert not app_mode & stat.S_IXUSR


def test_symlinks_inside_are_stored_as_content(code_dir: Path) -> None:
    (code_dir / "alias.py").symlink_to(code_dir / "app.py")
    (code_dir / "lib").symlink_to(code_dir / "pkg")

    archive = zipfile.ZipFile(io.BytesIO(zip_directory(code_dir)))

    assert archive.read("alias.py") == (code_dir / "app.py").read_bytes()
    assert archive.read("lib/util.py") == b"X = 1\n"


def test_a_symlink_pointing_outside_is_refused(url: str, code_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("do not upload")
    (code_dir / "leak.txt").symlink_to(tmp_path / "secret.txt")

    result = run(url, "deploy", str(code_dir), "--name", "fn", "--handler", "app.handler")

    assert result.exit_code == 2
    assert "outside the code directory" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_symlink_loop_is_refused(code_dir: Path) -> None:
    (code_dir / "pkg" / "again").symlink_to(code_dir)

    with pytest.raises(FaasError, match="symlink loop"):
        zip_directory(code_dir)


# --- deploy ------------------------------------------------------------------------------


def test_deploy_creates_a_missing_function(url: str, fake: FakeLambda, code_dir: Path) -> None:
    result = run(
        url,
        "deploy",
        str(code_dir),
        "--name",
        "fn",
        "--handler",
        "app.handler",
        "--memory",
        "256",
        "--env",
        "A=1",
        "--env",
        "URL=http://x/?a=b",
    )

    assert result.exit_code == 0, result.stderr
    assert [(r.method, r.path) for r in fake.received] == [
        ("GET", f"{FUNCTIONS}/fn"),
        ("POST", FUNCTIONS),
    ]
    sent = fake.requests("POST")[0].json()
    assert base64.b64decode(sent.pop("Code")["ZipFile"]) == zip_directory(code_dir)
    assert sent == {
        "FunctionName": "fn",
        "Role": "arn:aws:iam::000000000000:role/faas",
        "Handler": "app.handler",
        "MemorySize": 256,
        "Environment": {"Variables": {"A": "1", "URL": "http://x/?a=b"}},
    }
    cfg = fake.functions["fn"]
    hex_sha = base64.b64decode(cfg["CodeSha256"]).hex()  # what `sha256sum fn.zip` prints
    assert result.stdout == (
        f"deployed fn (created) sha256={hex_sha[:12]} size={cfg['CodeSize']} "
        "runtime=python3.11 handler=app.handler memory=256MB timeout=3s\n"
    )


def test_creating_needs_a_handler(url: str, fake: FakeLambda, code_dir: Path) -> None:
    result = run(url, "deploy", str(code_dir), "--name", "fn")

    assert result.exit_code == 2
    assert result.stderr == "error: --handler is required when creating a function\n"
    assert fake.requests("POST") == []


def test_redeploy_without_options_updates_only_the_code(
    url: str, fake: FakeLambda, tmp_path: Path
) -> None:
    fake.add("fn")
    zip_path = tmp_path / "fn.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 2\n")

    result = run(url, "deploy", str(zip_path), "--name", "fn")

    assert result.exit_code == 0, result.stderr
    assert [(r.method, r.path) for r in fake.received] == [
        ("GET", f"{FUNCTIONS}/fn"),
        ("PUT", f"{FUNCTIONS}/fn/code"),
    ]
    # A zip file is uploaded byte for byte.
    uploaded = base64.b64decode(fake.requests("PUT")[0].json()["ZipFile"])
    assert uploaded == zip_path.read_bytes()
    assert "deployed fn (updated)" in result.stdout


def test_redeploy_with_options_also_updates_the_configuration(
    url: str, fake: FakeLambda, code_dir: Path
) -> None:
    fake.add("fn", Environment={"Variables": {"OLD": "1"}})

    result = run(
        url, "--json", "deploy", str(code_dir), "--name", "fn", "--timeout", "10", "--env", "K=v"
    )

    assert result.exit_code == 0, result.stderr
    puts = fake.requests("PUT")
    assert [r.path for r in puts] == [f"{FUNCTIONS}/fn/code", f"{FUNCTIONS}/fn/configuration"]
    # --env replaces the environment, as Lambda does: OLD is not carried over.
    assert puts[1].json() == {"Timeout": 10, "Environment": {"Variables": {"K": "v"}}}
    printed = json.loads(result.stdout)
    assert printed["Timeout"] == 10
    assert printed["FunctionName"] == "fn"


JSON_LOGS = {
    "LogFormat": "JSON",
    "ApplicationLogLevel": "DEBUG",
    "SystemLogLevel": "WARN",
    "LogGroup": "/team/fn",
}


@pytest.mark.parametrize(
    ("options", "current", "expected"),
    [
        (ConfigOptions(), {"LoggingConfig": JSON_LOGS}, None),
        (ConfigOptions(log_format="JSON"), None, {"LogFormat": "JSON"}),
        (
            ConfigOptions(application_log_level="ERROR"),
            None,
            {"LogFormat": "JSON", "ApplicationLogLevel": "ERROR"},
        ),
        # A level alone switches a Text function to JSON.
        (
            ConfigOptions(system_log_level="WARN"),
            {"LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"}},
            {"LogFormat": "JSON", "SystemLogLevel": "WARN"},
        ),
        # Lambda replaces the whole LoggingConfig: what was not given is carried over...
        (
            ConfigOptions(application_log_level="INFO"),
            {"LoggingConfig": JSON_LOGS},
            {**JSON_LOGS, "ApplicationLogLevel": "INFO"},
        ),
        # ...but levels only while JSON, and the group only when it is not the default.
        (
            ConfigOptions(log_format="Text"),
            {"LoggingConfig": JSON_LOGS},
            {"LogFormat": "Text", "LogGroup": "/team/fn"},
        ),
        (
            ConfigOptions(log_format="JSON"),
            {"LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"}},
            {"LogFormat": "JSON"},
        ),
        # Levels with Text are sent as given: the server says why not.
        (
            ConfigOptions(log_format="Text", system_log_level="WARN"),
            None,
            {"LogFormat": "Text", "SystemLogLevel": "WARN"},
        ),
    ],
)
def test_logging_options_become_a_whole_logging_config(
    options: ConfigOptions, current: dict[str, Any] | None, expected: dict[str, str] | None
) -> None:
    if current is not None:
        current = {"FunctionName": "fn", **current}
    assert options.to_lambda(current).get("LoggingConfig") == expected


def test_deploy_sends_the_logging_options(url: str, fake: FakeLambda, code_dir: Path) -> None:
    fake.add("fn", LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN", "LogGroup": "/t"})

    result = run(url, "deploy", str(code_dir), "--name", "fn", "--app-log-level", "trace")

    assert result.exit_code == 0, result.stderr
    assert fake.requests("PUT")[1].json() == {
        "LoggingConfig": {
            "LogFormat": "JSON",
            "ApplicationLogLevel": "TRACE",
            "SystemLogLevel": "WARN",
            "LogGroup": "/t",
        }
    }
    created = run(
        url, "deploy", str(code_dir), "--name", "new", "--handler", "a.b", "--log-format", "JSON"
    )
    assert created.exit_code == 0, created.stderr
    assert fake.requests("POST")[0].json()["LoggingConfig"] == {"LogFormat": "JSON"}


def test_a_log_level_lambda_does_not_have_is_a_usage_error(
    url: str, fake: FakeLambda, code_dir: Path
) -> None:
    result = run(url, "deploy", str(code_dir), "--name", "fn", "--system-log-level", "error")

    assert result.exit_code == 2
    assert "--system-log-level" in result.stderr
    assert fake.received == []


@pytest.mark.parametrize(
    ("logging_config", "log_format"),
    [
        ({"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"}, "Text"),
        (JSON_LOGS, "JSON (application DEBUG, system WARN)"),
    ],
)
def test_get_shows_the_logging_config(logging_config: dict[str, str], log_format: str) -> None:
    text = describe_function({"Configuration": {"LoggingConfig": logging_config}})

    facts = dict(line.split(":", 1) for line in text.split("\n\n")[0].splitlines())
    assert facts["log format"].strip() == log_format
    assert facts["log group"].strip() == logging_config["LogGroup"]


def test_an_env_item_without_equals_is_a_usage_error(
    url: str, fake: FakeLambda, code_dir: Path
) -> None:
    result = run(
        url, "deploy", str(code_dir), "--name", "fn", "--handler", "a.b", "--env", "NOVALUE"
    )

    assert result.exit_code == 2
    assert result.stderr == "error: --env expects KEY=VALUE, got 'NOVALUE'\n"
    assert fake.received == []


def test_deploying_something_that_is_not_code_is_one_line(
    url: str, fake: FakeLambda, tmp_path: Path
) -> None:
    not_a_zip = tmp_path / "notes.txt"
    not_a_zip.write_text("hello")

    result = run(url, "deploy", str(not_a_zip), "--name", "fn", "--handler", "a.b")

    assert result.exit_code == 2
    assert result.stderr == f"error: {not_a_zip} is neither a zip file nor a directory\n"
    assert fake.received == []


# --- invoke ------------------------------------------------------------------------------


def test_invoke_sends_an_inline_payload(url: str, fake: FakeLambda) -> None:
    result = run(url, "invoke", "echo", "--payload", '{"a": [1, 2]}', "--qualifier", "prod")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == '{"a": [1, 2]}\n'
    sent = fake.requests("POST")[0]
    assert sent.path == f"{FUNCTIONS}/echo/invocations"
    assert sent.query == {"Qualifier": "prod"}
    assert sent.body == b'{"a": [1, 2]}'


def test_invoke_defaults_to_an_empty_object(url: str, fake: FakeLambda) -> None:
    result = run(url, "invoke", "echo")

    assert result.stdout == "{}\n"
    assert fake.requests("POST")[0].body == b"{}"


def test_invoke_sends_a_payload_file_as_raw_bytes(
    url: str, fake: FakeLambda, tmp_path: Path
) -> None:
    payload = tmp_path / "event.json"
    payload.write_bytes(b'{"k":  "v"}\n')

    result = run(url, "invoke", "echo", "--payload", f"@{payload}")

    assert result.exit_code == 0, result.stderr
    assert fake.requests("POST")[0].body == b'{"k":  "v"}\n'


def test_invoke_reads_the_payload_from_stdin(url: str, fake: FakeLambda) -> None:
    result = run(url, "invoke", "echo", "--payload", "-", stdin=b'{"from": "stdin"}')

    assert result.exit_code == 0, result.stderr
    assert fake.requests("POST")[0].body == b'{"from": "stdin"}'


def test_invalid_inline_json_is_refused_before_sending(url: str, fake: FakeLambda) -> None:
    result = run(url, "invoke", "echo", "--payload", "{not json")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --payload is not valid JSON: ")
    assert result.stderr.count("\n") == 1
    assert fake.received == []


def test_a_function_error_exits_1_with_one_line(url: str) -> None:
    result = run(url, "invoke", "boom")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["errorType"] == "ZeroDivisionError"
    assert result.stderr == "error: function failed: ZeroDivisionError: division by zero\n"


def test_tail_prints_the_log_to_stderr(url: str, fake: FakeLambda) -> None:
    result = run(url, "invoke", "echo", "--tail")

    assert fake.requests("POST")[0].headers["X-Amz-Log-Type"] == "Tail"
    assert "hello from the log" in result.stderr
    assert result.stdout == "{}\n"


def test_async_invoke_prints_the_request_id(url: str, fake: FakeLambda) -> None:
    result = run(url, "invoke", "echo", "--async")

    assert result.exit_code == 0, result.stderr
    assert fake.requests("POST")[0].headers["X-Amz-Invocation-Type"] == "Event"
    assert result.stdout == "accepted req-async-1\n"


# --- errors ------------------------------------------------------------------------------


def test_an_api_error_is_one_line_with_its_code(url: str) -> None:
    result = run(url, "rm", "ghost")

    assert result.exit_code == 1
    assert result.stderr == "error: ResourceNotFoundException: Function not found: ghost\n"


def test_an_unreachable_server_is_one_line() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = run(f"http://127.0.0.1:{port}", "ls")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach faas at http://127.0.0.1:{port} (")
    assert result.stderr.endswith('is "faas serve" running?\n')
    assert result.stderr.count("\n") == 1


def test_a_url_without_scheme_is_a_usage_error() -> None:
    result = run("localhost:8080", "ls")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --url must look like http://HOST:PORT")


def test_serve_reports_a_bad_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    result = CliRunner().invoke(main, ["serve", "--config", str(missing)])

    assert result.exit_code == 2
    assert result.stderr == f"error: config file not found: {missing}\n"


# --- ls / rm / records -------------------------------------------------------------------


def test_ls_follows_next_marker_across_pages(url: str, fake: FakeLambda) -> None:
    for name in ["a", "b", "c", "d", "e"]:
        fake.add(name)

    result = run(url, "ls")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "RUNTIME",
        "HANDLER",
        "MEMORY",
        "TIMEOUT",
        "LAST",
        "MODIFIED",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["a", "b", "c", "d", "e"]
    assert lines[1].split()[1:5] == ["python3.11", "app.handler", "128MB", "3s"]
    assert [r.query.get("Marker") for r in fake.requests("GET")] == [None, "2", "4"]


def test_ls_json_is_one_list(url: str, fake: FakeLambda) -> None:
    for name in ["a", "b", "c"]:
        fake.add(name)

    result = run(url, "--json", "ls")

    assert [cfg["FunctionName"] for cfg in json.loads(result.stdout)] == ["a", "b", "c"]


def test_ls_with_no_functions(url: str) -> None:
    assert run(url, "ls").stdout == "no functions\n"


def test_rm_deletes(url: str, fake: FakeLambda) -> None:
    fake.add("fn")

    result = run(url, "rm", "fn")

    assert result.stdout == "deleted fn\n"
    assert "fn" not in fake.functions


def test_records_table_and_query(url: str, fake: FakeLambda) -> None:
    fake.records = [
        {
            "RequestId": "req-1",
            "FunctionName": "fn",
            "FunctionVersion": "$LATEST",
            "StartTime": "2024-01-01T00:00:00Z",
            "DurationMs": 12.5,
            "BilledDurationMs": 13,
            "MemorySize": 128,
            "MaxMemoryUsed": 40,
            "InitDurationMs": None,
            "Status": "Unhandled",
            "ErrorType": "ZeroDivisionError",
        }
    ]

    table = run(url, "records", "fn", "--limit", "5")
    as_json = run(url, "--json", "records")

    assert table.exit_code == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.startswith("REQUEST ID")
    assert row.split() == [
        "req-1",
        "fn",
        "$LATEST",
        "2024-01-01T00:00:00Z",
        "12.50ms",
        "13ms",
        "128MB",
        "40MB",
        "-",
        "Unhandled",
        "ZeroDivisionError",
        "sync",
    ]
    queries = [r.query for r in fake.requests("GET")]
    assert queries == [{"function": "fn", "limit": "5"}, {"limit": "20"}]
    assert json.loads(as_json.stdout) == {"Invocations": fake.records}


def test_records_with_none(url: str) -> None:
    assert run(url, "records").stdout == "no invocations\n"
