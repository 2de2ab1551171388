"""A TCP echo server on uring_rs.aio sockets (accept, recv, send all through io_uring).

    python examples/echo_server.py [--host H] [--port P] [--connections N]
    python examples/echo_server.py --selftest [--clients K] [--size BYTES]

The server echoes every byte back until the client closes. It serves ``--connections``
connections and exits (0, the default, means: until Ctrl-C). ``--selftest`` starts the
server on a free port, runs ``--clients`` concurrent clients that each send ``--size``
random bytes and check the echo, and exits 0 when all of them got their bytes back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time

from uring_rs import aio


async def echo(conn: socket.socket, idle_timeout: float) -> int:
    """Echoes until end of stream (or ``idle_timeout`` seconds of silence); returns bytes."""
    buf = bytearray(65536)
    view = memoryview(buf)
    total = 0
    with conn:
        while True:
            try:
                n = await aio.sock_recv_into(conn, buf, timeout=idle_timeout)
            except (TimeoutError, ConnectionResetError):
                break
            if n == 0:
                break
            await aio.sock_sendall(conn, view[:n])
            total += n
    return total


async def serve(listener: socket.socket, connections: int, idle_timeout: float) -> int:
    """Accepts and serves connections; returns after ``connections`` (0: forever)."""
    served = 0
    handlers: set[asyncio.Task[int]] = set()
    try:
        while connections == 0 or served < connections:
            conn, _address = await aio.sock_accept(listener)
            served += 1
            task = asyncio.ensure_future(echo(conn, idle_timeout))
            handlers.add(task)
            task.add_done_callback(handlers.discard)
        if handlers:
            await asyncio.gather(*handlers)
    finally:
        for task in handlers:
            task.cancel()
    return served


def listen(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    listener.setblocking(False)
    return listener


async def client(address: tuple[str, int], size: int) -> None:
    payload = os.urandom(size)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    with sock:
        await aio.sock_connect(sock, address, timeout=5)
        sending = asyncio.ensure_future(aio.sock_sendall(sock, payload, timeout=10))
        got = bytearray()
        while len(got) < size:
            chunk = await aio.sock_recv(sock, 65536, timeout=10)
            if not chunk:
                break
            got += chunk
        await sending
    if got != payload:
        raise AssertionError(f"echo mismatch: sent {size} bytes, got {len(got)} back")


async def selftest(clients: int, size: int) -> int:
    listener = listen("127.0.0.1", 0)
    address = listener.getsockname()
    with listener:
        start = time.perf_counter()
        server = asyncio.ensure_future(serve(listener, clients, idle_timeout=10))
        await asyncio.gather(*(client(address, size) for _ in range(clients)))
        served = await asyncio.wait_for(server, 10)
        elapsed = time.perf_counter() - start
    print(f"selftest ok: {served} clients echoed {size} bytes each in {elapsed * 1e3:.1f} ms")
    return 0


async def run_server(host: str, port: int, connections: int) -> int:
    listener = listen(host, port)
    with listener:
        print(f"echo server on {listener.getsockname()}", flush=True)
        served = await serve(listener, connections, idle_timeout=300)
    print(f"served {served} connections")
    return 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8007)
    parser.add_argument(
        "--connections", type=int, default=0, help="serve N, then exit (0: forever)"
    )
    parser.add_argument("--selftest", action="store_true", help="run clients against a server")
    parser.add_argument("--clients", type=int, default=20, help="selftest clients (20)")
    parser.add_argument("--size", type=int, default=256 * 1024, help="bytes per client (256 KiB)")
    args = parser.parse_args(argv)
    try:
        if args.selftest:
            return asyncio.run(selftest(args.clients, args.size))
        return asyncio.run(run_server(args.host, args.port, args.connections))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
