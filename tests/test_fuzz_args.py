"""Argument fuzzing: every public function and method, with wrong types, out-of-range
ints and every kind of buffer.

The contract (API.md: "Nothing in this API can crash the interpreter, whatever the
arguments"): a bad argument raises TypeError, ValueError, OverflowError, BufferError
or UringError, with a message, and queues nothing (``sq_ready()`` and ``in_flight``
unchanged). A full SQ raises SUBMISSION_QUEUE_FULL and changes nothing either.
"""

from __future__ import annotations

import array
import contextlib
import math
import mmap
import os
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uring_rs
from _support import reap
from hypothesis import given
from hypothesis import strategies as st
from uring_rs import BufferRing, Cqe, IoUringError, Ring, UringError, ops

try:
    import numpy as np
except ImportError:  # pragma: no cover - depends on the environment
    np = None  # type: ignore[assignment]

ALLOWED = (TypeError, ValueError, OverflowError, BufferError, UringError)


class StrFileno:
    def fileno(self) -> str:
        return "three"


class HugeFileno:
    def fileno(self) -> int:
        return 2**40


# Values that must be refused, by the kind of argument.
NOT_INT: list[object] = ["1", 1.5, b"1", object(), [1], 1j]
BAD: dict[str, list[object]] = {
    "u64": [*NOT_INT, None, -1, 2**64, 10**30],
    # u32 checked by the library (an i64 in the Rust signature), and u32 typed as
    # such in the Rust signature (converted by PyO3).
    "u32": [*NOT_INT, None, -1, 2**32, 2**63, 2**64, -(2**63) - 1],
    "pu32": [*NOT_INT, None, -1, 2**32, 2**64],
    "u16": [*NOT_INT, None, -1, 2**16, 2**64],
    "i32": [*NOT_INT, None, 2**31, -(2**31) - 1, 2**64],
    "usize": [*NOT_INT, None, -1, 2**64, 10**30],
    "opt_usize": [*NOT_INT, -1, 2**64],
    "opt_count": [*NOT_INT, -1, 2**64],
    "fd": ["3", 1.5, None, object(), 2**31, -(2**31) - 1, 2**64, StrFileno(), HugeFileno()],
    "offset": [*NOT_INT, None, -2, -(2**63) - 1, 2**63, 2**64],
    "seconds": ["1", None, b"1", 1j, -1, -0.5, math.nan, math.inf, -math.inf, 2**63, 10**30, 1e300],
    "opt_seconds": ["1", b"1", 1j, -1, -0.5, math.nan, math.inf, -math.inf, 1e300],
    "path": [None, 1, 1.5, object(), "a\0b", b"a\0b"],
    "wbuf": ["text", None, 1, b"read-only", iter(bytearray(b"x"))],
    "rbuf": ["text", None, 1, 1.5, object()],
    "address": [
        None,
        1,
        "x",
        (),
        ("127.0.0.1",),
        ("127.0.0.1", 2**16),
        ("127.0.0.1", -1),
        ("127.0.0.1", "80"),
        ("localhost", 80),
        (1, 2),
        ("127.0.0.1", 80, 0, 0, 0),
    ],
    "ring": [None, 1, "ring", object()],
    "iter_fd": [None, 1, [None], ["x"], [2**31], [1.5]],
    "bufs": [None, 1, [b"read-only"], ["text"], [bytearray(0)], [], [None]],
    "cqe": [None, 1, (1, 2, 3), object()],
    "offsets": [None, 1, [-2], [2**63], ["x"], [1.5], array.array("d", [1.0])],
    # Kinds for the file, network, futex and waitid ops, whose C types vary: values no
    # C integer, offset or buffer list of any width can take.
    "uint": [*NOT_INT, None, -1, 2**64],
    "int_any": [*NOT_INT, None, 2**64, -(2**64)],
    "off_any": [*NOT_INT, None, -2, 2**64],
    "wbufs": [None, 1, "text", [b"read-only"], ["text"], [None], [1]],
    "rbufs": [None, 1, "text", ["text"], [None], [1]],
    "out_obj": [1, "x", b"read-only", object()],  # Statx/MsgHdr/Siginfo arguments
    "opt_address": [1, (), ("127.0.0.1",), ("localhost", 80)],  # (the socket is AF_UNIX)
    "entries": [*NOT_INT, -1, 0, 3, 32769, 2**64],
    "opt_u32": [*NOT_INT, -1, 2**32, 2**64],
    "i64": [*NOT_INT, None, 2**63, 2**64],
}
# The subset whose errors come from the library's own checks (src/args.rs, addr.rs),
# not from PyO3's integer conversion: their messages must name the argument.
NAMED: dict[str, list[object]] = {
    "ring": [None, 1, "ring", object()],
    "fd": ["3", 1.5, None, object(), 2**31, -(2**31) - 1, 2**64],
    "offset": [-2, -(2**62)],
    "seconds": BAD["seconds"],
    "path": [None, 1, 1.5, object(), "a\0b"],
    "u32": [-1, 2**32],
    "uint": [-1],
    "off_any": [-2],
}
# Ints past 64 bits, refused before the library sees them: the message should still
# name the argument.
HUGE = {"u32", "uint", "off_any", "int_any", "offset", "u64", "pu32", "u16", "usize", "i32"}


@dataclass
class Env:
    ring: Ring
    other: Ring
    data_fd: int
    out_fd: int
    sock: socket.socket
    peer: socket.socket
    listener: socket.socket
    tcp: socket.socket
    path: str


