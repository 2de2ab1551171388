"""Checks that loadgen.c catches every kind of wrong echo: run it against faulty servers.

    python bench/loop/check_loadgen.py

Builds loadgen (as run.py does) and runs it against echo servers (asyncio protocols in a
thread of this process) that each break the echo in one way after a while: a flipped
bit, one connection's bytes sent back on another, a message echoed twice, a message
swallowed (a hang), an early close, the two halves of a chunk swapped. Each must make
loadgen exit 1 with the matching message; a correct server,
with 1 and 50 connections and 64 B and 64 KiB messages, must pass. Exits 1 on any
mismatch. About 30 s (the hang case waits for the stall timeout).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/loop/run.py: the build step and paths

AFTER = 200  # chunks received before a faulty server misbehaves


class Faulty(asyncio.Protocol):
    fault = "none"
    conns: ClassVar[list[Faulty]] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.chunks = 0
        Faulty.conns.append(self)

    def data_received(self, data: bytes) -> None:
        self.chunks += 1
        fire = self.chunks == AFTER
        if fire and self.fault == "flip":
            data = bytes([data[0] ^ 0x10]) + data[1:]
        elif fire and self.fault == "cross":
            other = next(c for c in Faulty.conns if c is not self and not c.transport.is_closing())
            other.transport.write(data)
            return
        elif fire and self.fault == "twice":
            self.transport.write(data)
        elif fire and self.fault == "swallow":
            return
        elif fire and self.fault == "close":
            self.transport.close()
            return
        elif fire and self.fault == "reorder":
            half = len(data) // 2  # the right bytes, in the wrong order
            data = data[half:] + data[:half]
        self.transport.write(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self in Faulty.conns:
            Faulty.conns.remove(self)


def serve(fault: str) -> tuple[int, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []

    def main() -> None:
        asyncio.set_event_loop(loop)

        def factory() -> Faulty:
            p = Faulty()
            p.fault = fault
            return p

        srv = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0, backlog=1024))
        port.append(srv.sockets[0].getsockname()[1])
        started.set()
        loop.run_forever()
        srv.close()

    threading.Thread(target=main, daemon=True).start()
    started.wait()
    return port[0], loop


CASES = [
    # fault, connections, size, expected (None: must pass), substring of stderr
    ("none", 1, 64, None),
    ("none", 50, 64, None),
    ("none", 50, 65536, None),
    ("flip", 50, 64, "wrong echo"),
    ("flip", 1, 65536, "wrong echo"),
    ("cross", 50, 64, "wrong echo"),
    ("twice", 50, 64, "more than it sent"),
    ("swallow", 50, 64, "stalled"),
    ("close", 50, 64, "closed connection"),
    ("reorder", 1, 64, "wrong echo"),
    ("reorder", 50, 65536, "wrong echo"),
]


def main() -> int:
    built = run.build_c()
    if built["loadgen"] is not None:
        print(f"cannot build loadgen: {built['loadgen']}")
        return 1
    bad = 0
    for fault, n, size, want in CASES:
        Faulty.conns = []
        port, loop = serve(fault)
        cmd = run.loadgen_cmd(port, None, n, size, 0.2, 1.0)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        err = r.stderr.strip()
        ok = r.returncode == 0 if want is None else (r.returncode == 1 and want in err)
        bad += not ok
        print(
            f"{'ok  ' if ok else 'FAIL'} {fault:8} {n:3} x {size:6}: exit {r.returncode}"
            f"{': ' + err.splitlines()[0] if err else ''}"
        )
    print("all caught" if not bad else f"{bad} case(s) not as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
