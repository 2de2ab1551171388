"""``uring_rs.Loop``: an asyncio event loop on io_uring.

The native core (``_native.LoopCore``) owns the hot path: the ready queue, the timers,
``call_soon``/``call_later``/``call_at``/``call_soon_threadsafe``, the iteration (one
``io_uring_enter`` that submits everything queued and waits), fd watchers, transports and
socket ops. This module is the cold half: it subclasses ``asyncio.BaseEventLoop``, whose
connection set-up, servers, TLS, executors and exception handling are used unchanged, and
fills in the hooks ``BaseEventLoop`` leaves to a subclass.

Owns: the ``Loop`` class, ``new_event_loop``, ``run``, ``EventLoopPolicy``. May not
touch: the ``Ring`` API (a loop has its own ring).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from uring_rs._native import LoopCore

__all__ = ["EventLoopPolicy", "Loop", "new_event_loop", "run"]

_T = TypeVar("_T")


class Loop(LoopCore, asyncio.BaseEventLoop):  # type: ignore[misc]
    """An asyncio event loop whose waits and I/O go through one io_uring ring."""

    def __init__(self) -> None:
        asyncio.BaseEventLoop.__init__(self)

    def close(self) -> None:
        """Closes the loop as asyncio's does, then cancels and drains the ring's ops."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        self._close_core()

    def _process_events(self, event_list: Any) -> None:  # pragma: no cover - unused
        pass


def new_event_loop() -> Loop:
    """A new ``uring_rs.Loop`` (raises ``UringError`` where io_uring cannot be set up)."""
    return Loop()


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None, **kwargs: Any) -> _T:
    """Runs ``main`` on a new ``Loop`` as ``asyncio.run`` does, and returns its result."""
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=new_event_loop, **kwargs)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
            return runner.run(main)
    # Python 3.9/3.10: asyncio.run with a policy that makes our loops.
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(EventLoopPolicy())
    try:
        return asyncio.run(main, debug=debug)
    finally:
        asyncio.set_event_loop_policy(old)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """An event loop policy whose loops are ``uring_rs.Loop`` (for code that sets policies)."""

    def new_event_loop(self) -> Loop:
        return Loop()
