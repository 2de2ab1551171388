"""A small HTTP server on uring_rs.Loop: aiohttp when it is installed, else a raw asyncio
protocol speaking HTTP/1.1 keep-alive.

    python examples/loop_http_server.py [--port PORT] [--requests N] [--serve]

Without --serve it starts the server, makes N requests over keep-alive connections with a
plain asyncio client, checks every response, prints a summary and exits.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uring_rs

BODY = b"Hello from uring_rs.Loop\n"


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive, GET only, one fixed response (no dependencies)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
            )


async def start(port: int) -> tuple[Any, int, str]:
    try:
        from aiohttp import web  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(HttpProtocol, "127.0.0.1", port)
        return server, server.sockets[0].getsockname()[1], "raw asyncio protocol"

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, runner.addresses[0][1], "aiohttp"


async def fetch_many(port: int, n: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ok = 0
    for _ in range(n):
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        if await reader.readexactly(length) == BODY and head.startswith(b"HTTP/1.1 200"):
            ok += 1
    writer.close()
    await writer.wait_closed()
    return ok


async def main(args: argparse.Namespace) -> None:
    server, port, kind = await start(args.port)
    try:
        if args.serve:
            print(f"HTTP ({kind}) on http://127.0.0.1:{port}/")
            await asyncio.Event().wait()
        per = max(1, args.requests // 10)
        oks = await asyncio.gather(*(fetch_many(port, per) for _ in range(10)))
        print(f"{sum(oks)}/{per * 10} responses OK from {kind} on uring_rs.Loop")
    finally:
        if kind == "aiohttp":
            await server.cleanup()
        else:
            server.close()
            await server.wait_closed()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--serve", action="store_true")
    uring_rs.run(main(p.parse_args()))
