"""The documentation: the site builds with ``mkdocs build --strict``, every Python example
in it runs, and it uses no word a user cannot place."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import uring_rs
from _support import REPO

DOCS = REPO / "docs"
# A developer's design note, excluded from the site (mkdocs.yml's exclude_docs).
NOT_USER_DOCS = {DOCS / "loop-design.md"}
USER_PAGES = sorted(p for p in DOCS.rglob("*.md") if p not in NOT_USER_DOCS)
MKDOCS_MISSING = [
    m
    for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
    if importlib.util.find_spec(m.split(".")[0]) is None
]


@pytest.mark.skipif(
    bool(MKDOCS_MISSING),
    reason=f"{', '.join(MKDOCS_MISSING)} not installed (pip install '.[docs]')",
)
def test_the_site_builds_with_mkdocs_strict(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The reference really was generated from the stub, and the plots are there.
    ring = (tmp_path / "reference" / "ring" / "index.html").read_text()
    assert "copy_cqes_into" in ring and "submission queue" in ring
    ops = (tmp_path / "reference" / "ops" / "index.html").read_text()
    assert "read_many" in ops and "Queues" in ops
    constants = (tmp_path / "reference" / "constants" / "index.html").read_text()
    assert "IORING_OP_READ" in constants and "IOSQE_IO_LINK" in constants
    assert (tmp_path / "bench" / "suite.png").stat().st_size > 10_000
    assert (tmp_path / "bench" / "files.png").stat().st_size > 10_000


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """The ```python fences of a page, with their first line number."""
    blocks = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            end = start
            while lines[end].strip() != "```":
                end += 1
            blocks.append((start + 1, "\n".join(lines[start:end]) + "\n"))
            i = end
        i += 1
    return blocks


# The contract's blocks are signatures and sketches (``data.bin``, the planned Loop), not
# programs; every other page's examples are complete programs.
EXAMPLES = [
    pytest.param(page, line, code, id=f"{page.relative_to(DOCS)}:{line}")
    for page in USER_PAGES
    if page != DOCS / "api.md"
    for line, code in python_blocks(page)
]


def test_the_pages_have_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize(("page", "line", "code"), EXAMPLES)
def test_every_python_example_in_the_docs_runs(
    page: Path, line: int, code: str, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, f"{page}:{line}\n{proc.stdout}{proc.stderr}"


# Words from the project's history that a user cannot place.
HISTORY_WORDS = re.compile(r"\bseed('s)?\b|\bin their issue\b", re.IGNORECASE)


def user_facing_texts() -> list[Path]:
    package = Path(uring_rs.__file__).parent
    return [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        REPO / "BENCHMARKS.md",
        REPO / "RELIABILITY.md",
        *USER_PAGES,
        *sorted(package.rglob("*.py")),
        *sorted(package.rglob("*.pyi")),
    ]


def test_no_user_facing_text_speaks_of_the_projects_history() -> None:
    hits = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in user_facing_texts()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if HISTORY_WORDS.search(line)
    ]
    assert hits == []


def test_no_runtime_docstring_speaks_of_the_projects_history() -> None:
    native = uring_rs._native
    hits = []
    for name, obj in vars(native).items():
        docs = [(name, getattr(obj, "__doc__", None))]
        if inspect.isclass(obj):
            docs += [(f"{name}.{m}", getattr(v, "__doc__", None)) for m, v in vars(obj).items()]
        hits += [n for n, d in docs if isinstance(d, str) and HISTORY_WORDS.search(d)]
    assert hits == []


def test_the_readme_links_only_to_files_in_the_repository() -> None:
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "no links found"
    missing = [t for t in local if not (REPO / t).exists()]
    assert missing == []
    assert "../" not in "".join(local)
