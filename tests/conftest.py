"""Shared fixtures: real rings, real files, real sockets."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import _support
import pytest
from hypothesis import HealthCheck, settings
from uring_rs import Ring

# Hypothesis profiles: "ci" (the default) keeps the fuzzers to a few seconds;
# HYPOTHESIS_PROFILE=long is the soak run RELIABILITY.md records. The thread and
# leak tests read the same variable for their durations.
_base = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", _base, max_examples=100, stateful_step_count=50)
settings.register_profile("long", _base, max_examples=3000, stateful_step_count=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected socketpair, closed afterwards."""
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


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


@pytest.fixture(params=_support.AIO_LOOPS)
def aio_loop(request: pytest.FixtureRequest) -> Iterator[str]:
    """Parametrizes a test over asyncio's loop and uring_rs.Loop, for ``_support.aio_run``."""
    _support._aio_loop[0] = request.param
    yield request.param
    _support._aio_loop[0] = "asyncio"


@pytest.fixture(params=["direct", "plain"])
def descriptors(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """read_files' two ways: direct descriptors (a fixed-file table, where the kernel has
    IORING_FEAT_LINKED_FILE) and plain ones (older kernels), the second selected with the
    module's own switch so that both are exercised here."""
    import uring_rs.files
    from uring_rs import _native

    if request.param == "direct" and not _native._read_files_direct():
        pytest.skip("no IORING_FEAT_LINKED_FILE (Linux 5.18): read_files uses plain fds")
    monkeypatch.setattr(uring_rs.files, "_READ_DIRECT", request.param == "direct")
    return str(request.param)
