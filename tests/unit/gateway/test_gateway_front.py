"""The front door (faas/gateway/front.py): Invoke on the lean route, the rest handed to
aiohttp, over real loopback sockets with a stub Invoke handler and a small aiohttp app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from faas.config import HttpSettings
from faas.gateway.front import FrontDoor

pytestmark = pytest.mark.asyncio

INVOKE = "/2015-03-31/functions/{name}/invocations"
MAX_BODY = 1024


@dataclass
class Served:
    """Which route answered what."""

    fast: list[tuple[str, bytes]] = field(default_factory=list)
    aiohttp: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    finished: list[str] = field(default_factory=list)


async def _fast_invoke(served: Served, request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    body = await request.read()
    served.fast.append((name, body))
    if name == "slow":
        await served.release.wait()
    served.finished.append(name)
    headers = {"x-amzn-RequestId": f"id-{len(served.fast)}", "X-Amz-Executed-Version": "$LATEST"}
    if request.query_string:
        headers["X-Qualifier"] = request.query.get("Qualifier", "")
    return web.Response(
        body=b'{"name":"' + name.encode() + b'"}', headers=headers, content_type="application/json"
    )


@contextlib.asynccontextmanager
async def front_door(
    limits: HttpSettings | None = None,
) -> AsyncIterator[tuple[FrontDoor, Served, int]]:
    served = Served()

    async def invoke(request: web.Request) -> web.StreamResponse:
        return await _fast_invoke(served, request)

    async def aiohttp_invoke(request: web.Request) -> web.StreamResponse:
        served.aiohttp.append(request.path)
        return web.Response(body=b'{"via":"aiohttp"}', content_type="application/json")

    async def health(request: web.Request) -> web.StreamResponse:
        served.aiohttp.append(request.path)
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post(INVOKE, aiohttp_invoke)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    assert runner.server is not None
    door = FrontDoor(invoke, runner.server, max_body_bytes=MAX_BODY, limits=limits)
    await door.listen("127.0.0.1", 0)
    port = door.addresses[0][1]
    try:
        yield door, served, port
    finally:
        served.release.set()
        door.stop_listening()
        await asyncio.gather(door.drain(2), runner.cleanup())


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def _invoke_request(name: str, body: bytes = b"{}", extra: str = "", version: str = "1.1") -> bytes:
    return (
        f"POST {INVOKE.format(name=name)} HTTP/{version}\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 5) if length else b""
    return status, headers, body


async def test_an_invoke_is_answered_by_the_lean_route_with_a_complete_head() -> None:
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        writer.write(_invoke_request("hello", b'{"a":1}'))
        status, headers, body = await _read_response(reader)
        assert status == 200
        assert body == b'{"name":"hello"}'
        assert served.fast == [("hello", b'{"a":1}')] and served.aiohttp == []
        assert headers["content-type"] == "application/json"
        assert headers["x-amzn-requestid"] == "id-1"
        assert headers["content-length"] == str(len(body))
        assert "date" in headers and "server" in headers
        assert "connection" not in headers  # HTTP/1.1 keeps the connection open
        # The same connection serves the next Invoke.
        writer.write(_invoke_request("again"))
        status, _headers, body = await _read_response(reader)
        assert (status, body) == (200, b'{"name":"again"}')
        writer.close()


async def test_another_route_hands_the_connection_to_aiohttp_for_good() -> None:
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _headers, body = await _read_response(reader)
        assert (status, body) == (200, b'{"status": "ok"}')
        # From now on the connection is aiohttp's, its Invoke route included.
        writer.write(_invoke_request("hello"))
        status, _headers, body = await _read_response(reader)
        assert (status, body) == (200, b'{"via":"aiohttp"}')
        assert served.fast == []
        assert served.aiohttp == ["/health", INVOKE.format(name="hello")]
        writer.close()


async def test_a_request_after_invokes_is_handed_over_with_all_its_bytes() -> None:
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        writer.write(_invoke_request("first"))
        assert (await _read_response(reader))[0] == 200
        # A request split over several reads, handed over after the first.
        writer.write(b"GET /hea")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"lth HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _headers, body = await _read_response(reader)
        assert (status, body) == (200, b'{"status": "ok"}')
        assert served.aiohttp == ["/health"]
        writer.close()


async def test_pipelined_invokes_are_answered_in_order() -> None:
    async with front_door() as (_door, _served, port):
        reader, writer = await _connect(port)
        writer.write(b"".join(_invoke_request(f"f{i}") for i in range(5)))
        bodies = [(await _read_response(reader))[2] for _ in range(5)]
        assert bodies == [b'{"name":"f%d"}' % i for i in range(5)]
        writer.close()


async def test_another_route_pipelined_behind_an_invoke_closes_after_the_invoke() -> None:
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        writer.write(_invoke_request("hello") + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _body = await _read_response(reader)
        assert status == 200 and headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed; the GET is retried
        assert served.aiohttp == []
        writer.close()


async def test_a_request_that_waits_behind_a_running_invoke_is_handed_over_after_it() -> None:
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        writer.write(_invoke_request("slow"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        assert served.aiohttp == []  # not before the Invoke is answered
        served.release.set()
        assert (await _read_response(reader))[2] == b'{"name":"slow"}'
        assert (await _read_response(reader))[2] == b'{"status": "ok"}'
        writer.close()


async def test_a_malformed_request_gets_aiohttps_answer() -> None:
    async with front_door() as (_door, _served, port):
        reader, writer = await _connect(port)
        writer.write(b"POST /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        status, _headers, _body = await _read_response(reader)
        assert status == 400
        writer.close()


async def test_a_huge_request_head_is_refused_with_431() -> None:
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        writer.write(_invoke_request("hello", extra=f"X-Big: {'a' * 70_000}\r\n"))
        status, headers, _body = await _read_response(reader)
        assert status == 431 and headers["connection"] == "close"
        assert served.fast == []
        writer.close()


async def test_expect_continue_and_chunked_bodies() -> None:
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        writer.write(
            f"POST {INVOKE.format(name='hello')} HTTP/1.1\r\nHost: x\r\n"
            "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(b'3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n')
        status, _headers, _body = await _read_response(reader)
        assert status == 200 and served.fast == [("hello", b'{"a":1}')]
        writer.close()


async def test_a_body_over_the_limit_is_not_kept_and_reading_it_fails_with_413() -> None:
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        writer.write(_invoke_request("hello", b"x" * (MAX_BODY + 1)))
        status, _headers, body = await _read_response(reader)
        assert status == 413 and b"Maximum request body size 1024 exceeded" in body
        assert served.fast == []
        writer.close()


async def test_connection_close_and_http_10_are_honoured() -> None:
    async with front_door() as (_door, _served, port):
        reader, writer = await _connect(port)
        writer.write(_invoke_request("hello", extra="Connection: close\r\n"))
        status, headers, _body = await _read_response(reader)
        assert status == 200 and headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        reader, writer = await _connect(port)
        writer.write(_invoke_request("hello", version="1.0"))
        status, headers, _body = await _read_response(reader)
        assert status == 200 and headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_names_and_qualifiers_are_decoded_as_aiohttp_decodes_them() -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:hello"
    async with front_door() as (_door, served, port):
        reader, writer = await _connect(port)
        path = INVOKE.format(name=arn.replace(":", "%3A")) + "?Qualifier=%24LATEST"
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        status, headers, _body = await _read_response(reader)
        assert status == 200 and served.fast == [(arn, b"")]
        assert headers["x-qualifier"] == "$LATEST"
        writer.close()


async def test_a_client_that_goes_away_does_not_cut_its_invoke_short() -> None:
    async with front_door() as (_door, served, port):
        _reader, writer = await _connect(port)
        writer.write(_invoke_request("slow"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await asyncio.sleep(0.05)
        served.release.set()
        for _ in range(50):
            if served.finished:
                break
            await asyncio.sleep(0.01)
        assert served.finished == ["slow"]


async def test_a_stop_lets_a_running_invoke_answer_and_closes_idle_connections() -> None:
    async with front_door() as (door, served, port):
        idle_reader, idle_writer = await _connect(port)
        idle_writer.write(_invoke_request("hello"))
        await _read_response(idle_reader)
        reader, writer = await _connect(port)
        writer.write(_invoke_request("slow"))
        await writer.drain()
        await asyncio.sleep(0.05)
        door.stop_listening()
        drained = asyncio.ensure_future(door.drain(5))
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""
        served.release.set()
        status, headers, _body = await _read_response(reader)
        assert status == 200 and headers["connection"] == "close"
        await asyncio.wait_for(drained, 5)
        idle_writer.close()
        writer.close()
        with pytest.raises(OSError):
            await _connect(port)
