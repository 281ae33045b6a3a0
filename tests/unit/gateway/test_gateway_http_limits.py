"""The [http] limits at the front door (faas.config.HttpSettings), over real loopback
sockets: too many connections, slow headers and bodies (on the lean route and on connections
handed to aiohttp), too many or too large headers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from faas.config import HttpSettings
from tests.unit.gateway.test_gateway_front import (
    INVOKE,
    _connect,
    _invoke_request,
    _read_response,
    front_door,
)

pytestmark = pytest.mark.asyncio

QUICK = HttpSettings(header_timeout_s=0.4, body_timeout_s=0.4, keepalive_timeout_s=30.0)


Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@contextlib.asynccontextmanager
async def clients() -> AsyncIterator[Connect]:
    """Connections to the front door, every one closed at the end."""
    writers: list[asyncio.StreamWriter] = []

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await _connect(port)
        writers.append(writer)
        return reader, writer

    try:
        yield connect
    finally:
        for writer in writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _closed_by_server(reader: asyncio.StreamReader, within_s: float = 3.0) -> bytes:
    """Everything the server wrote before closing the connection (fails if it does not)."""
    return await asyncio.wait_for(reader.read(), within_s)


async def test_connections_past_the_maximum_are_answered_503_and_closed() -> None:
    async with (
        front_door(HttpSettings(max_connections=3)) as (door, _served, port),
        clients() as connect,
    ):
        held = [await connect(port) for _ in range(3)]
        await asyncio.sleep(0.05)
        reader, _ = await connect(port)
        refused = await _closed_by_server(reader)
        assert refused.startswith(b"HTTP/1.1 503 ")
        assert door.refused_connections == 1
        # The connections held still work, and once one goes a new one is taken.
        reader0, writer0 = held[0]
        writer0.write(_invoke_request("hello"))
        assert (await _read_response(reader0))[0] == 200
        held[1][1].close()
        await asyncio.sleep(0.05)
        reader, writer = await connect(port)
        writer.write(_invoke_request("hello"))
        assert (await _read_response(reader))[0] == 200


async def test_a_slow_loris_is_cut_off_while_others_are_served() -> None:
    async with front_door(QUICK) as (door, _served, port), clients() as connect:
        slow_reader, slow_writer = await connect(port)
        slow_writer.write(f"POST {INVOKE.format(name='x')} HTTP/1.1\r\nHost: x\r\n".encode())
        for _ in range(3):  # a header line now and then: never the end of the headers
            await asyncio.sleep(0.15)
            reader, writer = await connect(port)
            writer.write(_invoke_request("hello"))
            assert (await _read_response(reader))[0] == 200
            writer.close()
            slow_writer.write(b"X-Slow: 1\r\n")
        answer = await _closed_by_server(slow_reader)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert door.timed_out >= 1


async def test_a_connection_that_says_nothing_is_closed_after_the_header_timeout() -> None:
    async with front_door(QUICK) as (_door, _served, port), clients() as connect:
        reader, _ = await connect(port)
        assert (await _closed_by_server(reader)).startswith(b"HTTP/1.1 408 ")


async def test_a_body_that_does_not_arrive_in_time_is_408() -> None:
    async with front_door(QUICK) as (_door, served, port), clients() as connect:
        reader, writer = await connect(port)
        head = f"POST {INVOKE.format(name='late')} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
        writer.write(head.encode() + b"\r\n" + b"{" * 10)
        assert (await _closed_by_server(reader)).startswith(b"HTTP/1.1 408 ")
        assert served.fast == []


async def test_an_idle_keep_alive_connection_is_not_a_slow_client() -> None:
    async with front_door(QUICK) as (_door, _served, port), clients() as connect:
        reader, writer = await connect(port)
        writer.write(_invoke_request("hello"))
        assert (await _read_response(reader))[0] == 200
        await asyncio.sleep(1.0)  # idle past the header timeout, within keep-alive
        writer.write(_invoke_request("hello"))
        assert (await _read_response(reader))[0] == 200


async def test_connections_handed_to_aiohttp_keep_the_deadlines() -> None:
    async with front_door(QUICK) as (door, served, port), clients() as connect:
        reader, writer = await connect(port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await _read_response(reader))[0] == 200
        assert served.aiohttp == ["/health"] and len(door.relayed) == 1
        # Keep-alive requests on it are aiohttp's now: a slow one is cut off too.
        writer.write(b"GET /health HTTP/1.1\r\n")
        await _closed_by_server(reader)
        assert door.timed_out >= 1 and not door.relayed


async def test_too_many_or_too_large_headers_are_431() -> None:
    limits = HttpSettings(max_headers=5, max_header_bytes=2048)
    async with front_door(limits) as (_door, _served, port), clients() as connect:
        reader, writer = await connect(port)
        many = "".join(f"X-{i}: v\r\n" for i in range(6))
        writer.write(_invoke_request("hello", extra=many))
        assert (await _read_response(reader))[0] == 431
        reader, writer = await connect(port)
        writer.write(_invoke_request("hello", extra=f"X-Big: {'v' * 3000}\r\n"))
        assert (await _read_response(reader))[0] == 431
        reader, writer = await connect(port)
        writer.write(_invoke_request("hello", extra="X-1: v\r\n"))
        assert (await _read_response(reader))[0] == 200
