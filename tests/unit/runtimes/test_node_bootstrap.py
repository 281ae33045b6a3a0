"""The Node.js runtime (runtimes/nodejs/bootstrap.js) as a real node process against a Runtime
API in the test: Lambda's handler styles and module kinds, its error documents and init
failures, the context object, NODE_PATH for require and import, and console framing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.node_runtime import (
    BOOTSTRAP,
    RuntimeProcess,
    lambda_environ,
    node_has_in_thread_hooks,
    require_node,
    runtime_process,
    write_files,
)
from tests.helpers.runtime_api import FakeRuntimeApi, Invocation, Posted, running_runtime_api

StartRuntime = Callable[..., RuntimeProcess]

ISO_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


@pytest.fixture
def api() -> Iterator[FakeRuntimeApi]:
    with running_runtime_api() as running:
        yield running


@pytest.fixture
def start_runtime(tmp_path: Path, api: FakeRuntimeApi) -> Iterator[StartRuntime]:
    """start_runtime(files, handler, **environ): the bootstrap serving `files` as its task root."""
    node = require_node()
    with ExitStack() as stack:

        def start(
            files: Mapping[str, str], handler: str, environ: Mapping[str, str] | None = None
        ) -> RuntimeProcess:
            task_root = write_files(tmp_path / "task", files)
            env = lambda_environ(api.address, task_root, handler, environ)
            return stack.enter_context(
                runtime_process([node, str(BOOTSTRAP)], env, task_root, tmp_path / "logs")
            )

        yield start


def result_of(api: FakeRuntimeApi, payload: Any = None, **fields: Any) -> Any:
    posted = api.invoke(Invocation(payload=payload, **fields))
    assert posted.kind == "response", posted
    return posted.json()


def failed(api: FakeRuntimeApi, payload: Any = None) -> Posted:
    posted = api.invoke(Invocation(payload=payload))
    assert posted.kind == "error", posted
    return posted


def init_error_of(api: FakeRuntimeApi, runtime: RuntimeProcess) -> Posted:
    """The init failure the runtime reports: then it exits 1, never asking for an event."""
    posted = api.wait_posted()
    assert posted.kind == "init_error", posted
    assert runtime.wait_exit() == 1, runtime.stderr()
    assert api.next_calls == 0
    assert posted.error_type_header == posted.json()["errorType"]
    return posted


# --- handler styles ---------------------------------------------------------------------


def test_an_async_handler_answers_and_the_process_serves_the_next_event_warm(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime(
        {
            "index.js": (
                "let calls = 0;\n"
                "exports.handler = async (event) => ({ hello: event.name, calls: ++calls });\n"
            )
        },
        "index.handler",
    )
    assert result_of(api, {"name": "ada"}) == {"hello": "ada", "calls": 1}
    assert result_of(api, {"name": "bob"}) == {"hello": "bob", "calls": 2}


def test_a_handler_returning_a_promise_answers_with_its_value(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime(
        {
            "index.js": (
                "exports.handler = (event) =>\n"
                "  new Promise((resolve) => setTimeout(() => resolve([event, 'later']), 5));\n"
            )
        },
        "index.handler",
    )
    assert result_of(api, 7) == [7, "later"]


def test_undefined_becomes_a_null_response(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime({"index.js": "exports.handler = async () => {};\n"}, "index.handler")
    posted = api.invoke(Invocation())
    assert (posted.kind, posted.body) == ("response", b"null")


CALLBACK_HANDLER = """
exports.handler = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = event.wait;
  // Pending work the handler leaves behind when it answers.
  setTimeout(() => console.log('timer fired'), event.timerMs);
  callback(null, { answered: true });
};
"""


def test_a_callback_answer_waits_for_the_event_loop_to_empty_by_default(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    runtime = start_runtime({"index.js": CALLBACK_HANDLER}, "index.handler")
    assert result_of(api, {"wait": True, "timerMs": 50}) == {"answered": True}
    # The response left only after the timer the handler started had run.
    assert "timer fired" in runtime.stdout()


def test_a_callback_answer_leaves_at_once_when_the_handler_stops_waiting(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    runtime = start_runtime({"index.js": CALLBACK_HANDLER}, "index.handler")
    # An hour-long timer: with waiting on, this response would never come.
    assert result_of(api, {"wait": False, "timerMs": 3_600_000}) == {"answered": True}
    assert "timer fired" not in runtime.stdout()
    assert result_of(api, {"wait": False, "timerMs": 3_600_000}) == {"answered": True}


def test_a_callback_error_is_the_invocations_error(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime(
        {
            "index.js": (
                "exports.handler = (e, c, callback) =>\n  callback(new RangeError('too far'));\n"
            )
        },
        "index.handler",
    )
    posted = failed(api)
    assert posted.json()["errorType"] == "RangeError"


def test_only_the_first_answer_counts(start_runtime: StartRuntime, api: FakeRuntimeApi) -> None:
    start_runtime(
        {
            "index.js": (
                "exports.handler = (e, context, callback) => {\n"
                "  context.callbackWaitsForEmptyEventLoop = false;\n"
                "  callback(null, 'first');\n"
                "  callback(null, 'second');\n"
                "  context.fail(new Error('third'));\n"
                "};\n"
            )
        },
        "index.handler",
    )
    assert result_of(api) == "first"
    assert result_of(api) == "first"


@pytest.mark.parametrize(
    ("body", "kind", "expected"),
    [
        ("context.succeed({ legacy: 'succeed' })", "response", {"legacy": "succeed"}),
        ("context.done(null, 'done')", "response", "done"),
        ("context.fail(new TypeError('legacy fail'))", "error", "TypeError"),
        ("context.fail()", "error", "string"),
    ],
)
def test_the_legacy_context_methods_answer_at_once(
    start_runtime: StartRuntime, api: FakeRuntimeApi, body: str, kind: str, expected: Any
) -> None:
    start_runtime(
        {
            "index.js": (
                "exports.handler = (event, context) => {\n"
                "  setTimeout(() => {}, 3_600_000);\n"
                f"  {body};\n"
                "};\n"
            )
        },
        "index.handler",
    )
    posted = api.invoke(Invocation())
    assert posted.kind == kind
    assert (posted.json() if kind == "response" else posted.json()["errorType"]) == expected


def test_a_handler_that_never_answers_gets_null_once_the_loop_is_empty(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime(
        {"index.js": "exports.handler = (event) => { event.seen = true; };\n"}, "index.handler"
    )
    posted = api.invoke(Invocation(payload={}))
    assert (posted.kind, posted.body) == ("response", b"null")


# --- module kinds -----------------------------------------------------------------------

ESM_HANDLER = "export const handler = async (event) => ({ kind: 'esm', event });\n"
CJS_HANDLER = "module.exports.handler = async (event) => ({ kind: 'cjs', event });\n"


@pytest.mark.parametrize(
    ("files", "handler", "kind"),
    [
        ({"app.js": CJS_HANDLER}, "app.handler", "cjs"),
        ({"app.cjs": CJS_HANDLER}, "app.handler", "cjs"),
        ({"app.mjs": ESM_HANDLER}, "app.handler", "esm"),
        ({"app.js": ESM_HANDLER, "package.json": '{"type": "module"}'}, "app.handler", "esm"),
        # The nearest package.json decides: a CommonJS folder inside an ESM package.
        (
            {
                "package.json": '{"type": "module"}',
                "lib/package.json": "{}",
                "lib/app.js": CJS_HANDLER,
            },
            "lib/app.handler",
            "cjs",
        ),
        ({"src/functions/app.mjs": ESM_HANDLER}, "src/functions/app.handler", "esm"),
        (
            {
                "app.js": (
                    "exports.routes = {\n"
                    "  orders: { handler: async () => ({ kind: 'nested' }) },\n"
                    "};\n"
                )
            },
            "app.routes.orders.handler",
            "nested",
        ),
        # An ES module's default export is searched as well.
        (
            {"app.mjs": "export default { handler: async () => ({ kind: 'default' }) };\n"},
            "app.default.handler",
            "default",
        ),
    ],
    ids=[
        "cjs-js",
        "cjs-cjs",
        "esm-mjs",
        "esm-type-module",
        "cjs-nearest-package",
        "nested-path",
        "nested-export",
        "esm-default",
    ],
)
def test_handlers_load_from_every_module_kind(
    start_runtime: StartRuntime,
    api: FakeRuntimeApi,
    files: dict[str, str],
    handler: str,
    kind: str,
) -> None:
    start_runtime(files, handler)
    assert result_of(api, {"n": 1})["kind"] == kind


# --- errors -----------------------------------------------------------------------------


def test_a_thrown_error_has_lambdas_shape(start_runtime: StartRuntime, api: FakeRuntimeApi) -> None:
    runtime = start_runtime(
        {
            "index.js": (
                "class OrderRejected extends Error {\n"
                "  constructor(message) { super(message); this.name = 'OrderRejected'; }\n"
                "}\n"
                "exports.handler = async () => { throw new OrderRejected('out of stock'); };\n"
            )
        },
        "index.handler",
    )
    posted = failed(api)
    document = posted.json()
    assert set(document) == {"errorType", "errorMessage", "trace"}
    assert document["errorType"] == "OrderRejected"
    assert document["errorMessage"] == "out of stock"
    assert document["trace"][0] == "OrderRejected: out of stock"
    assert any("index.js:4" in line for line in document["trace"])
    assert posted.error_type_header == "OrderRejected"
    # Lambda logs the failure as well, framed like any console.error line.
    assert re.search(
        rf"^{ISO_TIME}\t{posted.request_id}\tERROR\tInvoke Error \t"
        r'\{"errorType":"OrderRejected"',
        runtime.stdout(),
        re.MULTILINE,
    )


def test_a_synchronous_throw_and_a_rejected_non_error(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime(
        {
            "index.js": (
                "exports.handler = (event) => {\n"
                "  if (event.sync) throw new TypeError('sync');\n"
                "  return Promise.reject('just a string');\n"
                "};\n"
            )
        },
        "index.handler",
    )
    sync = failed(api, {"sync": True}).json()
    assert (sync["errorType"], sync["errorMessage"]) == ("TypeError", "sync")
    rejected = failed(api, {"sync": False}).json()
    assert rejected == {"errorType": "string", "errorMessage": "just a string", "trace": []}


def test_a_result_json_cannot_hold_is_an_error(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime(
        {"index.js": "exports.handler = async () => { const o = {}; o.self = o; return o; };\n"},
        "index.handler",
    )
    posted = failed(api)
    assert posted.json()["errorMessage"] == "Unable to stringify response body"


def test_an_uncaught_exception_fails_the_invocation_and_ends_the_process(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    runtime = start_runtime(
        {
            "index.js": (
                "exports.handler = (event, context, callback) => {\n"
                "  setTimeout(() => { throw new Error('from a timer'); }, 1);\n"
                "};\n"
            )
        },
        "index.handler",
    )
    posted = failed(api)
    assert posted.json()["errorMessage"] == "from a timer"
    # Lambda's runtime exits after it (the platform then starts a fresh one).
    assert runtime.wait_exit() == 129


def test_an_unhandled_rejection_fails_the_invocation_and_ends_the_process(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    runtime = start_runtime(
        {
            "index.js": (
                "exports.handler = (event, context, callback) => {\n"
                "  Promise.reject(new Error('nobody waits for me'));\n"
                "  setTimeout(() => callback(null, 'too late'), 1000);\n"
                "};\n"
            )
        },
        "index.handler",
    )
    posted = failed(api)
    document = posted.json()
    assert document["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert document["errorMessage"] == "Error: nobody waits for me"
    assert runtime.wait_exit() == 128


@pytest.mark.parametrize(
    "case",
    [
        ({}, "missing.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'missing'"),
        (
            {"index.js": "require('left-pad');\nexports.handler = async () => 1;\n"},
            "index.handler",
            "Runtime.ImportModuleError",
            "Error: Cannot find module 'left-pad'",
        ),
        (
            {"index.js": "exports.other = async () => 1;\n"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is undefined or not exported",
        ),
        (
            {"index.js": "exports.handler = 42;\n"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is not a function",
        ),
        (
            {"index.js": "exports.handler = async () => {;\n"},
            "index.handler",
            "Runtime.UserCodeSyntaxError",
            "SyntaxError: ",
        ),
        (
            {"index.mjs": "export const handler = async () => {;\n"},
            "index.handler",
            "Runtime.UserCodeSyntaxError",
            "SyntaxError: ",
        ),
        (
            {"index.js": "exports.handler = async () => 1;\n"},
            "index",
            "Runtime.MalformedHandlerName",
            "Bad handler",
        ),
        (
            {"index.js": "exports.handler = async () => 1;\n"},
            "../index.handler",
            "Runtime.MalformedHandlerName",
            "'../index.handler' is not a valid handler name",
        ),
        # Module code that throws keeps its own error type, as on Lambda.
        (
            {"index.js": "throw new RangeError('bad config');\n"},
            "index.handler",
            "RangeError",
            "bad config",
        ),
        # An ES module's missing package is node's error, as on Lambda.
        (
            {"index.mjs": "import 'left-pad';\nexport const handler = async () => 1;\n"},
            "index.handler",
            "Error",
            "Cannot find package 'left-pad'",
        ),
    ],
    ids=[
        "missing-module",
        "missing-dependency",
        "missing-export",
        "export-not-a-function",
        "cjs-syntax-error",
        "esm-syntax-error",
        "no-export-in-handler",
        "relative-path",
        "module-throws",
        "esm-missing-package",
    ],
)
def test_an_init_failure_goes_to_init_error_then_the_process_exits_1(
    start_runtime: StartRuntime, api: FakeRuntimeApi, case: tuple[dict[str, str], str, str, str]
) -> None:
    files, handler, error_type, message = case
    runtime = start_runtime(files, handler)
    document = init_error_of(api, runtime).json()
    assert document["errorType"] == error_type
    assert document["errorMessage"].startswith(message)
    # Logged as Lambda's Node runtime logs it, before any request id exists.
    assert (
        f'\tundefined\tERROR\tUncaught Exception \t{{"errorType":"{error_type}"' in runtime.stdout()
    )


# --- context ----------------------------------------------------------------------------

CONTEXT_HANDLER = """
exports.handler = async (event, context) => ({
  awsRequestId: context.awsRequestId,
  invokedFunctionArn: context.invokedFunctionArn,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  memoryLimitInMB: context.memoryLimitInMB,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  identity: context.identity,
  clientContext: context.clientContext,
  callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
  remaining: context.getRemainingTimeInMillis(),
  traceId: process.env._X_AMZN_TRACE_ID ?? null,
});
"""


def test_the_context_carries_the_invocation_and_the_function(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime({"index.js": CONTEXT_HANDLER}, "index.handler")
    invocation = Invocation(
        deadline_ms=int(time.time() * 1000) + 120_000,
        trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        client_context={"client": {"installation_id": "app-1"}, "custom": {"tier": "gold"}},
        cognito_identity={"cognitoIdentityId": "us-east-1:abc", "cognitoIdentityPoolId": "pool"},
    )
    context = result_of(api, **invocation.__dict__)
    assert context["awsRequestId"] == invocation.request_id
    assert context["invokedFunctionArn"] == invocation.function_arn
    assert context["functionName"] == "greeter"
    assert context["functionVersion"] == "$LATEST"
    assert context["memoryLimitInMB"] == "256"
    assert context["logGroupName"] == "/aws/lambda/greeter"
    assert context["logStreamName"] == "2024/05/01/[$LATEST]0123456789abcdef"
    assert context["identity"] == invocation.cognito_identity
    assert context["clientContext"] == invocation.client_context
    assert context["callbackWaitsForEmptyEventLoop"] is True
    # Counted down from the deadline header: below what was left when it was sent.
    assert 0 < context["remaining"] <= 120_000
    assert context["traceId"] == invocation.trace_id


def test_the_remaining_time_follows_each_invocations_deadline_and_the_trace_id_its_header(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    start_runtime({"index.js": CONTEXT_HANDLER}, "index.handler")
    first = result_of(api, deadline_ms=int(time.time() * 1000) + 600_000, trace_id="Root=1-a")
    second = result_of(api, deadline_ms=int(time.time() * 1000) + 2_000)
    assert 2_000 < first["remaining"] <= 600_000
    assert second["remaining"] <= 2_000
    # No trace header: the previous invocation's id must not linger.
    assert (first["traceId"], second["traceId"]) == ("Root=1-a", None)
    assert second.get("identity") is None and second.get("clientContext") is None


# --- NODE_PATH: layers (/opt/nodejs/node_modules) for require and import ------------------

LAYER_PACKAGE = {
    "nodejs/node_modules/greeting/package.json": json.dumps(
        {
            "name": "greeting",
            "exports": {"import": "./greeting.mjs", "require": "./greeting.cjs"},
        }
    ),
    "nodejs/node_modules/greeting/greeting.mjs": (
        "export const greet = (n) => `hello ${n} (esm)`;\n"
    ),
    "nodejs/node_modules/greeting/greeting.cjs": "exports.greet = (n) => `hello ${n} (cjs)`;\n",
    "nodejs/node_modules/@acme/units/package.json": '{"name": "@acme/units", "main": "index.js"}',
    "nodejs/node_modules/@acme/units/index.js": "exports.unit = 'kg';\n",
}


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    """A layer's content as the sandbox shows it at /opt."""
    return write_files(tmp_path / "opt", LAYER_PACKAGE)


