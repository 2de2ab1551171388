"""An echo server with asyncio streams, on uring_rs.Loop.

    python examples/loop_echo_streams.py [--port PORT] [--clients N] [--messages M]

Starts the server, then N clients that each send M lines and check every echo, prints a
summary and exits. With --serve it only serves (Ctrl-C to stop), e.g. for ``nc``.
The same program runs on asyncio's own loop: only ``uring_rs.run`` differs.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uring_rs


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def client(port: int, messages: int, ident: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(messages):
        line = f"client {ident} message {i}\n".encode()
        writer.write(line)
        await writer.drain()
        if await reader.readline() != line:
            raise RuntimeError(f"client {ident}: wrong echo for message {i}")
    writer.close()
    await writer.wait_closed()
    return messages


async def main(args: argparse.Namespace) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    async with server:
        if args.serve:
            print(f"echo server on 127.0.0.1:{port} ({type(asyncio.get_running_loop()).__name__})")
            await server.serve_forever()
            return
        start = time.perf_counter()
        done = await asyncio.gather(*(client(port, args.messages, i) for i in range(args.clients)))
        elapsed = time.perf_counter() - start
    loop_name = type(asyncio.get_running_loop()).__name__
    print(f"{sum(done)} echoes from {args.clients} clients in {elapsed:.3f} s on {loop_name}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--serve", action="store_true", help="serve until Ctrl-C")
    uring_rs.run(main(p.parse_args()))
