"""Read files concurrently with uring_rs.aio: byte and line counts and a SHA-256 per file.

    python examples/aio_read_files.py FILE [FILE ...] [--concurrency N] [--text]

Every file is opened, read and closed on the running loop's shared ring; at most
``--concurrency`` files are in flight. ``--text`` reads in text mode, line by line
(``async for line in f``), instead of in one binary read.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time

from uring_rs import aio


async def summarize(path: str, text: bool) -> tuple[int, int, str]:
    """(bytes, lines, sha256) of one file."""
    if text:
        digest = hashlib.sha256()
        size = lines = 0
        async with aio.open(path, "r", encoding="utf-8", errors="surrogateescape", newline="") as f:
            async for line in f:
                data = line.encode("utf-8", "surrogateescape")
                digest.update(data)
                size += len(data)
                lines += 1
        return size, lines, digest.hexdigest()
    data = await aio.read_bytes(path)
    return len(data), data.count(b"\n"), hashlib.sha256(data).hexdigest()


async def main(paths: list[str], concurrency: int, text: bool) -> int:
    limit = asyncio.Semaphore(concurrency)

    async def one(path: str) -> tuple[str, tuple[int, int, str] | OSError]:
        async with limit:
            try:
                return path, await summarize(path, text)
            except OSError as e:
                return path, e

    start = time.perf_counter()
    results = await asyncio.gather(*(one(p) for p in paths))
    elapsed = time.perf_counter() - start
    failed = 0
    total = 0
    for path, result in results:
        if isinstance(result, OSError):
            failed += 1
            print(f"{path}: error: {result}", file=sys.stderr)
        else:
            size, lines, digest = result
            total += size
            print(f"{digest[:16]}  {size:>10}  {lines:>8}  {path}")
    print(
        f"{len(paths) - failed} files, {total} bytes in {elapsed * 1e3:.1f} ms",
        file=sys.stderr,
    )
    return 1 if failed else 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("paths", nargs="+", help="files to read")
    parser.add_argument("--concurrency", type=int, default=100, help="files in flight (100)")
    parser.add_argument("--text", action="store_true", help="read line by line in text mode")
    args = parser.parse_args(argv)
    return asyncio.run(main(args.paths, args.concurrency, args.text))


if __name__ == "__main__":
    sys.exit(cli())
