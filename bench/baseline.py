"""The baseline: a bare aiohttp server calling the handler in-process.

It takes the same Invoke POST as faas (same path), decodes the event and encodes the result
with orjson on uvloop, like the faas gateway: the limit of one Python process serving that
request, with no process hop and no record. Run as its own process:
`python -m bench.baseline --port P --cpu-iterations N`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping

import orjson
import uvloop
from aiohttp import web

from bench.handlers import HELLO, Handler, cpu_source, load_handler

INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"


def make_app(handlers: Mapping[str, Handler]) -> web.Application:
    async def invoke(request: web.Request) -> web.Response:
        handler = handlers.get(request.match_info["name"])
        if handler is None:
            return web.Response(status=404)
        body = await request.read()
        event = orjson.loads(body) if body else None
        result = handler(event, None)
        return web.Response(body=orjson.dumps(result), content_type="application/json")

    async def health(_request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    app = web.Application()
    app.router.add_post(INVOKE_PATH, invoke)
    app.router.add_get("/health", health)
    return app


async def serve(port: int, handlers: Mapping[str, Handler]) -> None:
    runner = web.AppRunner(make_app(handlers), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()  # until the bench kills this process
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu-iterations", type=int, required=True)
    args = parser.parse_args()
    handlers = {"hello": load_handler(HELLO), "cpu": load_handler(cpu_source(args.cpu_iterations))}
    uvloop.run(serve(args.port, handlers))


if __name__ == "__main__":
    main()