@contextlib.contextmanager
def make_env(tmp_path: Path) -> Iterator[Env]:
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 16)
    data_fd = os.open(data, os.O_RDONLY)
    out_fd = os.open(tmp_path / "out.bin", os.O_RDWR | os.O_CREAT)
    a, b = socket.socketpair()
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen()
    tcp = socket.socket()
    with Ring(8) as ring, Ring(8) as other:
        ring.register_buffers([bytearray(64)])
        yield Env(ring, other, data_fd, out_fd, a, b, lst, tcp, str(data))
    for s in (a, b, lst, tcp):
        s.close()
    os.close(data_fd)
    os.close(out_fd)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with make_env(tmp_path) as e:
        yield e


@dataclass(frozen=True)
class Api:
    """A public callable: its valid arguments (a function of the Env) and the kind of
    each argument fuzzed (a key of BAD). Arguments whose accepted values could block
    or allocate without bound are listed in UNSAFE and get only refused values."""

    name: str
    call: Callable[..., object]
    valid: Callable[[Env], dict[str, object]]
    kinds: dict[str, str]


def _op(name: str, valid: Callable[[Env], dict[str, object]], kinds: dict[str, str]) -> Api:
    fn = getattr(ops, name)
    full = {"ring": "ring", "user_data": "u64", **kinds}
    return Api(f"ops.{name}", fn, lambda e: {"ring": e.ring, "user_data": 1, **valid(e)}, full)


