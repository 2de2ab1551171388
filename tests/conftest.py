"""Shared fixtures: real rings, real files, real sockets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from uring_rs import Ring


@pytest.fixture
def ring() -> Iterator[Ring]:
    with Ring(64) as r:
        yield r


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """A 64 KiB file of known bytes: byte i is i % 251."""
    p = tmp_path / "data.bin"
    p.write_bytes(bytes(i % 251 for i in range(65536)))
    return p


@pytest.fixture
def rfd(data_file: Path) -> Iterator[int]:
    fd = os.open(data_file, os.O_RDONLY)
    yield fd
    os.close(fd)
