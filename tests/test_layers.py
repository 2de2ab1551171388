"""The Rust source keeps its layers: the engine has no Python in it and uses
nothing of its clients, and no two modules import each other in a circle."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def _module(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = [p for p in rel.parts if p not in ("mod", "lib")]
    return "::".join(parts) or "crate"


def _edges() -> dict[str, set[str]]:
    mods = {_module(p): p for p in SRC.rglob("*.rs")}
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for target in re.findall(r"crate::([a-z_]+(?:::[a-z_]+)*)", p.read_text()):
            parts = target.split("::")
            # The longest prefix that names a module.
            for n in range(len(parts), 0, -1):
                cand = "::".join(parts[:n])
                if cand in mods and cand != m:
                    # A parent module's `pub mod` lines are not uses.
                    if not m.startswith(cand + "::") and not cand.startswith(m + "::"):
                        edges[m].add(cand)
                    break
    return edges


def test_engine_has_no_python() -> None:
    for p in (SRC / "engine").rglob("*.rs"):
        text = p.read_text()
        assert "pyo3" not in text, f"{p.name} uses pyo3: the engine must stay plain Rust"
        assert "crate::py" not in text, f"{p.name} uses the Python layer"
        assert "crate::event_loop" not in text, f"{p.name} uses the event loop"


def test_every_file_says_what_it_owns() -> None:
    for p in SRC.rglob("*.rs"):
        first = p.read_text().lstrip().splitlines()[0]
        assert first.startswith("//!"), f"{p.relative_to(SRC)} has no opening module comment"


def test_no_import_cycles() -> None:
    edges = _edges()
    assert edges["py::ring"], "the scan found the ring's imports"
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                cycle = [*path[path.index(n) :], n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
