"""Real programs on uring_rs.Loop: aiohttp, uvicorn + Starlette + httpx, websockets.

Each test is a real server and a real client of that library over loopback, bounded in
count and time, run on uring_rs.Loop and on asyncio's own loop as the control (so a
failure on ``uring_rs`` alone is the loop's). The libraries are in the ``test`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _loops import loop_kinds, run_on

try:
    import aiohttp
    import httpx
    import uvicorn
    from aiohttp import web
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route
    from websockets.asyncio.client import connect as ws_connect
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
except ImportError as exc:  # pragma: no cover - the test extra installs them all
    pytest.skip(
        f"a real-program library is not installed ({exc.name}): pip install '.[test]'",
        allow_module_level=True,
    )

MiB = 1 << 20
TEXT, BINARY = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY


def record_loop_errors() -> list[dict[str, Any]]:
    """Every context the running loop's exception handler gets from here on: a real
    program that works sends none there."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    return errors


def pattern(n: int, seed: int) -> bytes:
    """``n`` pseudo-random bytes, the same for the same ``seed`` (so a reordered, dropped
    or repeated chunk cannot go unseen, as it could with a repeated byte)."""
    return random.Random(seed).randbytes(n)


# ------------------------------------------------------------------------ aiohttp


@contextlib.asynccontextmanager
async def aiohttp_server(expect_concurrent: int = 0) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """An aiohttp application on 127.0.0.1: ``/n/{i}`` (waits until ``expect_concurrent``
    requests are in flight at once, then answers), ``/echo`` (the body back, with its
    SHA-256), ``/stream-echo`` (the body read in chunks and streamed back as it comes),
    ``/ws`` (a websocket echo)."""
    state: dict[str, Any] = {"in_flight": 0, "peers": set(), "all_in": asyncio.Event()}

    async def numbered(request: web.Request) -> web.Response:
        assert request.transport is not None
        state["peers"].add(request.transport.get_extra_info("peername"))
        state["in_flight"] += 1
        if state["in_flight"] >= expect_concurrent:
            state["all_in"].set()
        try:
            await asyncio.wait_for(state["all_in"].wait(), 10)
        finally:
            state["in_flight"] -= 1
        return web.Response(text=f"hello {request.match_info['i']}")

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(body=body, headers={"X-Sha256": hashlib.sha256(body).hexdigest()})

    async def stream_echo(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        async for chunk in request.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def ws_echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=8 * MiB)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application(client_max_size=64 * MiB)
    app.router.add_get("/n/{i}", numbered)
    app.router.add_post("/echo", echo)
    app.router.add_post("/stream-echo", stream_echo)
    app.router.add_get("/ws", ws_echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


@loop_kinds
def test_aiohttp_200_concurrent_requests_then_again_on_the_kept_alive_connections(
    kind: str,
) -> None:
    n = 200

    async def main() -> None:
        errors = record_loop_errors()
        async with aiohttp_server(expect_concurrent=n) as (url, state):
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def get(i: int) -> str:
                    async with session.get(f"{url}/n/{i}") as resp:
                        assert resp.status == 200
                        return await resp.text()

                # All n in flight at once: every handler waits until the n-th arrives.
                first = await asyncio.gather(*(get(i) for i in range(n)))
                assert first == [f"hello {i}" for i in range(n)]
                assert len(state["peers"]) == n
                # The same n again: the pool's kept-alive connections serve them, so the
                # transports kept reading after their first response.
                state["all_in"].clear()
                second = await asyncio.gather(*(get(i) for i in range(n, 2 * n)))
                assert second == [f"hello {i}" for i in range(n, 2 * n)]
                assert len(state["peers"]) == n
        assert errors == []

    run_on(kind, main())


@loop_kinds
def test_aiohttp_large_post_comes_back_byte_for_byte(kind: str) -> None:
    async def main() -> None:
        errors = record_loop_errors()
        async with aiohttp_server() as (url, _), aiohttp.ClientSession() as session:
            body = os.urandom(6 * MiB + 12345)
            async with session.post(f"{url}/echo", data=body) as resp:
                assert resp.status == 200
                got = await resp.read()
                assert resp.headers["X-Sha256"] == hashlib.sha256(body).hexdigest()
            assert len(got) == len(body) and got == body

            # Chunked both ways, while both sides write: the server streams the body back
            # as it reads it, so flow control (pause/resume writing and reading) runs.
            data = pattern(5 * MiB + 777, seed=1)
            sizes = [1, 100, 65536, 3, 1 << 20, 7, 300000]

            async def gen() -> AsyncIterator[bytes]:
                off, i = 0, 0
                while off < len(data):
                    step = sizes[i % len(sizes)]
                    yield data[off : off + step]
                    off, i = off + step, i + 1

            async with session.post(f"{url}/stream-echo", data=gen()) as resp:
                assert resp.status == 200
                received = bytearray()
                async for chunk in resp.content.iter_chunked(100000):
                    received += chunk
            assert len(received) == len(data) and bytes(received) == data
        assert errors == []

    run_on(kind, main())


@loop_kinds
def test_aiohttp_websocket_echo(kind: str) -> None:
    async def main() -> None:
        errors = record_loop_errors()
        async with aiohttp_server() as (url, _), aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{url}/ws", max_msg_size=8 * MiB) as ws:
                sent: list[str | bytes] = []
                for i in range(1000):
                    if i % 2:
                        sent.append(pattern(i * 37 % 70000, seed=i))
                    else:
                        sent.append(f"message {i} " + "x" * (i % 300))
                sent.append(pattern(3 * MiB, seed=99))

                # Sent and read at once (a sender that read nothing until it had sent
                # 20 MiB would deadlock on any loop once both directions' buffers fill).
                async def send_all() -> None:
                    for msg in sent:
                        if isinstance(msg, bytes):
                            await ws.send_bytes(msg)
                        else:
                            await ws.send_str(msg)

                async def receive_all() -> None:
                    for expected in sent:
                        reply = await ws.receive()
                        binary = isinstance(expected, bytes)
                        assert reply.type == (BINARY if binary else TEXT), reply
                        assert reply.data == expected

                await asyncio.gather(send_all(), receive_all())
                await ws.close()
            assert ws.close_code == 1000
        assert errors == []

    run_on(kind, main())


# ------------------------------------------------------------- uvicorn + Starlette + httpx


def starlette_app(events: list[str]) -> Starlette:
    async def numbered(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.path_params['i']}")

    async def echo(request: Request) -> Response:
        body = await request.body()
        return Response(
            body,
            media_type="application/octet-stream",
            headers={"x-sha256": hashlib.sha256(body).hexdigest()},
        )

    async def stream(request: Request) -> StreamingResponse:
        n = int(request.query_params["n"])

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(n):
                yield pattern(65536, seed=i)
                if i % 8 == 0:
                    await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    return Starlette(
        routes=[
            Route("/n/{i:int}", numbered),
            Route("/echo", echo, methods=["POST"]),
            Route("/stream", stream),
        ],
        lifespan=lifespan,
    )


@loop_kinds
def test_uvicorn_starlette_app_driven_by_httpx(kind: str) -> None:
    async def main() -> None:
        errors = record_loop_errors()
        events: list[str] = []
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            starlette_app(events), lifespan="on", http="h11", ws="none", log_level="warning"
        )
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        for _ in range(500):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.01)
        assert server.started and events == ["startup"]

        # 200 requests at once over 20 connections: httpcore's pool costs time quadratic in
        # its connections (300 requests over 300 take 2.5 s on either loop).
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
            replies = await asyncio.gather(*(client.get(f"/n/{i}") for i in range(200)))
            assert [r.status_code for r in replies] == [200] * 200
            assert [r.text for r in replies] == [f"hello {i}" for i in range(200)]

            body = os.urandom(4 * MiB + 3)
            r = await client.post("/echo", content=body)
            assert r.status_code == 200
            assert r.headers["x-sha256"] == hashlib.sha256(body).hexdigest()
            assert r.content == body

            received = bytearray()
            async with client.stream("GET", "/stream", params={"n": 64}) as resp:
                assert resp.status_code == 200
                async for chunk in resp.aiter_bytes():
                    received += chunk
            assert bytes(received) == b"".join(pattern(65536, seed=i) for i in range(64))

        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        assert events == ["startup", "shutdown"]
        assert sock.fileno() == -1  # the server closed its listening socket
        assert errors == []

    run_on(kind, main())


