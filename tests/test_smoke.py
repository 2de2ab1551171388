"""The API.md example, end to end."""

from __future__ import annotations

import os
from pathlib import Path

from uring_rs import Ring, ops


def test_api_md_example_reads_4096_bytes(data_file: Path) -> None:
    with Ring(64) as ring:
        fd = os.open(data_file, os.O_RDONLY)
        try:
            buf = bytearray(4096)
            ops.read(ring, 7, fd, buf, 0)
            ring.submit(wait_nr=1)
            (cqe,) = ring.copy_cqes()
            assert cqe.user_data == 7 and cqe.result() == 4096
            assert bytes(buf) == data_file.read_bytes()[:4096]
        finally:
            os.close(fd)