OPS: list[Api] = [
    _op("nop", lambda e: {}, {}),
    _op(
        "read",
        lambda e: {"fd": e.data_fd, "buf": bytearray(16), "offset": 0},
        {"fd": "fd", "buf": "wbuf", "offset": "offset"},
    ),
    _op(
        "write",
        lambda e: {"fd": e.out_fd, "buf": b"abc", "offset": 0},
        {"fd": "fd", "buf": "rbuf", "offset": "offset"},
    ),
    _op("fsync", lambda e: {"fd": e.out_fd, "flags": 0}, {"fd": "fd", "flags": "u32"}),
    _op("accept", lambda e: {"sockfd": e.listener, "flags": 0}, {"sockfd": "fd", "flags": "u32"}),
    _op(
        "connect",
        lambda e: {"sockfd": e.tcp, "address": ("127.0.0.1", 1)},
        {"sockfd": "fd", "address": "address"},
    ),
    _op(
        "recv",
        lambda e: {"sockfd": e.sock, "buf": bytearray(8), "flags": socket.MSG_DONTWAIT},
        {"sockfd": "fd", "buf": "wbuf", "flags": "u32"},
    ),
    _op(
        "send",
        lambda e: {"sockfd": e.sock, "buf": b"x", "flags": 0},
        {"sockfd": "fd", "buf": "rbuf", "flags": "u32"},
    ),
    _op(
        "openat",
        lambda e: {"dirfd": uring_rs.AT_FDCWD, "path": e.path + ".missing", "flags": 0, "mode": 0},
        {"dirfd": "fd", "path": "path", "flags": "u32", "mode": "u32"},
    ),
    _op("close", lambda e: {"fd": 1_000_000}, {"fd": "fd"}),
    _op(
        "timeout",
        lambda e: {"seconds": 0, "count": 0, "flags": 0},
        {"seconds": "seconds", "count": "u32", "flags": "u32"},
    ),
    _op(
        "timeout_remove",
        lambda e: {"timeout_user_data": 5, "flags": 0},
        {"timeout_user_data": "u64", "flags": "u32"},
    ),
    _op(
        "link_timeout", lambda e: {"seconds": 0, "flags": 0}, {"seconds": "seconds", "flags": "u32"}
    ),
    _op(
        "poll_add",
        lambda e: {"fd": e.sock, "events": select.POLLOUT, "flags": 0},
        {"fd": "fd", "events": "u32", "flags": "u32"},
    ),
    _op("poll_remove", lambda e: {"target_user_data": 5}, {"target_user_data": "u64"}),
    _op(
        "read_fixed",
        lambda e: {"fd": e.data_fd, "buf_index": 0, "offset": 0, "nbytes": 8, "buf_offset": 0},
        {
            "fd": "fd",
            "buf_index": "u16",
            "offset": "offset",
            "nbytes": "opt_usize",
            "buf_offset": "usize",
        },
    ),
    _op(
        "write_fixed",
        lambda e: {"fd": e.out_fd, "buf_index": 0, "offset": 0, "nbytes": 8, "buf_offset": 0},
        {
            "fd": "fd",
            "buf_index": "u16",
            "offset": "offset",
            "nbytes": "opt_usize",
            "buf_offset": "usize",
        },
    ),
    _op(
        "accept_multishot",
        lambda e: {"sockfd": e.listener, "flags": 0},
        {"sockfd": "fd", "flags": "u32"},
    ),
    _op(
        "recv_multishot",
        lambda e: {"sockfd": e.sock, "buf_group": 3, "flags": 0},
        {"sockfd": "fd", "buf_group": "u16", "flags": "u32"},
    ),
    _op(
        "provide_buffers",
        lambda e: {"buf": bytearray(64), "size": 16, "count": 4, "group_id": 1, "start_id": 0},
        {"buf": "wbuf", "size": "pu32", "count": "pu32", "group_id": "u16", "start_id": "u16"},
    ),
    _op(
        "remove_buffers",
        lambda e: {"count": 1, "group_id": 1},
        {"count": "pu32", "group_id": "u16"},
    ),
    _op(
        "poll_update",
        lambda e: {"old_user_data": 5, "new_user_data": 6, "events": 0, "flags": 0},
        {"old_user_data": "u64", "new_user_data": "u64", "events": "u32", "flags": "u32"},
    ),
    _op(
        "timeout_update",
        lambda e: {"timeout_user_data": 5, "seconds": 1, "flags": 0},
        {"timeout_user_data": "u64", "seconds": "seconds", "flags": "u32"},
    ),
    _op(
        "msg_ring",
        lambda e: {"target": e.other, "res": 7, "target_user_data": 9, "flags": 0},
        {"target": "fd", "res": "i32", "target_user_data": "u64", "flags": "u32"},
    ),
    _op(
        "cancel",
        lambda e: {"target_user_data": 5, "flags": 0},
        {"target_user_data": "u64", "flags": "u32"},
    ),
    _op("cancel_fd", lambda e: {"fd": e.sock, "flags": 0}, {"fd": "fd", "flags": "u32"}),
    _op(
        "read_many",
        lambda e: {"fd": e.data_fd, "buf": bytearray(16), "offsets": [0, 8], "size": 8},
        {"fd": "fd", "buf": "wbuf", "offsets": "offsets", "size": "usize"},
    ),
    _op(
        "write_many",
        lambda e: {"fd": e.out_fd, "buf": b"x" * 16, "offsets": [0, 8], "size": 8},
        {"fd": "fd", "buf": "rbuf", "offsets": "offsets", "size": "usize"},
    ),
    _op("nop_many", lambda e: {"count": 2}, {"count": "pu32"}),
    # File, network, futex and waitid ops.
    _op(
        "readv",
        lambda e: {
            "fd": e.data_fd,
            "buffers": [bytearray(8), bytearray(8)],
            "offset": 0,
            "flags": 0,
        },
        {"fd": "fd", "buffers": "wbufs", "offset": "offset", "flags": "uint"},
    ),
    _op(
        "writev",
        lambda e: {"fd": e.out_fd, "buffers": [b"ab", b"cd"], "offset": 0, "flags": 0},
        {"fd": "fd", "buffers": "rbufs", "offset": "offset", "flags": "uint"},
    ),
    _op(
        "statx",
        lambda e: {
            "dirfd": uring_rs.AT_FDCWD,
            "path": e.path,
            "flags": 0,
            "mask": 0x7FF,
            "statxbuf": uring_rs.Statx(),
        },
        {"dirfd": "fd", "path": "path", "flags": "uint", "mask": "uint", "statxbuf": "out_obj"},
    ),
    _op(
        "fallocate",
        lambda e: {"fd": e.out_fd, "mode": 0, "offset": 0, "length": 16},
        {"fd": "fd", "mode": "int_any", "offset": "off_any", "length": "uint"},
    ),
    _op(
        "fadvise",
        lambda e: {"fd": e.data_fd, "offset": 0, "length": 16, "advice": 0},
        {"fd": "fd", "offset": "off_any", "length": "uint", "advice": "int_any"},
    ),
    _op(
        "madvise",
        lambda e: {"buf": mmap.mmap(-1, 4096), "advice": 0},
        {"buf": "rbuf", "advice": "int_any"},
    ),
    _op("ftruncate", lambda e: {"fd": e.out_fd, "length": 0}, {"fd": "fd", "length": "uint"}),
    _op(
        "sync_file_range",
        lambda e: {"fd": e.out_fd, "offset": 0, "nbytes": 0, "flags": 0},
        {"fd": "fd", "offset": "off_any", "nbytes": "uint", "flags": "uint"},
    ),
    _op(
        "unlinkat",
        lambda e: {"dirfd": uring_rs.AT_FDCWD, "path": e.path + ".missing", "flags": 0},
        {"dirfd": "fd", "path": "path", "flags": "uint"},
    ),
    _op(
        "renameat",
        lambda e: {
            "olddirfd": uring_rs.AT_FDCWD,
            "oldpath": e.path + ".missing",
            "newdirfd": uring_rs.AT_FDCWD,
            "newpath": e.path + ".new",
            "flags": 0,
        },
        {"olddirfd": "fd", "oldpath": "path", "newdirfd": "fd", "newpath": "path", "flags": "uint"},
    ),
    _op(
        "mkdirat",
        lambda e: {"dirfd": uring_rs.AT_FDCWD, "path": e.path + ".dir", "mode": 0o700},
        {"dirfd": "fd", "path": "path", "mode": "uint"},
    ),
    _op(
        "symlinkat",
        lambda e: {"target": "x", "newdirfd": uring_rs.AT_FDCWD, "linkpath": e.path + ".lnk"},
        {"target": "path", "newdirfd": "fd", "linkpath": "path"},
    ),
    _op(
        "linkat",
        lambda e: {
            "olddirfd": uring_rs.AT_FDCWD,
            "oldpath": e.path + ".missing",
            "newdirfd": uring_rs.AT_FDCWD,
            "newpath": e.path + ".hard",
            "flags": 0,
        },
        {"olddirfd": "fd", "oldpath": "path", "newdirfd": "fd", "newpath": "path", "flags": "uint"},
    ),
    _op(
        "openat2",
        lambda e: {
            "dirfd": uring_rs.AT_FDCWD,
            "path": e.path + ".missing",
            "flags": 0,
            "mode": 0,
            "resolve": 0,
        },
        {"dirfd": "fd", "path": "path", "flags": "uint", "mode": "uint", "resolve": "uint"},
    ),
    _op("close_fixed", lambda e: {"file_index": 0}, {"file_index": "uint"}),
    _op(
        "files_update",
        lambda e: {"fds": [e.data_fd], "offset": 0},
        {"fds": "iter_fd", "offset": "uint"},
    ),
    _op(
        "splice",
        lambda e: {
            "fd_in": e.data_fd,
            "off_in": 0,
            "fd_out": e.out_fd,
            "off_out": -1,
            "nbytes": 4,
            "flags": 0,
        },
        {
            "fd_in": "fd",
            "off_in": "off_any",
            "fd_out": "fd",
            "off_out": "off_any",
            "nbytes": "uint",
            "flags": "uint",
        },
    ),
    _op(
        "tee",
        lambda e: {"fd_in": e.data_fd, "fd_out": e.out_fd, "nbytes": 4, "flags": 0},
        {"fd_in": "fd", "fd_out": "fd", "nbytes": "uint", "flags": "uint"},
    ),
    _op(
        "socket",
        lambda e: {"domain": socket.AF_UNIX, "type": socket.SOCK_STREAM, "protocol": 0, "flags": 0},
        {"domain": "int_any", "type": "int_any", "protocol": "int_any", "flags": "uint"},
    ),
    _op(
        "shutdown",
        lambda e: {"sockfd": e.tcp, "how": socket.SHUT_RDWR},
        {"sockfd": "fd", "how": "int_any"},
    ),
    _op(
        "sendmsg",
        lambda e: {"sockfd": e.sock, "buffers": [b"x"], "address": None, "flags": 0},
        {"sockfd": "fd", "buffers": "rbufs", "address": "opt_address", "flags": "uint"},
    ),
    _op(
        "sendmsg_zc",
        lambda e: {"sockfd": e.sock, "buffers": [b"x"], "address": None, "flags": 0},
        {"sockfd": "fd", "buffers": "rbufs", "address": "opt_address", "flags": "uint"},
    ),
    _op(
        "recvmsg",
        lambda e: {
            "sockfd": e.sock,
            "buffers": [bytearray(8)],
            "flags": socket.MSG_DONTWAIT,
            "msg": uring_rs.MsgHdr(64),
        },
        {"sockfd": "fd", "buffers": "wbufs", "flags": "uint", "msg": "out_obj"},
    ),
    _op(
        "send_zc",
        lambda e: {"sockfd": e.sock, "buf": b"x", "flags": 0, "zc_flags": 0},
        {"sockfd": "fd", "buf": "rbuf", "flags": "uint", "zc_flags": "uint"},
    ),
    _op(
        "bind",
        lambda e: {"sockfd": e.tcp, "address": ("127.0.0.1", 0)},
        {"sockfd": "fd", "address": "address"},
    ),
    _op(
        "listen", lambda e: {"sockfd": e.tcp, "backlog": 1}, {"sockfd": "fd", "backlog": "int_any"}
    ),
    _op(
        "waitid",
        lambda e: {
            "idtype": os.P_PID,
            "id": 1,
            "options": os.WEXITED | os.WNOHANG,
            "infop": uring_rs.Siginfo(),
        },
        {"idtype": "int_any", "id": "int_any", "options": "int_any", "infop": "out_obj"},
    ),
    _op(
        "futex_wait",
        lambda e: {"buf": bytearray(8), "offset": 0, "val": 1},
        {"buf": "rbuf", "offset": "uint", "val": "uint"},
    ),
    _op(
        "futex_wake",
        lambda e: {"buf": bytearray(8), "offset": 0, "val": 1},
        {"buf": "rbuf", "offset": "uint", "val": "uint"},
    ),
]


