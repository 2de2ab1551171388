"""io_uring operations. Each function queues one SQE without submitting it and returns its ``Sqe``.

The ring keeps every object an op needs (buffers, paths, addresses, timespecs) alive until the
op's final completion has been consumed.
"""

from uring_rs._native import (
    accept,
    cancel,
    cancel_fd,
    close,
    connect,
    fsync,
    link_timeout,
    nop,
    openat,
    poll_add,
    poll_remove,
    read,
    recv,
    send,
    timeout,
    timeout_remove,
    write,
)

__all__ = [
    "accept",
    "cancel",
    "cancel_fd",
    "close",
    "connect",
    "fsync",
    "link_timeout",
    "nop",
    "openat",
    "poll_add",
    "poll_remove",
    "read",
    "recv",
    "send",
    "timeout",
    "timeout_remove",
    "write",
]