def node_path(layer: Path) -> str:
    # Lambda's NODE_PATH, with this test's /opt.
    return ":".join(
        [
            f"{layer}/nodejs/node20/node_modules",
            f"{layer}/nodejs/node_modules",
            "/var/runtime/node_modules",
            "/var/runtime",
            "/var/task",
        ]
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "app.js": (
                    "const { greet } = require('greeting');\n"
                    "const { unit } = require('@acme/units');\n"
                    "exports.handler = async () => greet(unit);\n"
                )
            },
            "hello kg (cjs)",
        ),
        (
            {
                "app.mjs": (
                    "import { greet } from 'greeting';\n"
                    "import units from '@acme/units';\n"
                    "export const handler = async () => greet(units.unit);\n"
                )
            },
            "hello kg (esm)",
        ),
    ],
    ids=["cjs-require", "esm-import"],
)
def test_packages_of_a_layer_load_through_node_path(
    start_runtime: StartRuntime,
    api: FakeRuntimeApi,
    layer: Path,
    files: dict[str, str],
    expected: str,
) -> None:
    start_runtime(files, "app.handler", {"NODE_PATH": node_path(layer)})
    assert result_of(api) == expected


def test_a_commonjs_handlers_import_sees_node_path_on_nodes_with_in_thread_hooks(
    start_runtime: StartRuntime, api: FakeRuntimeApi, layer: Path
) -> None:
    files = {
        "app.js": (
            "exports.handler = async () =>\n  (await import('greeting')).greet('dynamic');\n"
        )
    }
    start_runtime(files, "app.handler", {"NODE_PATH": node_path(layer)})
    posted = api.invoke(Invocation())
    if node_has_in_thread_hooks():
        assert (posted.kind, posted.json()) == ("response", "hello dynamic (esm)")
    else:
        # Older nodes: the hooks thread is started for ES module handlers only (docs/nodejs.md).
        assert posted.kind == "error"
        assert posted.json()["errorMessage"].startswith("Cannot find package 'greeting'")