def _method(name: str, valid: Callable[[Env], dict[str, object]], kinds: dict[str, str]) -> Api:
    return Api(
        f"Ring.{name}",
        lambda ring, **kw: getattr(ring, name)(**kw),
        lambda e: {"ring": e.ring, **valid(e)},
        kinds,
    )


METHODS: list[Api] = [
    _method("submit", lambda e: {"wait_nr": 0}, {"wait_nr": "u32"}),
    _method(
        "enter",
        lambda e: {"to_submit": 0, "min_complete": 0, "flags": 0},
        {"to_submit": "u32", "min_complete": "u32", "flags": "u32"},
    ),
    _method(
        "copy_cqes",
        lambda e: {"wait_nr": 1, "max": None, "timeout": 0.001},
        {"wait_nr": "u32", "max": "opt_count", "timeout": "opt_seconds"},
    ),
    _method(
        "copy_cqes_into",
        lambda e: {
            "user_data": array.array("Q", [0, 0]),
            "res": array.array("i", [0, 0]),
            "flags": None,
            "wait_nr": 0,
            "timeout": None,
        },
        {"user_data": "rbuf", "res": "rbuf", "wait_nr": "u32", "timeout": "opt_seconds"},
    ),
    _method("peek_cqes", lambda e: {"max": None}, {"max": "opt_count"}),
    _method("cq_advance", lambda e: {"count": 0}, {"count": "u32"}),
    _method("register_eventfd", lambda e: {"fd": e.sock}, {"fd": "fd"}),
    _method("register_eventfd_async", lambda e: {"fd": e.sock}, {"fd": "fd"}),
    _method("register_files", lambda e: {"fds": [e.data_fd]}, {"fds": "iter_fd"}),
    _method("register_files_sparse", lambda e: {"count": 4}, {"count": "u32"}),
    _method(
        "register_files_update",
        lambda e: {"offset": 0, "fds": [e.data_fd]},
        {"offset": "u32", "fds": "iter_fd"},
    ),
    _method("register_buffers", lambda e: {"buffers": [bytearray(8)]}, {"buffers": "bufs"}),
]
OTHERS: list[Api] = [
    Api(
        "Ring",
        Ring,
        lambda e: {"entries": 4, "flags": 0, "sq_thread_idle": 10, "cq_entries": 8},
        {"entries": "entries", "flags": "u32", "sq_thread_idle": "u32", "cq_entries": "opt_u32"},
    ),
    Api(
        "Cqe",
        Cqe,
        lambda e: {"user_data": 1, "res": 0, "flags": 0},
        {"user_data": "u64", "res": "i32", "flags": "u32"},
    ),
    Api(
        "BufferRing",
        BufferRing,
        lambda e: {"ring": e.ring, "group_id": 1, "count": 4, "size": 16},
        {"ring": "ring", "group_id": "u16", "count": "u32", "size": "u32"},
    ),
    Api(
        "Probe.supports",
        lambda ring, opcode: ring.probe().supports(opcode),
        lambda e: {"ring": e.ring, "opcode": 0},
        {"opcode": "i64"},
    ),
]
ALL = OPS + METHODS + OTHERS


