"""Exception types of uring_rs (plain Python; the Rust core builds them via ``_make``).

They are defined here and re-exported by ``uring_rs``, and their ``__module__`` says
``uring_rs``: tracebacks, ``repr`` and pickles name the module users import them from.
"""

from __future__ import annotations

import enum

__all__ = ["IoUringError", "UringError", "UringValueError"]


class IoUringError(enum.Enum):
    """What went wrong: the ``kind`` of a ``UringError``.

    ``ENTRIES_*`` are bad ``Ring`` sizes; ``SUBMISSION_QUEUE_FULL`` means an op found no
    free SQE (submit, reap, retry); the others name the ``io_uring_setup``,
    ``io_uring_enter`` or ``io_uring_register`` errno they come from (``SYSTEM_OUTDATED``:
    the kernel lacks the syscall or feature; ``SIGNAL_INTERRUPT``: ``enter()`` saw EINTR).
    """

    ENTRIES_ZERO = "ENTRIES_ZERO"
    ENTRIES_NOT_POWER_OF_TWO = "ENTRIES_NOT_POWER_OF_TWO"
    ENTRIES_TOO_LARGE = "ENTRIES_TOO_LARGE"
    PARAMS_OUTSIDE_ACCESSIBLE_ADDRESS_SPACE = "PARAMS_OUTSIDE_ACCESSIBLE_ADDRESS_SPACE"
    ARGUMENTS_INVALID = "ARGUMENTS_INVALID"
    PROCESS_FD_QUOTA_EXCEEDED = "PROCESS_FD_QUOTA_EXCEEDED"
    SYSTEM_FD_QUOTA_EXCEEDED = "SYSTEM_FD_QUOTA_EXCEEDED"
    SYSTEM_RESOURCES = "SYSTEM_RESOURCES"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    SYSTEM_OUTDATED = "SYSTEM_OUTDATED"
    SUBMISSION_QUEUE_FULL = "SUBMISSION_QUEUE_FULL"
    FILE_DESCRIPTOR_INVALID = "FILE_DESCRIPTOR_INVALID"
    COMPLETION_QUEUE_OVERCOMMITTED = "COMPLETION_QUEUE_OVERCOMMITTED"
    SUBMISSION_QUEUE_ENTRY_INVALID = "SUBMISSION_QUEUE_ENTRY_INVALID"
    BUFFER_INVALID = "BUFFER_INVALID"
    RING_SHUTTING_DOWN = "RING_SHUTTING_DOWN"
    OPCODE_NOT_SUPPORTED = "OPCODE_NOT_SUPPORTED"
    SIGNAL_INTERRUPT = "SIGNAL_INTERRUPT"
    UNEXPECTED = "UNEXPECTED"


class UringError(OSError):
    """An io_uring failure, an ``OSError``.

    ``kind`` (an ``IoUringError``) says what went wrong; ``errno`` is set when a syscall's
    errno lies under it, and ``strerror`` holds the message.
    """

    kind: IoUringError

    def __init__(self, kind: IoUringError, errno: int | None, message: str) -> None:
        if errno is None:
            super().__init__(message)
        else:
            super().__init__(errno, message)
        self.kind = kind

    def __reduce__(self) -> tuple[type[UringError], tuple[IoUringError, int | None, str]]:
        return (type(self), (self.kind, self.errno, self.strerror or str(self.args[0])))


class UringValueError(UringError, ValueError):
    """A ``UringError`` that is also a ``ValueError``: a bad ``entries`` for ``Ring``."""


_VALUE_KINDS = frozenset(
    {
        IoUringError.ENTRIES_ZERO,
        IoUringError.ENTRIES_NOT_POWER_OF_TWO,
        IoUringError.ENTRIES_TOO_LARGE,
    }
)


for _cls in (IoUringError, UringError, UringValueError):
    _cls.__module__ = "uring_rs"
del _cls


def _make(kind_name: str, errno: int | None, message: str) -> UringError:
    kind = IoUringError[kind_name]
    cls = UringValueError if kind in _VALUE_KINDS else UringError
    return cls(kind, errno, message)
