"""Read every file under a directory with uring_rs.read_files, and compare with a loop.

    python examples/read_many.py DIR [--max-in-flight N] [--compare]

Prints the file count, total bytes and the time ``read_files`` took; paths that could
not be read are listed (``return_exceptions=True``). ``--compare`` also times a plain
``Path.read_bytes`` loop over the same files and checks both read the same bytes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import uring_rs


def main(root: Path, max_in_flight: int, compare: bool) -> int:
    paths = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    start = time.perf_counter()
    results = uring_rs.read_files(paths, max_in_flight=max_in_flight, return_exceptions=True)
    elapsed = time.perf_counter() - start
    failed = [(p, r) for p, r in zip(paths, results) if isinstance(r, OSError)]
    total = sum(len(r) for r in results if isinstance(r, bytes))
    for path, err in failed:
        print(f"{path}: {type(err).__name__}: {err.strerror}", file=sys.stderr)
    print(f"read_files: {len(paths) - len(failed)} files, {total} bytes in {elapsed * 1e3:.1f} ms")
    if compare:
        start = time.perf_counter()
        baseline: list[bytes | OSError] = []
        for p in paths:
            try:
                baseline.append(p.read_bytes())
            except OSError as e:
                baseline.append(e)
        loop_time = time.perf_counter() - start
        same = all(
            (a == b) if isinstance(a, bytes) else type(a) is type(b)
            for a, b in zip(results, baseline)
        )
        print(f"Path.read_bytes loop: {loop_time * 1e3:.1f} ms ({loop_time / elapsed:.2f}x)")
        print("identical" if same else "DIFFERENT")
        if not same:
            return 2
    return 1 if failed else 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", type=Path, help="directory to read")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--compare", action="store_true", help="also time a read_bytes loop")
    args = parser.parse_args(argv)
    return main(args.root, args.max_in_flight, args.compare)


if __name__ == "__main__":
    sys.exit(cli())