def snapshot(env: Env) -> tuple[int, int, int, int]:
    return env.ring.sq_ready(), env.ring.in_flight, env.other.sq_ready(), env.other.in_flight


def settle(env: Env) -> None:
    """Submits and reaps what an accepted call queued, so the next call starts clean."""
    for r in (env.ring, env.other):
        r.submit()
        r.copy_cqes(wait_nr=1, timeout=0.001)
        r.copy_cqes()


def call_refused(api: Api, env: Env, arg: str, value: object) -> BaseException:
    """Calls `api` with `arg=value`: it must raise an allowed error and queue nothing."""
    kwargs = api.valid(env)
    kwargs[arg] = value
    before = snapshot(env)
    with pytest.raises(ALLOWED) as info:
        api.call(**kwargs)
    after = snapshot(env)
    assert after == before, f"{api.name}({arg}={value!r}) raised but changed the ring"
    assert str(info.value), f"{api.name}({arg}={value!r}) raised without a message"
    return info.value


NO_VALID_CALL = {
    "Ring.register_eventfd",
    "Ring.register_eventfd_async",
    "Ring.register_buffers",
    "Ring.register_files_update",
    "ops.socket",
}


@pytest.mark.parametrize("api", ALL, ids=lambda a: a.name)
def test_bad_arguments_raise_and_queue_nothing(api: Api, env: Env) -> None:
    for arg, kind in api.kinds.items():
        for value in BAD[kind]:
            call_refused(api, env, arg, value)
    # The valid arguments themselves are accepted (but an eventfd would be needed,
    # buffers are registered already, files are not).
    if api.name not in NO_VALID_CALL:
        out = api.call(**api.valid(env))
        if isinstance(out, Ring):
            out.close()
        settle(env)


def _message_names_argument(exc: BaseException, arg: str) -> bool:
    msg = str(exc)
    return arg in msg or (
        arg == "buf" and ("buffer" in msg or "bytes-like" in msg or "writable" in msg)
    )


@pytest.mark.parametrize("api", OPS + METHODS, ids=lambda a: a.name)
def test_messages_name_the_argument(api: Api, env: Env) -> None:
    """Where the library checks a value itself, the message names the argument."""
    vague = []
    for arg, kind in api.kinds.items():
        for value in NAMED.get(kind, []):
            exc = call_refused(api, env, arg, value)
            if not _message_names_argument(exc, arg):
                vague.append(f"{arg}={value!r}: {type(exc).__name__}: {exc}")
    assert not vague, "\n".join(vague)


def test_huge_ints_name_the_argument(env: Env) -> None:
    vague = []
    for api in OPS + METHODS:
        for arg, kind in api.kinds.items():
            if kind in HUGE:
                exc = call_refused(api, env, arg, 2**64)
                if arg not in str(exc):
                    vague.append(f"{api.name}({arg}=2**64): {exc}")
    assert not vague, f"{len(vague)} vague messages:\n" + "\n".join(vague)


def test_integer_conversion_errors_name_the_argument(env: Env) -> None:
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: ops.nop(env.ring, -1), "user_data"),
        (lambda: ops.nop(env.ring, 2**64), "user_data"),
        (lambda: ops.nop(env.ring, "1"), "user_data"),  # type: ignore[arg-type]
        (lambda: ops.read_fixed(env.ring, 1, env.data_fd, 2**16, 0), "buf_index"),
        (lambda: ops.remove_buffers(env.ring, 1, 1, -1), "group_id"),
        (lambda: env.ring.copy_cqes(max=2**64), "max"),
        (lambda: Cqe(0, 2**31, 0), "res"),
        (lambda: ops.nop_many(env.ring, 1, -1), "count"),
        (lambda: ops.read(env.ring, 1, env.data_fd, bytearray(1), 2**63), "offset"),
    ]
    vague = []
    for fn, arg in cases:
        with pytest.raises(ALLOWED) as info:
            fn()
        if arg not in str(info.value):
            vague.append(f"{arg}: {info.value}")
    assert not vague, "\n".join(vague)


def test_blocking_calls_refuse_bad_counts_without_waiting(env: Env) -> None:
    r = env.ring
    bads: list[Any] = [-1, 2**32, 2**64, "1", None, 1.5]
    for bad in bads:
        with pytest.raises(ALLOWED):
            r.submit(bad)
        with pytest.raises(ALLOWED):
            r.enter(0, bad, 0)
        with pytest.raises(ALLOWED):
            r.enter(bad, 0, 0)
    assert r.sq_ready() == 0 and r.in_flight == 0


