"""MkDocs hooks: the constants page is generated from the type stub, so it cannot drift."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

STUB = Path(__file__).resolve().parent.parent / "python" / "uring_rs" / "_native.pyi"
MARKER = "<!-- constants -->"

# (prefix, title, where the kernel documents it); the first matching prefix wins.
GROUPS = [
    ("IORING_SETUP_", "Ring setup flags (`Ring(flags=...)`)", "io_uring_setup(2)"),
    ("IORING_SQ_", "SQ ring flags (`Ring.sq_flags()`)", "io_uring_setup(2)"),
    ("IORING_CQ_", "CQ ring flags", "io_uring_register(2)"),
    ("IORING_ENTER_", "`Ring.enter()` flags", "io_uring_enter(2)"),
    ("IORING_FEAT_", "Features (`Ring.features`)", "io_uring_setup(2)"),
    ("IOSQE_", "SQE flags (`Sqe.flags`)", "io_uring_enter(2)"),
    ("IORING_CQE_", "CQE flags (`Cqe.flags`)", "io_uring_enter(2)"),
    ("IORING_NOTIF_", "Zero-copy notification bits", "io_uring_prep_send_zc(3)"),
    ("IORING_TIMEOUT_", "Timeout flags", "io_uring_prep_timeout(3)"),
    ("IORING_LINK_TIMEOUT_", "Timeout flags", "io_uring_prep_timeout_update(3)"),
    ("IORING_POLL_", "Poll flags", "io_uring_prep_poll_add(3)"),
    ("IORING_ASYNC_CANCEL_", "Cancel flags", "io_uring_prep_cancel(3)"),
    ("IORING_FSYNC_", "fsync flags", "io_uring_prep_fsync(3)"),
    ("IORING_RECV", "send/recv flags", "io_uring_prep_recv(3)"),
    ("IORING_SEND_", "send/recv flags", "io_uring_prep_send_zc(3)"),
    ("IORING_ACCEPT_", "accept flags", "io_uring_prep_accept(3)"),
    ("IORING_OP_", "Opcodes (`Probe.supports`, `Sqe.opcode`)", "io_uring_enter(2)"),
    ("IORING_REGISTER_", "Register opcodes", "io_uring_register(2)"),
    ("IORING_UNREGISTER_", "Register opcodes", "io_uring_register(2)"),
    ("AT_", "`*at` flags (`AT_FDCWD` for `dirfd`)", "openat(2), statx(2)"),
    ("STATX_ATTR_", "`Statx.attributes` bits", "statx(2)"),
    ("STATX_", "`Statx` mask bits (`ops.statx(mask=...)`)", "statx(2)"),
    ("RENAME_", "`ops.renameat` flags", "rename(2)"),
    ("RESOLVE_", "`ops.openat2` resolve flags", "openat2(2)"),
    ("FALLOC_FL_", "`ops.fallocate` modes", "fallocate(2)"),
    ("SYNC_FILE_RANGE_", "`ops.sync_file_range` flags", "sync_file_range(2)"),
    ("SPLICE_F_", "`ops.splice` / `ops.tee` flags", "splice(2)"),
    ("FUTEX", "Futex flags (`ops.futex_wait`, `ops.futex_wake`)", "futex_waitv(2)"),
]


def constant_names() -> list[str]:
    tree = ast.parse(STUB.read_text())
    return [
        node.target.id
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id.isupper()
    ]


def _values() -> dict[str, int]:
    # Values when the package is built and importable; names alone otherwise.
    try:
        import uring_rs._native as native
    except ImportError:
        return {}
    return {n: v for n, v in vars(native).items() if isinstance(v, int)}


def constants_markdown() -> str:
    values = _values()
    sections: dict[str, tuple[str, list[str]]] = {}
    for name in constant_names():
        for prefix, title, man in GROUPS:
            if name.startswith(prefix):
                sections.setdefault(title, (man, []))[1].append(name)
                break
        else:
            sections.setdefault("Other", ("", []))[1].append(name)
    out = []
    for title, (man, names) in sections.items():
        out.append(f"## {title}\n")
        if man:
            out.append(f"The kernel's names; see {man}.\n")
        out.append("| name | value |\n|---|---:|")
        for n in names:
            v = values.get(n)
            shown = "" if v is None else (f"`{v:#x}`" if v > 255 else f"`{v}`")
            out.append(f"| `{n}` | {shown} |")
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fills the constants page's marker with the tables."""
    if MARKER in markdown:
        return markdown.replace(MARKER, constants_markdown())
    return markdown
