"""The Python servers of bench/loop/run.py, one per process.

    python bench/loop/servers.py LOOP SHAPE [--port P]

LOOP: ``uring_rs`` (``uring_rs.run``), ``uvloop`` (``uvloop.run``), ``asyncio``
(``asyncio.run``, the default selector loop) or ``rloop`` (``asyncio.Runner`` with
``rloop.new_event_loop``). SHAPE:

- ``protocol``: ``loop.create_server`` with an ``asyncio.Protocol`` whose
  ``data_received`` writes the bytes back (``transport.write``);
- ``streams``: ``asyncio.start_server``; each connection ``await reader.read(65536)``,
  ``writer.write``, ``await writer.drain()`` until EOF;
- ``sock``: a listening socket served with ``loop.sock_accept``, each connection a task
  doing ``await loop.sock_recv(sock, 65536)`` / ``await loop.sock_sendall(sock, data)``;
- ``aio_sock``: the same with ``uring_rs.aio.sock_accept/sock_recv/sock_sendall`` (the
  ``aio`` ring beside the loop, meant for asyncio's own loop);
- ``uvicorn``: uvicorn (httptools if installed, else h11) serving a raw ASGI app that
  answers every request with a 13-byte body, started with ``uvicorn.Server.serve`` inside
  the loop's ``run`` (no access log, no lifespan).

Every server listens on 127.0.0.1 (port 0: any free one) with a backlog of 1024, prints
``READY <port>`` on stdout once it accepts, and runs until killed. Connections are closed
when the client's EOF arrives. Errors are not caught: whatever the loop logs or raises
goes to stderr, which run.py keeps and reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any

BACKLOG = 1024
READ_SIZE = 65536


def listening_socket(port: int) -> socket.socket:
    # proto IPPROTO_TCP, as getaddrinfo gives it: asyncio sets TCP_NODELAY on accepted
    # sockets only when sock.proto says TCP (uvicorn writes headers and body apart).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def ready(port: int) -> None:
    print(f"READY {port}", flush=True)


def server_port(server: asyncio.AbstractServer) -> int:
    return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]


async def forever(server: asyncio.AbstractServer) -> None:
    # Not server.serve_forever(): rloop 0.5's starts serving a second time, which closes
    # the listening socket of a server create_server already started.
    async with server:
        await asyncio.get_running_loop().create_future()


RLOOP_WRITE_EOF = False  # set by main() for rloop


class Echo(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        # Returning False closes the transport. rloop 0.5 then reports connection_lost
        # but sends no FIN (the client would wait forever): shut the write side first.
        if RLOOP_WRITE_EOF:
            self.transport.write_eof()
        return False


async def serve_protocol(port: int) -> None:
    # host and port, not sock=: rloop 0.5's create_server(sock=) leaves the socket closed.
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=BACKLOG)
    ready(server_port(server))
    await forever(server)


async def serve_streams(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=BACKLOG)
    ready(server_port(server))
    await forever(server)


SockOps = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]


def loop_sock_ops() -> SockOps:
    loop = asyncio.get_running_loop()
    return loop.sock_accept, loop.sock_recv, loop.sock_sendall


def aio_sock_ops() -> SockOps:
    from uring_rs import aio

    return aio.sock_accept, aio.sock_recv, aio.sock_sendall


async def serve_sock(port: int, ops: Callable[[], SockOps]) -> None:
    lsock = listening_socket(port)
    accept, recv, sendall = ops()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(conn: socket.socket) -> None:
        with conn:
            while True:
                data = await recv(conn, READ_SIZE)
                if not data:
                    break
                await sendall(conn, data)

    ready(lsock.getsockname()[1])
    while True:
        conn, _ = await accept(lsock)
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.ensure_future(handle(conn))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


BODY = b"Hello, world!"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())],
}
RESPONSE = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(START)
    await send(RESPONSE)


async def serve_uvicorn(port: int) -> None:
    import importlib.util

    import uvicorn

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    config = uvicorn.Config(
        app,
        http=http,
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=BACKLOG,
    )
    server = uvicorn.Server(config)
    lsock = listening_socket(port)
    # The socket already listens: connections wait in its backlog until serve() accepts.
    ready(lsock.getsockname()[1])
    print(f"uvicorn {uvicorn.__version__}, http={http}", file=sys.stderr, flush=True)
    await server.serve(sockets=[lsock])


SHAPES: dict[str, Callable[[int], Coroutine[Any, Any, None]]] = {
    "protocol": serve_protocol,
    "streams": serve_streams,
    "sock": lambda s: serve_sock(s, loop_sock_ops),
    "aio_sock": lambda s: serve_sock(s, aio_sock_ops),
    "uvicorn": serve_uvicorn,
}


def run(loop: str, main: Coroutine[Any, Any, None]) -> None:
    if loop == "uring_rs":
        import uring_rs

        uring_rs.run(main)
    elif loop == "uvloop":
        import uvloop

        uvloop.run(main)
    elif loop == "rloop":
        import rloop  # type: ignore[import-untyped, unused-ignore]

        with asyncio.Runner(loop_factory=rloop.new_event_loop) as runner:
            runner.run(main)
    elif loop == "asyncio":
        asyncio.run(main)
    else:
        raise SystemExit(f"unknown loop {loop!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loop", choices=["uring_rs", "uvloop", "asyncio", "rloop"])
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    global RLOOP_WRITE_EOF
    RLOOP_WRITE_EOF = args.loop == "rloop"
    with contextlib.suppress(KeyboardInterrupt):
        run(args.loop, SHAPES[args.shape](args.port))


if __name__ == "__main__":
    main()