# ------------------------------------------------------------------------ websockets


@loop_kinds
def test_websockets_echo_many_messages_from_many_clients(kind: str) -> None:
    clients, per_client = 10, 300

    async def handler(ws: ServerConnection) -> None:
        async for msg in ws:
            await ws.send(msg)

    async def main() -> None:
        errors = record_loop_errors()
        async with ws_serve(handler, "127.0.0.1", 0, max_size=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            uri = f"ws://127.0.0.1:{port}"

            async def client(c: int) -> int:
                async with ws_connect(uri, max_size=None) as ws:
                    sent: list[str | bytes] = [
                        pattern((c * 131 + i * 17) % 20000, seed=c * 1000 + i)
                        if i % 3 == 0
                        else f"client {c} message {i}"
                        for i in range(per_client)
                    ]

                    # Pipelined, with the replies read as they come.
                    async def send_all() -> None:
                        for msg in sent:
                            await ws.send(msg)

                    async def receive_all() -> None:
                        for expected in sent:
                            assert await ws.recv() == expected

                    await asyncio.gather(send_all(), receive_all())
                    pong = await ws.ping()
                    await asyncio.wait_for(pong, 5)
                return len(sent)

            counts = await asyncio.gather(*(client(c) for c in range(clients)))
            assert counts == [per_client] * clients

            async with ws_connect(uri, max_size=None) as ws:
                big = pattern(4 * MiB + 5, seed=7)
                await ws.send(big)
                assert await ws.recv() == big
            assert ws.close_code == 1000
        assert errors == []

    run_on(kind, main())
