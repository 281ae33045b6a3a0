"""The lean Invoke route and aiohttp's Invoke route answer every Invoke the same way.

A connection whose first request is an Invoke is served by the front door's lean route; one
whose first request is anything else is handed to aiohttp, which then serves its Invokes too
(faas/gateway/front.py). Each case below is sent both ways, over raw sockets, and the two
answers must match: status, headers (their values too, but for the date and request id) and
body.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from tests.helpers.server import AccessKey, FaasServer, sign

FUNCTION = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    print("hello from", context.function_name)
    return {"echo": event}
"""
INVOKE = "/2015-03-31/functions/{name}/invocations"
REQUEST_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VARYING_HEADERS = {"date", "x-amzn-requestid", "x-amz-log-result"}


@pytest.fixture(scope="module")
def deployed(server: FaasServer) -> FaasServer:
    server.deploy("routes", {"app.py": FUNCTION})
    return server


def _port(server: FaasServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _signed_bytes(
    server: FaasServer, path: str, body: bytes, headers: dict[str, str], key: AccessKey | None
) -> bytes:
    request = urllib.request.Request(server.url + path, data=body, method="POST")
    for name, value in headers.items():
        request.add_header(name, value)
    if key is not None:
        sign(request, key)
    lines = [f"POST {path} HTTP/1.1", f"Host: {server.url.split('//')[1]}"]
    lines += [f"{name}: {value}" for name, value in request.header_items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before an answer"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:length]


def _connection(server: FaasServer, *, via_aiohttp: bool) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        if via_aiohttp:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _headers, _body = _read_answer(sock)
            assert status == 200
        yield sock


def _both_ways(
    server: FaasServer, path: str, body: bytes, headers: dict[str, str], key: AccessKey | None
) -> list[tuple[int, dict[str, str], bytes]]:
    answers = []
    for via_aiohttp in (False, True):
        for sock in _connection(server, via_aiohttp=via_aiohttp):
            sock.sendall(_signed_bytes(server, path, body, headers, key))
            answers.append(_read_answer(sock))
    return answers


def _comparable(answer: tuple[int, dict[str, str], bytes]) -> tuple[object, ...]:
    status, headers, body = answer
    kept = {k: v for k, v in headers.items() if k not in VARYING_HEADERS}
    return status, kept, sorted(headers), REQUEST_ID.sub(b"<id>", body)


CASES = {
    "success": (INVOKE.format(name="routes"), b'{"a": 1}', {}),
    "function error": (INVOKE.format(name="routes"), b'{"fail": true}', {}),
    "log tail": (INVOKE.format(name="routes"), b"{}", {"X-Amz-Log-Type": "Tail"}),
    "dry run": (INVOKE.format(name="routes"), b"{}", {"X-Amz-Invocation-Type": "DryRun"}),
    "unknown function": (INVOKE.format(name="nope"), b"{}", {}),
    "bad json": (INVOKE.format(name="routes"), b"{not json", {}),
    "bad invocation type": (INVOKE.format(name="routes"), b"{}", {"X-Amz-Invocation-Type": "X"}),
    "bad client context": (INVOKE.format(name="routes"), b"{}", {"X-Amz-Client-Context": "%%"}),
    "too large": (INVOKE.format(name="routes"), b'"' + b"x" * (6 * 1024 * 1024) + b'"', {}),
    "qualifier": (INVOKE.format(name="routes") + "?Qualifier=%24LATEST", b"{}", {}),
    "bad qualifier": (INVOKE.format(name="routes") + "?Qualifier=7", b"{}", {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_routes_answer_an_invoke_alike(deployed: FaasServer, case: str) -> None:
    path, body, headers = CASES[case]
    lean, aiohttp = _both_ways(deployed, path, body, headers, deployed.admin_key)
    assert _comparable(lean) == _comparable(aiohttp)
    if case == "log tail":
        lean_log = base64.b64decode(lean[1]["x-amz-log-result"])
        assert b"hello from routes" in lean_log and b"REPORT RequestId" in lean_log


def test_both_routes_refuse_unsigned_and_badly_signed_calls_alike(deployed: FaasServer) -> None:
    path = INVOKE.format(name="routes")
    lean, aiohttp = _both_ways(deployed, path, b"{}", {}, None)
    assert lean[0] == 403
    assert _comparable(lean) == _comparable(aiohttp)
    wrong = AccessKey(deployed.admin_key.access_key_id, "not-the-secret")
    lean, aiohttp = _both_ways(deployed, path, b"{}", {}, wrong)
    assert lean[0] == 403 and json.loads(lean[2])["Type"] == "User"
    assert _comparable(lean) == _comparable(aiohttp)