def test_sqe_setters_refuse_bad_values(env: Env) -> None:
    sqe = ops.nop(env.ring, 1)
    cases: list[tuple[str, list[object]]] = [
        ("user_data", [-1, 2**64, "1", None, 1.5]),
        ("flags", [-1, 256, "1", None, 1.5, 2**64]),
        ("ioprio", [-1, 2**16, "1", None]),
        ("buf_group", [-1, 2**16, None]),
        ("personality", [-1, 2**16, None]),
    ]
    for attr, bad in cases:
        for value in bad:
            before = getattr(sqe, attr)
            with pytest.raises(ALLOWED):
                setattr(sqe, attr, value)
            assert getattr(sqe, attr) == before
    for unsound in (
        uring_rs.IOSQE_CQE_SKIP_SUCCESS,
        uring_rs.IOSQE_CQE_SKIP_SUCCESS | uring_rs.IOSQE_IO_DRAIN,
    ):
        with pytest.raises(ValueError, match="CQE_SKIP_SUCCESS needs IOSQE_IO_LINK"):
            sqe.flags = unsound
        assert sqe.flags == 0
    env.ring.submit()
    assert [c.user_data for c in env.ring.copy_cqes(wait_nr=1)] == [1]


def test_buffer_ring_get_refuses_foreign_completions(env: Env) -> None:
    br = BufferRing(env.ring, 2, 4, 16)
    for cqe in BAD["cqe"]:
        with pytest.raises(ALLOWED):
            br.get(cqe)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no provided buffer"):
        br.get(Cqe(1, 5, 0))
    with pytest.raises(ValueError, match="not in this ring"):
        br.get(Cqe(1, 5, uring_rs.IORING_CQE_F_BUFFER | (9 << uring_rs.IORING_CQE_BUFFER_SHIFT)))


# ------------------------------------------------------------- full SQ


@pytest.mark.parametrize("api", OPS, ids=lambda a: a.name)
def test_full_sq_refuses_and_changes_nothing(api: Api, env: Env) -> None:
    """Every op on a full SQ: SUBMISSION_QUEUE_FULL, nothing queued, nothing held."""
    ring = env.ring
    while ring.sq_space_left():
        ops.nop(ring, 0)
    kwargs = api.valid(env)
    held = [v for v in kwargs.values() if isinstance(v, (bytearray, bytes))]
    refs = [sys.getrefcount(held[i]) for i in range(len(held))]
    before = snapshot(env)
    with pytest.raises(UringError) as info:
        api.call(**kwargs)
    assert info.value.kind is IoUringError.SUBMISSION_QUEUE_FULL
    assert "submit()" in str(info.value)
    assert snapshot(env) == before
    now = [sys.getrefcount(held[i]) for i in range(len(held))]
    assert now == refs, f"{api.name} refused but kept a reference to its buffer"


def test_poll_update_on_full_sq_leaves_the_poll_alone(env: Env) -> None:
    ring = env.ring
    ops.poll_add(ring, 10, env.peer, select.POLLIN)
    ring.submit()
    while ring.sq_space_left():
        ops.nop(ring, 0)
    with pytest.raises(UringError):
        ops.poll_update(ring, 11, 10, 20, 0, uring_rs.IORING_POLL_UPDATE_USER_DATA)
    ring.submit()
    ring.copy_cqes(wait_nr=ring.sq_entries)
    env.sock.send(b"x")
    (cqe,) = ring.copy_cqes(wait_nr=1, timeout=5)
    assert cqe.user_data == 10, "a refused poll_update changed the poll's user_data"


# ------------------------------------------------------------- buffer kinds


@dataclass(frozen=True)
class Kind:
    """A buffer exporter: `make(n)` gives (the object handed to the op, a byte view
    of the n bytes the op sees, or None when the op must refuse it)."""

    name: str
    make: Callable[[int], tuple[Any, Any]]
    writable: bool
    contiguous: bool = True


def _whole(obj: Any) -> tuple[Any, Any]:
    return obj, memoryview(obj).cast("B")


def _mv_slice(n: int) -> tuple[Any, Any]:
    mv = memoryview(bytearray(n + 6))[3 : 3 + n]
    return mv, mv


def _mv_readonly(n: int) -> tuple[Any, Any]:
    b = bytearray(n)
    return memoryview(b).toreadonly(), memoryview(b)


def _mv_strided(n: int) -> tuple[Any, Any]:
    return memoryview(bytearray(2 * n))[::2], None


