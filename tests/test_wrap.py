"""Free-running indexes past their wrap, through the real kernel.

The provided-buffer ring's tail is a u16 (the kernel's `struct io_uring_buf_ring`):
recycling more than 65,536 buffers takes it across the wrap. (The SQ and CQ indexes
are u32s the kernel starts at 0; their wrap is covered by tests/ring_index.rs.)
"""

from __future__ import annotations

import socket

from uring_rs import BufferRing, Ring, ops


def test_provided_buffer_ring_tail_wraps_past_u16() -> None:
    a, b = socket.socketpair()
    total = 70_000
    with Ring(8) as ring:
        br = BufferRing(ring, 5, 2, 8)
        armed = False
        for i in range(total):
            if not armed:
                ops.recv_multishot(ring, 1, b, 5)
                ring.submit()
                armed = True
            payload = i.to_bytes(4, "little")
            a.send(payload)
            (cqe,) = ring.copy_cqes(wait_nr=1, max=1)
            assert cqe.res == 4, (i, cqe)
            with br.get(cqe) as pb:
                assert bytes(pb) == payload, i
            armed = cqe.more
        assert br.outstanding == 0
        ops.cancel(ring, 2, 1)
        ring.submit()
        while ring.in_flight:
            ring.copy_cqes(wait_nr=1, timeout=5)
    a.close()
    b.close()