def test_the_task_roots_own_packages_come_before_a_layers(
    start_runtime: StartRuntime, api: FakeRuntimeApi, layer: Path
) -> None:
    files = {
        "app.mjs": (
            "import { greet } from 'greeting';\nexport const handler = async () => greet('x');\n"
        ),
        "node_modules/greeting/package.json": '{"name": "greeting", "main": "own.js"}',
        "node_modules/greeting/own.js": "exports.greet = (n) => `own ${n}`;\n",
    }
    start_runtime(files, "app.handler", {"NODE_PATH": node_path(layer)})
    assert result_of(api) == "own x"


# --- console framing --------------------------------------------------------------------

LOGGING_HANDLER = """
console.log('during init');
exports.handler = async (event) => {
  console.log('hello %s', 'world', 42);
  console.info({ order: 7 });
  console.warn('two\\nlines');
  console.error('failed:', new Error('boom'));
  console.debug('details');
  return 'logged';
};
"""


def test_console_lines_are_framed_like_lambdas_text_format(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    runtime = start_runtime({"index.js": LOGGING_HANDLER}, "index.handler")
    request_id = api.invoke(Invocation()).request_id
    lines = runtime.stdout().split("\n")
    assert re.fullmatch(rf"{ISO_TIME}\tundefined\tINFO\tduring init", lines[0])
    framed = [line.split("\t", 3) for line in lines[1:6]]
    assert all(re.fullmatch(ISO_TIME, time_) and rid == request_id for time_, rid, _, _ in framed)
    assert [(level, message.split("\r")[0]) for _, _, level, message in framed] == [
        ("INFO", "hello world 42"),
        ("INFO", "{ order: 7 }"),
        ("WARN", "two"),
        ("ERROR", "failed: Error: boom"),
        ("DEBUG", "details"),
    ]
    # A message's own newlines become carriage returns: one call, one line.
    assert framed[2][3] == "two\rlines"
    assert lines[6:] == [""]


def test_console_lines_are_json_objects_in_json_format_and_filtered_by_level(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    runtime = start_runtime(
        {"index.js": LOGGING_HANDLER},
        "index.handler",
        {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"},
    )
    request_id = api.invoke(Invocation()).request_id
    records = [json.loads(line) for line in runtime.stdout().splitlines()]
    # INFO and DEBUG are below WARN: only two of the six calls are written.
    assert [record["level"] for record in records] == ["WARN", "ERROR"]
    assert all(record["requestId"] == request_id for record in records)
    assert all(re.fullmatch(ISO_TIME, record["timestamp"]) for record in records)
    assert records[0]["message"] == "two\nlines"
    error = records[1]
    assert error["message"].startswith("failed: Error: boom")
    assert (error["errorType"], error["errorMessage"]) == ("Error", "boom")
    assert error["stackTrace"][0] == "Error: boom"


def test_json_format_keeps_an_object_message_as_json_and_init_lines_have_no_request_id(
    start_runtime: StartRuntime, api: FakeRuntimeApi
) -> None:
    runtime = start_runtime(
        {"index.js": LOGGING_HANDLER}, "index.handler", {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
    )
    api.invoke(Invocation())
    records = [json.loads(line) for line in runtime.stdout().splitlines()]
    assert "requestId" not in records[0] and records[0]["message"] == "during init"
    assert records[2]["message"] == {"order": 7}
    assert [record["level"] for record in records] == [
        "INFO",
        "INFO",
        "INFO",
        "WARN",
        "ERROR",
        "DEBUG",
    ]