def _mv_2d(n: int) -> tuple[Any, Any]:
    b = bytearray(n)
    return memoryview(b).cast("B", [2, n // 2]), memoryview(b)


def _mv_uint32(n: int) -> tuple[Any, Any]:
    b = bytearray(n)
    return memoryview(b).cast("I"), memoryview(b)


def _np_readonly(n: int) -> tuple[Any, Any]:
    a: Any = np.zeros(n, np.uint8)
    a.flags.writeable = False
    return a, memoryview(a)


KINDS: list[Kind] = [
    Kind("bytes", lambda n: _whole(bytes(n)), writable=False),
    Kind("bytearray", lambda n: _whole(bytearray(n)), writable=True),
    Kind("memoryview", lambda n: _whole(memoryview(bytearray(n))), writable=True),
    Kind("memoryview-slice", _mv_slice, writable=True),
    Kind("memoryview-readonly", _mv_readonly, writable=False),
    Kind("memoryview-strided", _mv_strided, writable=True, contiguous=False),
    Kind("memoryview-2d-c", _mv_2d, writable=True),
    Kind("memoryview-uint32", _mv_uint32, writable=True),
    Kind("array-B", lambda n: _whole(array.array("B", bytes(n))), writable=True),
    Kind("array-d", lambda n: _whole(array.array("d", bytes(n))), writable=True),
    Kind("mmap", lambda n: _whole(mmap.mmap(-1, n)), writable=True),
    Kind("mmap-readonly", lambda n: _whole(mmap.mmap(-1, n, prot=mmap.PROT_READ)), writable=False),
]
if np is not None:
    KINDS += [
        Kind("numpy-uint8", lambda n: _whole(np.zeros(n, np.uint8)), writable=True),
        Kind("numpy-float64", lambda n: _whole(np.zeros(n // 8, np.float64)), writable=True),
        Kind("numpy-readonly", _np_readonly, writable=False),
        Kind(
            "numpy-strided",
            lambda n: (np.zeros(2 * n, np.uint8)[::2], None),
            writable=True,
            contiguous=False,
        ),
        Kind(
            "numpy-fortran",
            lambda n: (np.zeros((2, n // 2), np.uint8, order="F"), None),
            writable=True,
            contiguous=False,
        ),
    ]


def test_numpy_buffer_kinds_are_covered() -> None:
    if np is None:
        pytest.skip("numpy is not installed: numpy buffer kinds not tested (pip install numpy)")
    assert any(k.name.startswith("numpy") for k in KINDS)


N = 64


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_read_into_every_buffer_kind(kind: Kind, env: Env) -> None:
    """Writable C-contiguous buffers are filled exactly; the others are refused."""
    obj, view = kind.make(N)
    ring = env.ring
    if not (kind.writable and kind.contiguous):
        before = snapshot(env)
        with pytest.raises((TypeError, BufferError, ValueError)) as info:
            ops.read(ring, 1, env.data_fd, obj, 0)
        msg = str(info.value)
        assert any(w in msg for w in ("writable", "contiguous", "read-only")), msg
        assert snapshot(env) == before
        return
    ops.read(ring, 1, env.data_fd, obj, 0)
    ring.submit()
    (cqe,) = ring.copy_cqes(wait_nr=1, timeout=5)
    assert cqe.result() == N
    assert bytes(view) == bytes(range(N))
    if kind.name == "memoryview-slice":
        assert bytes(obj.obj[:3]) == b"\x00" * 3 and bytes(obj.obj[-3:]) == b"\x00" * 3


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_write_from_every_buffer_kind(kind: Kind, env: Env) -> None:
    """Any C-contiguous buffer can be written from (read-only ones too)."""
    obj, view = kind.make(N)
    ring = env.ring
    if not kind.contiguous:
        with pytest.raises((TypeError, BufferError, ValueError)):
            ops.write(ring, 1, env.out_fd, obj, 0)
        assert ring.sq_ready() == 0
        return
    if kind.writable:
        view[:] = bytes(range(100, 100 + N))
    ops.write(ring, 1, env.out_fd, obj, 0)
    ring.submit()
    (cqe,) = ring.copy_cqes(wait_nr=1, timeout=5)
    assert cqe.result() == N
    assert os.pread(env.out_fd, N, 0) == bytes(view)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_register_every_buffer_kind(kind: Kind, env: Env) -> None:
    obj, _ = kind.make(N)
    with Ring(4) as ring:
        if not (kind.writable and kind.contiguous):
            with pytest.raises(ALLOWED):
                ring.register_buffers([obj])
            return
        ring.register_buffers([obj])
        ops.read_fixed(ring, 1, env.data_fd, 0, 0)
        ring.submit()
        (cqe,) = ring.copy_cqes(wait_nr=1, timeout=5)
        assert cqe.result() == memoryview(obj).nbytes


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_batch_and_reap_arrays_of_every_kind(kind: Kind, env: Env) -> None:
    obj, view = kind.make(N)
    ring = env.ring
    if not (kind.writable and kind.contiguous):
        with pytest.raises((TypeError, BufferError, ValueError)):
            ops.read_many(ring, 10, env.data_fd, obj, [0, 32], 32)
        assert ring.sq_ready() == 0
        return
    assert ops.read_many(ring, 10, env.data_fd, obj, array.array("q", [32, 0]), 32) == 2
    ring.submit()
    ud = array.array("Q", bytes(8 * 4))
    res = array.array("i", bytes(4 * 4))
    got, deadline = 0, time.monotonic() + 5
    while got < 2 and time.monotonic() < deadline:
        got += ring.copy_cqes_into(
            memoryview(ud)[got:], memoryview(res)[got:], wait_nr=1, timeout=5
        )
    assert sorted(ud[:2]) == [10, 11] and list(res[:2]) == [32, 32]
    assert bytes(view) == bytes(range(32, 64)) + bytes(range(32))


def test_reap_arrays_refuse_wrong_kinds(env: Env) -> None:
    ring = env.ring
    good_ud, good_res = array.array("Q", [0] * 4), array.array("i", [0] * 4)
    bad_uds: list[object] = [
        array.array("q", [0] * 4),
        array.array("d", [0] * 4),
        bytes(32),
        memoryview(array.array("Q", [0] * 8))[::2],
        memoryview(bytearray(32)).cast("Q").toreadonly(),
        None,
        "x",
        [0, 0],
    ]
    bad_res: list[object] = [array.array("I", [0] * 4), array.array("i", [0] * 2), bytes(16), None]
    if np is not None:
        bad_uds += [np.zeros(4, np.int64), np.zeros(8, np.uint64)[::2]]
        ud_np: Any = np.zeros(4, np.uint64)
        ring.copy_cqes_into(ud_np, np.zeros(4, np.int32).data)  # numpy arrays work
    for ud in bad_uds:
        with pytest.raises(ALLOWED):
            ring.copy_cqes_into(ud, good_res)  # type: ignore[arg-type]
    for res in bad_res:
        with pytest.raises(ALLOWED):
            ring.copy_cqes_into(good_ud, res)  # type: ignore[arg-type]
    with pytest.raises(ALLOWED):
        ring.copy_cqes_into(good_ud, good_res, array.array("i", [0] * 4))


def test_in_flight_buffers_cannot_move_or_close(env: Env) -> None:
    """A bytearray cannot resize and an mmap cannot close while an op holds them."""
    r, w = os.pipe()
    try:
        ba = bytearray(8)
        m = mmap.mmap(-1, 4096)
        ops.read(env.ring, 1, r, ba, -1)
        ops.read(env.ring, 2, r, m, -1)
        env.ring.submit()
        with pytest.raises(BufferError):
            ba.extend(b"more")
        with pytest.raises(BufferError):
            m.close()
        os.write(w, bytes(4096 + 8))  # enough for both, whichever reads first
        got = reap(env.ring, 2)
        assert sorted(c.user_data for c in got) == [1, 2]
        ba.extend(b"more")  # released once the completions are consumed
        m.close()
    finally:
        os.close(r)
        os.close(w)


# ------------------------------------------------------------- random fuzz

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from(
        [
            0,
            1,
            -1,
            2**15,
            2**16,
            2**31 - 1,
            2**31,
            2**32 - 1,
            2**32,
            2**63 - 1,
            2**63,
            2**64 - 1,
            2**64,
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.lists(st.integers(-5, 5), max_size=3),
    st.tuples(st.text(max_size=4), st.integers(-5, 70000)),
)
# Arguments whose accepted values can block (waits) or allocate without bound.
UNSAFE = {
    ("Ring.submit", "wait_nr"),
    ("Ring.enter", "min_complete"),
    ("Ring", "entries"),
    ("Ring", "cq_entries"),
    ("BufferRing", "count"),
    ("BufferRing", "size"),
    ("Ring.register_files_sparse", "count"),
    ("Ring.copy_cqes_into", "wait_nr"),
    ("Ring.copy_cqes", "timeout"),
}  # (None: wait_nr=1 with no deadline)


@given(data=st.data())
def test_random_arguments_never_crash(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with make_env(tmp_path_factory.mktemp("fuzz")) as e:
        for _ in range(20):
            api = data.draw(st.sampled_from(ALL), label="api")
            if api.name == "ops.socket":
                continue  # each accepted call would leave a new socket fd open
            # Paths are not fuzzed at random: a random relative or absolute path with
            # O_CREAT, mkdirat or symlinkat would create it (the valid ones are in tmp).
            args = [a for a in api.kinds if (api.name, a) not in UNSAFE and api.kinds[a] != "path"]
            if not args:
                continue
            arg = data.draw(st.sampled_from(args), label="arg")
            value = data.draw(ANY_VALUE, label="value")
            if api.kinds[arg] == "fd" and isinstance(value, int) and 0 <= value < 1024:
                continue  # a real fd of this process (stdout, the test's files): not ours to close
            kwargs = api.valid(e)
            kwargs[arg] = value
            before = snapshot(e)
            try:
                out = api.call(**kwargs)
            except ALLOWED:
                assert snapshot(e) == before, (
                    f"{api.name}({arg}={value!r}) raised but changed the ring"
                )
            else:
                if isinstance(out, Ring):
                    out.close()
                if api.name == "Ring.register_files" or api.name == "Ring.register_files_sparse":
                    e.ring.unregister_files()
                if api.name in ("Ring.register_eventfd", "Ring.register_eventfd_async"):
                    e.ring.unregister_eventfd()
                settle(e)


def test_buffer_ring_get_refuses_a_completion_already_taken(env: Env) -> None:
    ring = env.ring
    br = BufferRing(ring, 4, 2, 16)
    ops.recv_multishot(ring, 1, env.peer, 4)
    ring.submit()
    env.sock.send(b"A")
    (first,) = reap(ring, 1)
    with br.get(first) as pb:
        assert bytes(pb) == b"A"
    stale_refused = False
    try:
        br.get(first).release()  # the same completion again, after its buffer went back
    except ValueError:
        stale_refused = True
    # Whatever get() said, the kernel must keep using both buffers, one per completion.
    ids: list[int] = []
    for msg in (b"B", b"C"):
        env.sock.send(msg)
        (cqe,) = reap(ring, 1)
        ids.append(-1 if cqe.buffer_id is None else cqe.buffer_id)
        with br.get(cqe) as pb:
            assert bytes(pb) == msg
    assert stale_refused, "get() handed out a buffer the kernel owned"
    assert sorted(ids) == [0, 1], f"buffer ids after the double release: {ids}"


def test_entries_message_shows_the_value_passed() -> None:
    with pytest.raises(ValueError) as info:
        Ring(2**64)
    assert str(2**64) in str(info.value), str(info.value)


def test_batch_user_data_range_past_u64_is_refused(env: Env) -> None:
    before = snapshot(env)
    with pytest.raises((ValueError, OverflowError)):
        ops.nop_many(env.ring, 2**64 - 2, 4)
    assert snapshot(env) == before
